"""`hyperlaw train`: bad specs give a one-line error on stderr and exit code 2 (no traceback); a
tiny run writes the CSV curve and the JSON result; the CLI module does not import torch."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from app.cli import cli

TINY = {
    "--n-layer": "1",
    "--d-model": "32",
    "--n-head": "2",
    "--seq-len": "32",
    "--lr": "1e-2",
    "--data": "synthetic:markov-16-3",
    "--device": "cpu",
    "--tokens": "2e4",
    "--batch-tokens": "512",
}


def args(**changes: str | None) -> list[str]:
    """`train` with the tiny options, each change given as --option-name=value (None drops it)."""
    options = dict(TINY)
    for key, value in changes.items():
        options["--" + key.replace("_", "-")] = value
    return ["train", *(x for k, v in options.items() if v is not None for x in (k, v))]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (args(d_model="33"), "d_model (33) is not divisible by n_head (2)"),
        (args(tokens="100"), "tokens (100) is less than one batch (512 tokens)"),
        (args(data="imagenet"), "unknown data source 'imagenet'"),
        (args(data="text:/no/such.txt"), "does not exist"),
        (args(tokens="2.5"), "tokens (2.5) must be a whole number"),
        (args(params="1e6"), "either --params or --n-layer"),
        (args(n_head=None), "give --params, or all of --n-layer, --d-model and --n-head"),
        (args(resume=None) + ["--resume"], "--resume needs --checkpoint-dir"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, message):
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_tiny_run_writes_curve_and_json(tmp_path):
    out = tmp_path / "curve.csv"
    result = CliRunner().invoke(cli, [*args(tokens="8192"), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "done" and summary["steps"] == 16 and summary["tokens"] == 8192
    assert summary["spec"]["d_model"] == 32
    rows = list(csv.DictReader(out.open()))
    assert [int(r["step"]) for r in rows] == list(range(1, 17))
    assert float(rows[-1]["eval_loss"]) == pytest.approx(summary["final_eval_loss"])
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])


def test_params_picks_the_shape(tmp_path):
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--params",
            "5e4",
            "--seq-len",
            "32",
            "--tokens",
            "1024",
            "--batch-tokens",
            "512",
            "--lr",
            "1e-3",
            "--data",
            "synthetic:markov",
            "--device",
            "cpu",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    spec = json.loads(result.stdout)["spec"]
    assert (spec["n_layer"], spec["d_model"], spec["n_head"]) == (1, 64, 1)


def test_cli_module_does_not_import_torch():
    code = "import sys; import app.cli.train; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
