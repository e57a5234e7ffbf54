"""Run submissions over real HTTP: integral floats for integer spec fields are the integers they
name (Python's json.dumps writes 1e5 as 100000.0) while 1.5 and out-of-range values are refused,
and an Idempotency-Key reused with a different body is a 409 naming the key, on runs, sweeps and
plans, while the same body again still answers the first request's runs."""

from __future__ import annotations

import json

import pytest

from app.settings import Settings
from tests.integration.helpers import TINY_SPEC
from tests.integration.server import ServerThread


@pytest.fixture(scope="module")
def server(db_url, tmp_path_factory):
    settings = Settings(database_url=db_url, sweep_cap=50, checkpoint_dir=tmp_path_factory.mktemp("ckpt"))
    with ServerThread(settings) as running:
        yield running


def _post(api, path: str, body: dict, **headers):
    """POST `body` as Python's json.dumps writes it (1e5 -> 100000.0)."""
    return api.post(path, content=json.dumps(body), headers={"Content-Type": "application/json", **headers})


def test_integral_floats_are_integers(api):
    study = _post(api, "/v1/studies", {"name": "s", "defaults": {"seq_len": 32.0}}).json()["id"]
    spec = {**TINY_SPEC, "tokens": 1e5, "n_layer": 2.0, "batch_tokens": 256.0, "seed": 3.0}
    spec.pop("seq_len")
    response = _post(api, f"/v1/studies/{study}/runs", {"spec": spec})
    assert response.status_code == 201, response.text
    stored = api.get(f"/v1/runs/{response.json()['id']}").json()["spec"]
    assert (stored["tokens"], stored["n_layer"], stored["seq_len"], stored["seed"]) == (100000, 2, 32, 3)
    assert all(type(stored[k]) is int for k in ("tokens", "n_layer", "batch_tokens", "seq_len", "seed"))
    grid = {"base": {**TINY_SPEC, "tokens": 8192.0}, "grid": {"tokens": [4096.0, 8192.0]}}
    assert _post(api, f"/v1/studies/{study}/sweeps", grid).status_code == 201
    for field, value in (("tokens", 1.5), ("n_layer", 2.5), ("tokens", 1e300), ("seed", float("1e19"))):
        refused = _post(api, f"/v1/studies/{study}/runs", {"spec": {**TINY_SPEC, field: value}})
        assert refused.status_code == 422, (field, value, refused.text)
        assert refused.json()["detail"][0]["loc"] == ["body", field]


def test_a_reused_idempotency_key_with_another_body_is_a_conflict(api):
    study = _post(api, "/v1/studies", {"name": "s", "defaults": {"seq_len": 32}}).json()["id"]
    runs_path = f"/v1/studies/{study}/runs"
    first = _post(api, runs_path, {"spec": TINY_SPEC}, **{"Idempotency-Key": "k1"})
    again = _post(api, runs_path, {"spec": TINY_SPEC}, **{"Idempotency-Key": "k1"})
    assert (first.status_code, again.status_code) == (201, 200) and first.json()["ids"] == again.json()["ids"]
    other = _post(api, runs_path, {"spec": {**TINY_SPEC, "lr": 1e-2}}, **{"Idempotency-Key": "k1"})
    assert other.status_code == 409 and "Idempotency-Key 'k1'" in other.json()["detail"]

    sweeps_path = f"/v1/studies/{study}/sweeps"
    grid = {"base": TINY_SPEC, "grid": {"lr": [1e-3, 3e-3]}}
    assert _post(api, sweeps_path, grid, **{"Idempotency-Key": "k2"}).status_code == 201
    assert _post(api, sweeps_path, grid, **{"Idempotency-Key": "k2"}).status_code == 200
    wider = {"base": TINY_SPEC, "grid": {"lr": [1e-3, 3e-3, 1e-2]}}
    conflict = _post(api, sweeps_path, wider, **{"Idempotency-Key": "k2"})
    assert conflict.status_code == 409 and "'k2'" in conflict.text
    # A key names one request: the same spec sent as a single run is not the sweep it named.
    assert _post(api, runs_path, {"spec": TINY_SPEC}, **{"Idempotency-Key": "k2"}).status_code == 409

    plan = {"budget_flops": 1e15, "n_params": 1e8, "tokens": 2e9, "submit": True}
    plan.update(isoflop_budgets=3, shapes_per_budget=3, hparam_scales=3, lr_k=1, batch_k=0)
    plan_path = f"/v1/studies/{study}/plan"
    assert _post(api, plan_path, plan, **{"Idempotency-Key": "k3"}).status_code == 201
    assert _post(api, plan_path, plan, **{"Idempotency-Key": "k3"}).status_code == 200
    bigger = _post(api, plan_path, {**plan, "budget_flops": 2e15}, **{"Idempotency-Key": "k3"})
    assert bigger.status_code == 409 and "'k3'" in bigger.text
    assert api.get("/v1/runs", params={"study": study}).json()["total"] == 1 + 2 + 18
