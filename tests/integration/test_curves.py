"""Curve points on real SQLite and PostgreSQL: batched upserts, so a retried or resumed
write never duplicates or drops a point; and GET /v1/runs/{id}/curve over real HTTP: step
ranges, pages chained by next_step, downsampling (max_points) and streamed CSV."""

from __future__ import annotations

import pytest

from app import curves
from app.settings import Settings
from tests.integration.helpers import make_study, queue_runs
from tests.integration.server import ServerThread


def _points(steps, loss=3.0):
    return [
        {
            "step": s,
            "tokens": 256.0 * s,
            "train_loss": loss - s * 1e-3,
            "eval_loss": None,
            "lr": 1e-3,
            "noise_scale": None,
            "wall_time": 0.01 * s,
        }
        for s in steps
    ]


def test_retried_overlapping_batches_neither_duplicate_nor_drop(database):
    [run_id] = queue_runs(database, make_study(database), 1)
    with database.transaction() as session:
        curves.write_points(session=session, run_id=run_id, points=_points(range(0, 100)))
    # The worker resumed from a checkpoint at step 50 and writes 50..149 again.
    with database.transaction() as session:
        curves.write_points(session=session, run_id=run_id, points=_points(range(50, 150), loss=2.0))
    with database.transaction() as session:
        points = curves.get_curve(session=session, run_id=run_id)
    assert [p.step for p in points] == list(range(150))
    assert points[49].train_loss == pytest.approx(3.0 - 0.049)
    assert points[50].train_loss == pytest.approx(2.0 - 0.050)  # the later write wins


def test_a_rolled_back_batch_is_rewritten_whole(database):
    [run_id] = queue_runs(database, make_study(database), 1)
    with pytest.raises(RuntimeError), database.transaction() as session:
        curves.write_points(session=session, run_id=run_id, points=_points(range(10)))
        raise RuntimeError("connection lost mid-commit")
    with database.transaction() as session:
        assert curves.count_points(session=session, run_ids=[run_id]) == 0
    for _ in range(2):  # the retry, twice
        with database.transaction() as session:
            curves.write_points(session=session, run_id=run_id, points=_points(range(10)))
    with database.transaction() as session:
        assert curves.count_points(session=session, run_ids=[run_id]) == 10


def test_duplicate_steps_in_one_batch_and_large_batches(database):
    [run_id] = queue_runs(database, make_study(database), 1)
    batch = _points(range(5000)) + _points([7], loss=9.0)
    with database.transaction() as session:
        assert curves.write_points(session=session, run_id=run_id, points=batch) == 5000
    with database.transaction() as session:
        assert curves.count_points(session=session, run_ids=[run_id]) == 5000
        assert curves.last_point(session=session, run_id=run_id).step == 4999
        assert curves.get_curve(session=session, run_id=run_id)[7].train_loss == pytest.approx(9.0 - 0.007)


# ------------------------------------------------------------------ serving: range, pages, downsampling


@pytest.fixture(scope="module")
def server(db_url, tmp_path_factory):
    settings = Settings(
        database_url=db_url, curve_page_points=500, checkpoint_dir=tmp_path_factory.mktemp("checkpoints")
    )
    with ServerThread(settings) as running:
        yield running


def _long_run(database, steps) -> int:
    """A run whose train loss falls as 3 + 10/(step + 1), with a spike to 9.0 at step 777 and its
    lowest loss (1.0) at step 1234, and an eval loss every 100 steps."""
    [run_id] = queue_runs(database, make_study(database), 1)
    points = _points(steps)
    for p in points:
        p["train_loss"] = 3.0 + 10.0 / (p["step"] + 1)
        p["eval_loss"] = p["train_loss"] + 0.1 if p["step"] % 100 == 0 else None
        if p["step"] == 777:
            p["train_loss"] = 9.0
        if p["step"] == 1234:
            p["train_loss"] = 1.0
    with database.transaction() as session:
        curves.write_points(session=session, run_id=run_id, points=points)
    return run_id


def test_a_step_range_and_pages_that_chain_by_next_step(api, database):
    run_id = _long_run(database, range(0, 3000, 2))  # 1500 points, steps 0, 2, ..., 2998
    page = api.get(f"/v1/runs/{run_id}/curve", params={"from_step": 101, "to_step": 121}).json()
    assert [p["step"] for p in page["points"]] == list(range(102, 121, 2)) and page["next_step"] is None
    # No limit: one page of curve_page_points (500) points, and the cursor to the next one.
    seen, params = [], {}
    while True:
        body = api.get(f"/v1/runs/{run_id}/curve", params=params).json()
        assert len(body["points"]) <= 500
        seen += [p["step"] for p in body["points"]]
        if body["next_step"] is None:
            break
        params = {"from_step": body["next_step"]}
    assert seen == list(range(0, 3000, 2))  # every point once, in order
    response = api.get(f"/v1/runs/{run_id}/curve", params={"limit": 7, "from_step": 10})
    small = response.json()
    assert [p["step"] for p in small["points"]] == list(range(10, 24, 2)) and small["next_step"] == 24
    assert response.headers["x-next-step"] == "24"
    too_many = api.get(f"/v1/runs/{run_id}/curve", params={"limit": 501})
    assert too_many.status_code == 422 and "HYPERLAW_CURVE_PAGE_POINTS" in too_many.text
    backwards = api.get(f"/v1/runs/{run_id}/curve", params={"from_step": 10, "to_step": 9})
    assert backwards.status_code == 422 and "to_step" in backwards.text
    assert api.get(f"/v1/runs/{run_id}/curve", params={"from_step": 2**63}).status_code == 422


