"""`hyperlaw plan` on a real database: JSON with the API's keys, a rich table without --json,
--submit queues the runs once per idempotency key, and bad input is one line with exit code 2."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from app import runs
from app.cli import cli
from tests.integration.helpers import make_study

PLAN = ["plan", "--study", "tiny", "--budget-flops", "1e15", "--n-params", "1e8", "--tokens", "2e9"]


def invoke(db_url: str, *args: str):
    return CliRunner().invoke(cli, [*PLAN, "--database-url", db_url, *args])


def test_plan_json_table_submit_and_errors(database, db_url):
    study_id = make_study(database, "tiny", defaults={"seq_len": 64, "data": "synthetic:markov"})

    result = invoke(db_url, "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["total"]["runs"] == 65 and plan["total"]["flops"] <= 1e15
    assert plan["parts"]["isoflop"]["runs"] == 20 and plan["parts"]["hparams"]["runs"] == 45
    assert plan["extrapolation"] > 1e4 and plan["ids"] is None
    assert plan["isoflop"][0]["runs"][0]["spec"]["seq_len"] == 64  # the study's defaults

    table = invoke(db_url)
    assert table.exit_code == 0, table.output
    for heading in ("IsoFLOP design (loss law)", "LR × batch grids", "share of budget", "speculative"):
        assert heading in table.stdout

    with database.transaction() as session:
        assert runs.list_runs(session=session, study_id=study_id)[1] == 0  # planning alone writes nothing
    first = invoke(db_url, "--json", "--submit", "--idempotency-key", "k")
    again = invoke(db_url, "--json", "--submit", "--idempotency-key", "k")
    assert first.exit_code == again.exit_code == 0, first.output
    first_plan, again_plan = json.loads(first.stdout), json.loads(again.stdout)
    assert len(first_plan["ids"]) == 65 and again_plan["ids"] == first_plan["ids"]
    assert (first_plan["created"], again_plan["created"]) == (True, False)
    with database.transaction() as session:
        queued, total = runs.list_runs(session=session, study_id=study_id, status="queued", limit=1000)
    assert total == 65
    assert sum(r.flops for r in queued) == first_plan["total"]["flops"]

    small = CliRunner().invoke(cli, [*PLAN[:4], "1e9", *PLAN[5:], "--database-url", db_url])
    assert small.exit_code == 2
    assert (
        small.stderr.startswith("error: a budget of 1e+09 FLOPs is too small")
        and small.stderr.count("\n") == 1
    )
    assert "the smallest budget that works is 1.4e+13 FLOPs" in small.stderr
    missing = CliRunner().invoke(cli, ["plan", "--study", "nope", *PLAN[3:], "--database-url", db_url])
    assert missing.exit_code == 2 and missing.stderr == "error: study 'nope' does not exist\n"
