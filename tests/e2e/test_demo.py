"""`hyperlaw demo --quick` in an empty folder, as a new user runs it: a real subprocess that trains
27 proxies on `pystdlib` with the local pool, fits the loss and LR laws, predicts for a model 10x
the largest proxy and writes the HTML report (hyperlaw issue 12: under 3 minutes on 2 cores)."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

LIMIT_S = 180


def test_quick_demo_trains_fits_predicts_and_writes_the_report(tmp_path):
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "demo", "--quick", "--dir", "work"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=LIMIT_S + 60,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("HYPERLAW_")}, "COLUMNS": "80"},
    )
    elapsed = time.monotonic() - started
    out = result.stdout
    assert result.returncode == 0, result.stderr + out
    assert elapsed < LIMIT_S, f"the quick demo took {elapsed:.0f} s:\n{out}"

    # Every run trained, on the embedded default: a SQLite file in the working folder.
    database = (tmp_path / "work" / "hyperlaw.db").resolve()
    with sqlite3.connect(database) as connection:
        statuses = dict(connection.execute("select status, count(*) from runs group by status").fetchall())
        laws = dict(connection.execute("select law, status from fits").fetchall())
    assert statuses == {"done": 27}, statuses
    assert set(laws.values()) == {"done"} and "lr_opt" in laws and len(laws) == 2, laws
    assert "trained 27 of 27 runs" in out

    # The prediction for 10x the largest proxy, with the prediction and the parameter interval.
    number = r"[-+0-9.e]+"
    prediction = re.search(
        rf"loss \(95% prediction interval\)\s*│\s*({number})\s*│\s*({number}) \.\. ({number}|unbounded)", out
    )
    parameter = re.search(
        rf"loss \(95% parameter interval\)\s*│\s*({number})\s*│\s*({number}) \.\. ({number})", out
    )
    assert prediction and parameter, out
    value, lo, hi = (float(g) for g in parameter.groups())
    assert lo <= value <= hi and 0 < value < 5.6  # below the uniform byte model's log(256)
    assert float(prediction.group(1)) == value and float(prediction.group(2)) <= lo
    assert "learning rate (optimal)" in out

    # The report: one self-contained HTML file with the plots inside it.
    report = (tmp_path / "work" / "demo-quick-report.html").resolve()
    assert f"report: {report}" in out.replace("\n", "")
    html = report.read_text()
    assert html.count('<img src="data:image/png;base64,') >= 4
    assert 'src="http' not in html  # nothing loaded from the network
    assert f"hyperlaw serve --database-url sqlite:///{database}" in out
    assert "http://127.0.0.1:8000/studies/1" in out
    tables = [line for line in out.splitlines() if line[:1] in "┏┃┡│└"]
    assert tables and max(len(line) for line in tables) <= 80  # readable in an 80-column terminal