def test_downsampling_keeps_the_tail_the_minimum_and_the_spikes(api, database):
    run_id = _long_run(database, range(5000))
    body = api.get(f"/v1/runs/{run_id}/curve", params={"max_points": 200}).json()
    steps = [p["step"] for p in body["points"]]
    assert body["downsampled_from"] == 5000 and body["next_step"] is None
    assert len(steps) <= 200 and steps == sorted(set(steps))
    assert steps[-20:] == list(range(4980, 5000))  # the last tenth of max_points: every point
    assert 1234 in steps and 777 in steps  # the lowest loss, and a spike
    assert 0 in steps  # the highest loss of the first span
    evals = [p for p in body["points"] if p["eval_loss"] is not None]
    lowest_eval = min(3.0 + 10.0 / (s + 1) + 0.1 for s in range(0, 5000, 100))
    assert min(p["eval_loss"] for p in evals) == pytest.approx(lowest_eval)  # the lowest eval loss
    # Spans cover the steps evenly: no gap between kept points before the tail is wider than 2 spans.
    spans = (200 - 20 - 2) // 2
    assert max(b - a for a, b in zip(steps, steps[1:], strict=False)) <= 2 * 4980 / spans + 1
    ranged = api.get(
        f"/v1/runs/{run_id}/curve", params={"max_points": 50, "from_step": 1000, "to_step": 1999}
    )
    ranged_steps = [p["step"] for p in ranged.json()["points"]]
    assert ranged.json()["downsampled_from"] == 1000 and len(ranged_steps) <= 50
    assert ranged_steps[0] >= 1000 and ranged_steps[-5:] == list(range(1995, 2000)) and 1234 in ranged_steps
    few = api.get(f"/v1/runs/{run_id}/curve", params={"max_points": 2000, "from_step": 4900}).json()
    assert len(few["points"]) == 100 and few["downsampled_from"] is None  # fewer than asked: all
    assert api.get(f"/v1/runs/{run_id}/curve", params={"max_points": 3}).status_code == 422
    as_csv = api.get(f"/v1/runs/{run_id}/curve", params={"max_points": 200, "format": "csv"})
    assert [int(line.split(",")[0]) for line in as_csv.text.strip().split("\n")[1:]] == steps


def test_csv_streams_every_point_or_a_page(api, database):
    run_id = _long_run(database, range(1200))
    whole = api.get(f"/v1/runs/{run_id}/curve", headers={"Accept": "text/csv"})
    lines = whole.text.strip().split("\n")
    assert lines[0] == ",".join(curves.COLUMNS) and len(lines) == 1201  # past one JSON page: all, streamed
    assert "x-next-step" not in whole.headers
    page = api.get(f"/v1/runs/{run_id}/curve", params={"format": "csv", "limit": 300, "from_step": 100})
    rows = page.text.strip().split("\n")[1:]
    assert int(rows[0].split(",")[0]) == 100 and len(rows) == 300 and page.headers["x-next-step"] == "400"


def test_non_finite_losses_are_served_as_null(api, database):
    [run_id] = queue_runs(database, make_study(database), 1)
    points = _points(range(3))
    points[1]["train_loss"] = float("nan")
    points[2]["train_loss"] = float("inf")
    with database.transaction() as session:
        curves.write_points(session=session, run_id=run_id, points=points)
    response = api.get(f"/v1/runs/{run_id}/curve")
    assert response.status_code == 200
    assert [p["train_loss"] for p in response.json()["points"]] == [3.0, None, None]


def test_runs_of_a_missing_study_are_404_and_pages_cover_every_run(api, database):
    assert api.get("/v1/runs", params={"study": 999}).status_code == 404
    assert api.get("/v1/runs", params={"offset": 2**63}).status_code == 422
    study = make_study(database)
    made = queue_runs(database, study, 23)
    other = queue_runs(database, make_study(database, name="other"), 3)
    seen = []
    for offset in range(0, 30, 10):
        body = api.get("/v1/runs", params={"study": study, "limit": 10, "offset": offset}).json()
        assert body["total"] == 23
        seen += [r["id"] for r in body["items"]]
    assert seen == made and not set(other) & set(seen)
