"""A small run of the chaos bench (bench/chaos.py): a real `hyperlaw worker` SIGKILLed with its run
processes at random moments mid-training and restarted; the run completes with every logged step
stored exactly once and the final losses of an uninterrupted run."""

from __future__ import annotations

import re

import pytest

from bench import chaos


@pytest.mark.slow
def test_a_worker_killed_three_times_loses_and_repeats_nothing(tmp_path, capsys):
    code = chaos.main(
        [
            "--kills",
            "3",
            "--runs",
            "1",
            "--steps",
            "1500",
            "--max-delay",
            "1",
            "--no-fit",
            "--folder",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out
    print(out)
    assert "3/3 recovered, 0 points lost, 0 duplicated" in out
    done = re.search(r"run \d+: done after (\d+) attempts, 1500 steps stored", out)
    assert done and int(done.group(1)) >= 4  # each kill ended an attempt, and the run went on
    difference = float(re.search(r"largest final-loss difference (\S+)", out).group(1))
    assert difference <= 1e-6
    assert code == 0
