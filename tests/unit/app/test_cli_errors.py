"""The command line's promise: a mistake is one line on stderr and exit code 2, never a traceback.
A database URL of an unknown kind (predict, token, serve, worker, db), a database not migrated yet,
a token prefix that does not exist, a curve file in a missing folder, a model too large for the
machine, a binary file given as the CSV of `fit` (named, with the fix)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli


def _one_line_error(args: list[str]) -> str:
    """Run the CLI; assert exit code 2 and a single `error:` line with no traceback; return it."""
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, (result.output, result.exception)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize(
    "command",
    [
        ["predict", "--study", "s", "--n-params", "1e9", "--tokens", "2e10"],
        ["token", "create"],
        ["token", "list"],
        ["token", "revoke", "abc"],
        ["serve"],
        ["worker"],
        ["db", "upgrade"],
        ["db", "current"],
    ],
)
def test_a_database_url_of_an_unknown_kind(command: list[str]):
    line = _one_line_error([*command, "--database-url", "foo://bar"])
    assert "database_url 'foo://bar' is neither SQLite nor PostgreSQL" in line
    assert "sqlite:///path" in line


def test_tokens_on_an_unmigrated_database_and_an_unknown_prefix(tmp_path: Path):
    from app.db import upgrade

    url = f"sqlite:///{tmp_path / 'h.db'}"
    line = _one_line_error(["token", "revoke", "nosuch", "--database-url", url])
    assert "no such table" in line and "hyperlaw db upgrade" in line
    upgrade(url)
    line = _one_line_error(["token", "revoke", "nosuch", "--database-url", url])
    assert line == "error: no token has the prefix 'nosuch': `hyperlaw token list` shows the prefixes"


def test_serve_with_a_database_it_cannot_reach(tmp_path: Path):
    line = _one_line_error(["serve", "--database-url", f"sqlite:///{tmp_path}/missing/dir/h.db"])
    assert "unable to open database file" in line


def test_train_refuses_before_training(tmp_path: Path):
    base = ["train", "--tokens", "4096", "--batch-tokens", "256", "--lr", "1e-3", "--seq-len", "32"]
    out = tmp_path / "nonexistent" / "c.csv"
    line = _one_line_error([*base, "--params", "1e5", "--data", "synthetic:markov", "--out", str(out)])
    assert f"cannot write the curve to {out}" in line and "create its folder" in line
    # 1e12 parameters need terabytes of weights, gradients and AdamW moments: refused at once.
    line = _one_line_error([*base, "--params", "1e12", "--device", "cpu"])
    assert "GB to train" in line and "smaller --params" in line


def test_fit_of_a_binary_file_names_the_file_and_the_fix(tmp_path: Path):
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    line = _one_line_error(["fit", "--csv", str(binary)])
    assert str(binary) in line and "not a UTF-8 text file" in line and "N,D,loss" in line
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"N,D,loss\x00\n1e8,2e9,3.1\n")
    line = _one_line_error(["fit", "--csv", str(nul)])
    assert str(nul) in line and "NUL" in line
