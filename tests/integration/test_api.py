"""The REST API over real HTTP (uvicorn on a free port, httpx) on SQLite and PostgreSQL:
the documented shapes, auth (401/403), validation (422 naming the field), 404, 409,
idempotent submissions, the sweep cap, CSV/JSON import of the published data, fits,
predictions with intervals, health, metrics, and 503 when the database is down."""

from __future__ import annotations

import time

import httpx
import pytest

from app import curves
from app.settings import Settings
from tests.conftest import CHINCHILLA_CSV as CHINCHILLA
from tests.integration.helpers import TINY_SPEC
from tests.integration.server import ServerThread

CHINCHILLA_COLUMNS = {"n_col": "N_params", "d_col": "D_tokens", "loss_col": "loss"}


@pytest.fixture(scope="module")
def server(db_url, tmp_path_factory):
    settings = Settings(
        database_url=db_url,
        sweep_cap=20,
        fit_inline_max_bootstrap=30,
        checkpoint_dir=tmp_path_factory.mktemp("checkpoints"),
    )
    with ServerThread(settings) as running:
        yield running


def _study(api, name="s") -> int:
    response = api.post("/v1/studies", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _import_chinchilla(api, study_id: int) -> httpx.Response:
    return api.post(
        f"/v1/studies/{study_id}/import",
        params=CHINCHILLA_COLUMNS,
        content=CHINCHILLA.read_bytes(),
        headers={"Content-Type": "text/csv"},
    )


def test_writes_need_a_write_token(api, server):
    with httpx.Client(base_url=server.url) as anonymous:
        response = anonymous.post("/v1/studies", json={"name": "x"})
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        assert (
            anonymous.post(
                "/v1/studies", json={"name": "x"}, headers={"Authorization": "Bearer nope"}
            ).status_code
            == 401
        )
        read = {"Authorization": f"Bearer {api.read_token}"}
        assert anonymous.post("/v1/studies", json={"name": "x"}, headers=read).status_code == 403
        assert anonymous.get("/v1/studies").status_code == 200  # reads are public by default
    assert api.get("/v1/studies").json()["total"] == 0  # nothing was written


def test_private_reads_need_a_read_token(api, db_url):
    with (
        ServerThread(Settings(database_url=db_url, public_reads=False)) as private,
        httpx.Client(base_url=private.url) as client,
    ):
        assert client.get("/v1/studies").status_code == 401
        assert client.get("/v1/predict", params={"study": 1, "n_params": 1, "tokens": 1}).status_code == 401
        read = {"Authorization": f"Bearer {api.read_token}"}
        assert client.get("/v1/studies", headers=read).status_code == 200


def test_studies_create_get_list(api):
    first = _study(api, "a")
    _study(api, "b")
    assert api.get(f"/v1/studies/{first}").json()["name"] == "a"
    page = api.get("/v1/studies", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 2 and [s["name"] for s in page["items"]] == ["b"]
    assert api.post("/v1/studies", json={"name": "a"}).status_code == 409
    assert api.get("/v1/studies/999999").status_code == 404
    assert api.post("/v1/studies", json={"name": ""}).status_code == 422


def test_submit_validate_list_get_cancel(api):
    study = _study(api)
    response = api.post(f"/v1/studies/{study}/runs", json={"spec": TINY_SPEC})
    assert response.status_code == 201
    run_id = response.json()["id"]
    bad = api.post(f"/v1/studies/{study}/runs", json={"spec": {**TINY_SPEC, "d_model": 15}})
    assert bad.status_code == 422
    assert (
        bad.json()["detail"][0]["loc"] == ["body", "d_model"] and "n_head" in bad.json()["detail"][0]["msg"]
    )
    run = api.get(f"/v1/runs/{run_id}").json()
    assert run["status"] == "queued" and run["spec"]["d_model"] == 16 and run["n_params"] > 0
    assert api.post(f"/v1/runs/{run_id}/cancel").json()["status"] == "cancelled"
    assert api.post(f"/v1/runs/{run_id}/cancel").status_code == 409
    assert api.get("/v1/runs/424242").status_code == 404
    assert api.post("/v1/studies/424242/runs", json={"spec": TINY_SPEC}).status_code == 404


def test_sweeps_idempotency_cap_and_filters(api):
    study = _study(api)
    grid = {"base": TINY_SPEC, "grid": {"shapes": [{"n_layer": 1}, {"n_layer": 2}], "lr": [1e-3, 3e-3]}}
    first = api.post(f"/v1/studies/{study}/sweeps", json=grid, headers={"Idempotency-Key": "k1"})
    again = api.post(f"/v1/studies/{study}/sweeps", json=grid, headers={"Idempotency-Key": "k1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["count"] == 4 and first.json()["ids"] == again.json()["ids"]
    too_big = {"base": TINY_SPEC, "grid": {"lr": [1e-3] * 7, "seed": [0, 1, 2]}}
    response = api.post(f"/v1/studies/{study}/sweeps", json=too_big)
    assert response.status_code == 422 and "cap of 20" in response.text
    isoflop = {
        "base": TINY_SPEC,
        "isoflop": {
            "compute": [5e8, 5e9],
            "shapes": [{"d_model": 16, "n_head": 2}, {"d_model": 32, "n_head": 2}],
        },
    }
    assert api.post(f"/v1/studies/{study}/sweeps", json=isoflop).json()["count"] == 4
    assert api.post(f"/v1/studies/{study}/sweeps", json={"base": TINY_SPEC}).status_code == 422
    page = api.get("/v1/runs", params={"study": study, "status": "queued", "limit": 3, "offset": 3}).json()
    assert page["total"] == 8 and len(page["items"]) == 3
    assert api.get("/v1/runs", params={"status": "done", "study": study}).json()["total"] == 0


def test_sweep_axes_around_a_centre(api):
    study = _study(api)
    # LR 3e-3·2^i, i = -2..2; batches 16..256 tokens in sequences of 32: 1, 1, 2, 4, 8 -> 4 distinct.
    # 5 x 5 = 25 before the duplicate is removed: the cap (20) applies to the 20 runs it expands to.
    grid = {
        "base": TINY_SPEC,
        "grid": {
            "lr_around": {"centre": 3e-3, "k": 2, "factor": 2.0},
            "batch_tokens_around": {"centre": 64, "k": 2, "factor": 2.0},
        },
    }
    response = api.post(f"/v1/studies/{study}/sweeps", json=grid)
    assert response.status_code == 201, response.text
    assert response.json()["count"] == 20
    items = api.get("/v1/runs", params={"study": study}).json()["items"]
    assert sorted({r["spec"]["batch_tokens"] for r in items}) == [32, 64, 128, 256]
    assert sorted({r["spec"]["lr"] for r in items}) == pytest.approx([7.5e-4, 1.5e-3, 3e-3, 6e-3, 1.2e-2])
    both = {"base": TINY_SPEC, "grid": {"lr": [1e-3], "lr_around": {"centre": 3e-3}}}
    response = api.post(f"/v1/studies/{study}/sweeps", json=both)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == "lr_around"
    assert "give lr or lr_around, not both" in response.text
    over = {"base": TINY_SPEC, "grid": {"lr_around": {"centre": 3e-3, "k": 2}, "seed": [0, 1, 2, 3, 4]}}
    response = api.post(f"/v1/studies/{study}/sweeps", json=over)
    assert response.status_code == 422 and "has 25 runs, more than the cap of 20" in response.text
    assert api.get("/v1/runs", params={"study": study}).json()["total"] == 20


SMALL_PLAN = {
    "budget_flops": 1e15,
    "n_params": 1e8,
    "tokens": 2e9,
    "isoflop_budgets": 3,
    "shapes_per_budget": 3,
    "hparam_scales": 3,
    "lr_k": 1,
    "batch_k": 0,
}


def test_plan_submits_its_runs_once_and_never_past_the_cap(api):
    study = api.post(
        "/v1/studies", json={"name": "p", "defaults": {"seq_len": 32, "data": "synthetic:markov"}}
    )
    study = study.json()["id"]
    dry = api.post(f"/v1/studies/{study}/plan", json=SMALL_PLAN)
    assert dry.status_code == 200 and dry.json()["ids"] is None
    assert dry.json()["total"]["runs"] == 18 and dry.json()["total"]["flops"] <= 1e15
    assert api.get("/v1/runs", params={"study": study}).json()["total"] == 0
    first = api.post(
        f"/v1/studies/{study}/plan", json={**SMALL_PLAN, "submit": True}, headers={"Idempotency-Key": "p1"}
    )
    again = api.post(
        f"/v1/studies/{study}/plan", json={**SMALL_PLAN, "submit": True}, headers={"Idempotency-Key": "p1"}
    )
    assert (first.status_code, again.status_code) == (201, 200), first.text
    assert first.json()["created"] is True and again.json()["created"] is False
    ids = first.json()["ids"]
    assert len(ids) == 18 and again.json()["ids"] == ids
    planned = [r for part in ("isoflop", "hparams") for group in first.json()[part] for r in group["runs"]]
    page = api.get("/v1/runs", params={"study": study, "status": "queued"}).json()
    assert page["total"] == 18
    queued = {r["id"]: r for r in page["items"]}
    for run_id, run in zip(ids, planned, strict=True):
        assert queued[run_id]["spec"] == run["spec"]
        assert queued[run_id]["flops"] == pytest.approx(run["flops"])
    assert sum(queued[i]["flops"] for i in ids) == pytest.approx(first.json()["total"]["flops"])
    too_many = api.post(
        f"/v1/studies/{study}/plan",
        json={"budget_flops": 1e15, "n_params": 1e8, "tokens": 2e9, "submit": True},
    )
    assert too_many.status_code == 422 and "the sweep has 65 runs, more than the cap of 20" in too_many.text
    assert api.get("/v1/runs", params={"study": study}).json()["total"] == 18
    small = api.post(f"/v1/studies/{study}/plan", json={**SMALL_PLAN, "budget_flops": 1e9, "submit": True})
    assert small.status_code == 422 and small.json()["detail"][0]["loc"] == ["body", "budget_flops"]
    assert "the smallest budget that works is" in small.text
    assert api.post(f"/v1/studies/{study}/plan", json={"n_params": 1e8, "tokens": 2e9}).status_code == 422
    assert api.post("/v1/studies/424242/plan", json=SMALL_PLAN).status_code == 404
    with httpx.Client(base_url=str(api.base_url)) as anonymous:  # planning reads; submitting writes
        assert anonymous.post(f"/v1/studies/{study}/plan", json=SMALL_PLAN).status_code == 200
        assert (
            anonymous.post(f"/v1/studies/{study}/plan", json={**SMALL_PLAN, "submit": True}).status_code
            == 401
        )
    assert api.get("/v1/runs", params={"study": study}).json()["total"] == 18


def test_curve_as_json_and_csv(api, database):
    study = _study(api)
    run_id = api.post(f"/v1/studies/{study}/runs", json={"spec": TINY_SPEC}).json()["id"]
    with database.transaction() as session:
        curves.write_points(
            session=session,
            run_id=run_id,
            points=[
                {
                    "step": s,
                    "tokens": 256.0 * s,
                    "train_loss": 4.0 - 0.1 * s,
                    "eval_loss": None,
                    "lr": 1e-3,
                    "noise_scale": None,
                    "wall_time": 0.1 * s,
                }
                for s in range(1, 6)
            ],
        )
    points = api.get(f"/v1/runs/{run_id}/curve").json()["points"]
    assert [p["step"] for p in points] == [1, 2, 3, 4, 5]
    response = api.get(f"/v1/runs/{run_id}/curve", headers={"Accept": "text/csv"})
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.text.strip().split("\n")
    assert lines[0] == "step,tokens,train_loss,eval_loss,lr,noise_scale,wall_time" and len(lines) == 6


@pytest.mark.data
def test_import_csv_multipart_and_json(api):
    study = _study(api)
    response = _import_chinchilla(api, study)
    assert response.status_code == 201, response.text
    assert response.json()["count"] == 245  # the published table, as-is
    upload = api.post(
        f"/v1/studies/{study}/import",
        params={"n_col": "N", "c_col": "C", "loss_col": "L"},
        files={"file": ("runs.csv", b"N,C,L\n1e6,6e12,3.5\n2e6,2.4e13,3.2\n", "text/csv")},
    )
    assert upload.status_code == 201 and upload.json()["count"] == 2
    as_json = api.post(
        f"/v1/studies/{study}/import", json={"runs": [{"N": 1e6, "D": 2e7, "loss": 3.9, "lr": 1e-3}]}
    )
    assert as_json.status_code == 201
    run = api.get(f"/v1/runs/{upload.json()['ids'][0]}").json()
    assert run["tokens"] == pytest.approx(1e6) and run["status"] == "done"
    bad = api.post(f"/v1/studies/{study}/import", content=b"N,D\n1,2\n", headers={"Content-Type": "text/csv"})
    assert bad.status_code == 422 and "'loss'" in bad.text


@pytest.mark.data
@pytest.mark.parametrize(
    "path, params, rows",
    [
        ("porian2024_isoflop/isoflop_points.csv", {}, 1745),
        ("steplaw/dense_lr_bs_loss.csv", {"lr_col": "lr", "batch_col": "bs"}, 1911),
        (
            "gadre2024_overtraining/runs_losses.csv",
            {"n_col": "N_params", "d_col": "D_tokens", "loss_col": "loss_c4_val"},
            104,
        ),
    ],
)
def test_the_shared_published_tables_import_as_is(api, shared_data, path, params, rows):
    study = _study(api)
    response = api.post(
        f"/v1/studies/{study}/import",
        params=params,
        content=(shared_data / path).read_bytes(),
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["count"] == rows


@pytest.mark.data
def test_fit_and_predict(api):
    study = _study(api)
    assert api.get("/v1/predict", params={"study": study, "n_params": 1e9, "tokens": 2e10}).status_code == 422
    _import_chinchilla(api, study)
    response = api.post(f"/v1/studies/{study}/fits", json={"law": "chinchilla", "bootstrap": 20, "seed": 0})
    assert response.status_code == 201, response.text
    fit = api.get(f"/v1/fits/{response.json()['id']}").json()
    assert fit["status"] == "done", fit["error"]
    assert fit["law"] == "chinchilla" and fit["n_points"] == 245
    assert 0.2 < fit["params"]["alpha"] < 0.5 and set(fit["ci95"]) == set(fit["params"])
    assert fit["converged"] is True and fit["n_bootstrap"] == 20 and fit["holdout"] is not None
    prediction = api.get("/v1/predict", params={"study": study, "n_params": 7e10, "tokens": 1.4e12}).json()
    loss = prediction["loss"]
    assert loss["lo"] <= loss["value"] <= loss["hi"] and 1.7 < loss["value"] < 2.3
    assert prediction["fit_id"] == fit["id"] and prediction["compute"]["value"] == pytest.approx(
        6 * 7e10 * 1.4e12
    )
    by_name = api.get("/v1/predict", params={"study": "s", "n_params": 7e10, "tokens": 1.4e12}).json()
    assert by_name["loss"] == loss
    assert api.get("/v1/predict", params={"study": "nope", "n_params": 1, "tokens": 1}).status_code == 404
    assert api.get("/v1/predict", params={"study": study, "n_params": 0, "tokens": 1}).status_code == 422


@pytest.mark.data
def test_large_bootstrap_runs_in_the_background(api):
    study = _study(api)
    _import_chinchilla(api, study)
    response = api.post(f"/v1/studies/{study}/fits", json={"law": "chinchilla", "bootstrap": 40, "seed": 1})
    assert response.status_code == 202
    fit_id = response.json()["id"]
    deadline = time.monotonic() + 120
    while (fit := api.get(f"/v1/fits/{fit_id}").json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert fit["status"] == "done" and fit["bootstrap"] == 40


def test_fit_with_too_few_runs_says_how_many_more(api):
    study = _study(api)
    api.post(
        f"/v1/studies/{study}/import",
        json=[{"N": 1e6 * (i + 1), "D": 1e8, "loss": 3.0 - 0.1 * i} for i in range(4)],
    )
    response = api.post(f"/v1/studies/{study}/fits", json={"law": "chinchilla", "bootstrap": 0})
    assert (
        response.status_code == 422 and "3 more needed" in response.text
    )  # 7 for chinchilla, as fitting requires
    assert api.post(f"/v1/studies/{study}/fits", json={"law": "quadratic"}).status_code == 422


def test_health_and_metrics(api):
    study = _study(api)
    api.post(f"/v1/studies/{study}/runs", json={"spec": TINY_SPEC})
    assert api.get("/healthz").json() == {"status": "ok", "database": "ok"}
    text = api.get("/metrics").text
    assert "hyperlaw_queue_depth 1" in text
    assert 'hyperlaw_runs{status="queued"} 1' in text
    assert 'hyperlaw_request_seconds_count{method="POST",route="/v1/studies"}' in text


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////nonexistent-dir/hyperlaw.db",
        "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2",
    ],
)
def test_database_down_gives_503(url):
    with (
        ServerThread(Settings(database_url=url)) as down,
        httpx.Client(base_url=down.url, timeout=30) as client,
    ):
        assert client.get("/healthz").status_code == 503
        response = client.get("/v1/studies")
        assert response.status_code == 503 and "nothing was written" in response.text
        assert (
            client.post(
                "/v1/studies", json={"name": "x"}, headers={"Authorization": "Bearer hl_a_b"}
            ).status_code
            == 503
        )
