"""`hyperlaw predict` refuses bad input with one line and exit code 2: a non-positive size, an
unknown study in an empty database, a server or a database that cannot be reached."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from app.cli import cli


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path):
    from app.db import upgrade

    url = f"sqlite:///{tmp_path / 'h.db'}"
    upgrade(url)
    runner = CliRunner()
    base = ["predict", "--study", "s", "--tokens", "2e10"]
    negative = runner.invoke(cli, [*base, "--n-params", "-1", "--database-url", url])
    assert negative.exit_code == 2 and "--n-params must be a positive number" in negative.output
    unknown = runner.invoke(cli, [*base, "--n-params", "1e9", "--database-url", url])
    assert unknown.exit_code == 2 and unknown.output.strip() == "error: study 's' does not exist"
    down = runner.invoke(cli, [*base, "--n-params", "1e9", "--url", "http://127.0.0.1:9"])
    assert down.exit_code == 2 and down.output.startswith("error: cannot reach http://127.0.0.1:9")
    assert len(down.output.strip().splitlines()) == 1
    unreachable = runner.invoke(
        cli, [*base, "--n-params", "1e9", "--database-url", "sqlite:////nonexistent/h.db"]
    )
    assert unreachable.exit_code == 2
    assert (
        unreachable.output.strip()
        == "error: cannot read the database sqlite:////nonexistent/h.db: unable to open database file"
    )


def test_a_bad_batch_or_optimizer_is_one_line_and_exit_2(tmp_path: Path):
    runner = CliRunner()
    base = ["predict", "--study", "s", "--tokens", "2e10", "--n-params", "1e9"]
    url = f"sqlite:///{tmp_path / 'never.db'}"
    negative = runner.invoke(cli, [*base, "--batch", "-4", "--database-url", url])
    assert (
        negative.exit_code == 2
        and negative.output.strip() == "error: --batch must be a positive number, got -4"
    )
    unknown = runner.invoke(cli, [*base, "--batch", "4e5", "--optimizer", "rmsprop", "--database-url", url])
    assert unknown.exit_code == 2
    assert unknown.output.strip() == "error: --optimizer 'rmsprop' is unknown: use adam or sgd"


def test_the_cli_names_the_transfer_rules_fitting_has():
    """--optimizer's choices are written out in app/cli/options.py (so --help imports no numerics):
    they must be fitting.transfer's rules, and anything else is a one-line error."""
    from app.cli.options import OPTIMIZERS, unknown_optimizer
    from fitting.transfer import RULES

    assert OPTIMIZERS == tuple(RULES)
    assert all(unknown_optimizer(name) is None for name in RULES)
    assert unknown_optimizer("lion") == "--optimizer 'lion' is unknown: use adam or sgd"
