"""The parametrization on the command line: `hyperlaw train --parametrization mup --base-d-model N`
trains a μP run whose spec says so, and bad values of either flag (for train and for `study
create`) are one line on stderr with exit code 2, naming the flag and the fix."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from app.cli import cli

TRAIN = ["train", "--tokens", "2048", "--batch-tokens", "256", "--lr", "1e-3", "--seq-len", "32"]
SHAPE = [
    "--n-layer",
    "1",
    "--d-model",
    "32",
    "--n-head",
    "2",
    "--data",
    "synthetic:markov",
    "--device",
    "cpu",
]


def _one_line_error(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--parametrization", "ntk"], "--parametrization 'ntk' is unknown: use sp or mup"),
        (["--base-d-model", "16"], "--base-d-model applies to --parametrization mup only"),
        (
            ["--parametrization", "mup", "--base-d-model", "1"],
            "base_d_model (1) must be an integer of at least n_head (2)",
        ),
        (["--output-multiplier", "0"], "output_multiplier (0.0) must be a positive finite number"),
        (["--output-multiplier", "nan"], "output_multiplier (nan) must be a positive finite number"),
    ],
)
def test_train_refuses_a_bad_parametrization_in_one_line(flags, expected):
    assert expected in _one_line_error([*TRAIN, *SHAPE, *flags])


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--parametrization", "ntk"], "--parametrization 'ntk' is unknown: use sp or mup"),
        (["--base-d-model", "32"], "--base-d-model applies to mup studies only"),
        (["--parametrization", "mup", "--base-d-model", "0"], "--base-d-model (0) must be a positive width"),
    ],
)
def test_study_create_refuses_a_bad_parametrization_in_one_line(flags, expected, tmp_path):
    args = ["study", "create", "s", "--database-url", f"sqlite:///{tmp_path}/h.db", *flags]
    assert expected in _one_line_error(args)


def test_train_passes_the_parametrization_to_the_run_spec():
    result = CliRunner().invoke(
        cli,
        [
            *TRAIN,
            *SHAPE,
            "--parametrization",
            "mup",
            "--base-d-model",
            "16",
            "--output-multiplier",
            "4",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["status"] == "done"
    assert (summary["spec"]["parametrization"], summary["spec"]["base_d_model"]) == ("mup", 16)
    assert summary["spec"]["output_multiplier"] == 4.0
    assert summary["spec"]["d_model"] == 32


def test_train_passes_qk_norm_to_the_run_spec():
    result = CliRunner().invoke(cli, [*TRAIN, *SHAPE, "--qk-norm", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["status"] == "done" and summary["spec"]["qk_norm"] is True
