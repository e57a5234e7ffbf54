"""Submissions that used to be accepted and then trained the wrong thing, failed later or never ran,
over real HTTP: a study's `data` is what its runs train on; a study with an unknown source or a
default that is no RunSpec field is refused when it is created; a run the worker pool cannot train
(a device it lacks, a memory or FLOP estimate beyond its limits) is refused when it is submitted,
saying why; training runs are not mixed into a study of imported losses unless asked."""

from __future__ import annotations

import pytest

from app.settings import Settings
from tests.integration.helpers import TINY_SPEC
from tests.integration.server import ServerThread

NO_DATA = {k: v for k, v in TINY_SPEC.items() if k != "data"}


@pytest.fixture(scope="module")
def server(db_url, tmp_path_factory):
    settings = Settings(database_url=db_url, checkpoint_dir=tmp_path_factory.mktemp("ckpt"))
    with ServerThread(settings) as running:
        yield running


def _stored_spec(api, study: int, spec: dict) -> dict:
    response = api.post(f"/v1/studies/{study}/runs", json={"spec": spec})
    assert response.status_code == 201, response.text
    return api.get(f"/v1/runs/{response.json()['id']}").json()["spec"]


def test_runs_train_on_the_studys_data(api):
    chain = api.post("/v1/studies", json={"name": "chain", "data": "synthetic:markov-128-8"}).json()["id"]
    assert _stored_spec(api, chain, NO_DATA)["data"] == "synthetic:markov-128-8"
    # A run may still name its own source; the study's is the default, not a constraint.
    assert _stored_spec(api, chain, {**NO_DATA, "data": "pystdlib"})["data"] == "pystdlib"
    # The API's default study data is the default chain, and so is its runs'.
    plain = api.post("/v1/studies", json={"name": "plain"}).json()
    assert plain["data"] == "synthetic:markov"
    assert _stored_spec(api, plain["id"], NO_DATA)["data"] == "synthetic:markov"
    # A source given only in the defaults is the study's data too.
    given = api.post("/v1/studies", json={"name": "given", "defaults": {"data": "pystdlib"}}).json()
    assert given["data"] == "pystdlib" and _stored_spec(api, given["id"], NO_DATA)["data"] == "pystdlib"
    sweep = {"base": NO_DATA, "grid": {"lr": [1e-3, 3e-3]}}
    ids = api.post(f"/v1/studies/{chain}/sweeps", json=sweep).json()["ids"]
    isoflop = {
        "base": NO_DATA,
        "isoflop": {"compute": [1e11], "shapes": [{"n_layer": 1, "d_model": 16, "n_head": 2}]},
    }
    ids += api.post(f"/v1/studies/{chain}/sweeps", json=isoflop).json()["ids"]
    plan = {"budget_flops": 1e15, "n_params": 1e8, "tokens": 2e9, "seq_len": 32, "submit": True}
    plan.update(isoflop_budgets=3, shapes_per_budget=3, hparam_scales=3, lr_k=1, batch_k=0)
    ids += api.post(f"/v1/studies/{chain}/plan", json=plan).json()["ids"]
    assert len(ids) == 2 + 1 + 18
    assert {api.get(f"/v1/runs/{i}").json()["spec"]["data"] for i in ids} == {"synthetic:markov-128-8"}


def test_a_study_with_an_unknown_source_or_default_is_refused_at_creation(api):
    unknown = api.post("/v1/studies", json={"name": "a", "data": "nosuch:thing"})
    assert unknown.status_code == 422
    error = unknown.json()["detail"][0]
    assert error["loc"] == ["body", "data"]
    assert "nosuch:thing" in error["msg"] and "synthetic:markov" in error["msg"]

    typo = api.post("/v1/studies", json={"name": "b", "defaults": {"n_layr": 3}})
    assert typo.status_code == 422
    error = typo.json()["detail"][0]
    assert error["loc"] == ["body", "defaults"]
    assert "'n_layr'" in error["msg"] and "did you mean 'n_layer'" in error["msg"]

    bad_default = api.post("/v1/studies", json={"name": "c", "defaults": {"data": "synthetic:nope"}})
    assert bad_default.status_code == 422 and bad_default.json()["detail"][0]["loc"] == ["body", "defaults"]
    clash = api.post(
        "/v1/studies", json={"name": "d", "data": "pystdlib", "defaults": {"data": "synthetic:markov"}}
    )
    assert clash.status_code == 422 and "differ" in clash.json()["detail"][0]["msg"]
    # Nothing refused was stored.
    assert api.get("/v1/studies").json()["total"] == 0


def test_a_run_the_pool_cannot_train_is_refused_saying_why(api):
    study = api.post("/v1/studies", json={"name": "s"}).json()["id"]
    path = f"/v1/studies/{study}/runs"
    cuda = api.post(path, json={"spec": {**TINY_SPEC, "device": "cuda"}})
    assert cuda.status_code == 422, cuda.text
    error = cuda.json()["detail"][0]
    assert error["loc"] == ["body", "device"] and "HYPERLAW_WORKER_DEVICE" in error["msg"]
    assert "cpu" in error["msg"]

    # About 6e11 parameters on 1e12 tokens (4e24 FLOPs): terabytes of optimizer state.
    giant = {
        **TINY_SPEC,
        "n_layer": 128,
        "d_model": 20480,
        "n_head": 160,
        "tokens": 10**12,
        "batch_tokens": 2**20,
    }
    refused = api.post(path, json={"spec": giant})
    assert refused.status_code == 422, refused.text
    message = refused.json()["detail"][0]["msg"]
    assert "GB" in message and "HYPERLAW_MAX_RUN_MEMORY_GB" in message and "parameters" in message

    long = api.post(path, json={"spec": {**TINY_SPEC, "tokens": 10**15}})
    assert long.status_code == 422, long.text
    assert "FLOPs" in long.json()["detail"][0]["msg"]
    assert "HYPERLAW_MAX_RUN_FLOPS" in long.json()["detail"][0]["msg"]

    sweep = {"base": TINY_SPEC, "grid": {"tokens": [4096, 10**15]}}
    assert api.post(f"/v1/studies/{study}/sweeps", json=sweep).status_code == 422
    assert api.post(path, json={"spec": {**TINY_SPEC, "device": "cpu"}}).status_code == 201
    assert api.get("/v1/runs", params={"study": study}).json()["total"] == 1


def test_training_runs_are_not_mixed_into_imported_losses_unless_asked(api):
    study = api.post("/v1/studies", json={"name": "imported"}).json()["id"]
    rows = {"runs": [{"N": 7e7, "D": 1.4e9, "loss": 3.1}, {"N": 1e8, "D": 2e9, "loss": 3.0}]}
    assert api.post(f"/v1/studies/{study}/import", json=rows).status_code == 201
    path = f"/v1/studies/{study}/runs"
    mixed = api.post(path, json={"spec": TINY_SPEC})
    assert mixed.status_code == 409, mixed.text
    assert "imported" in mixed.json()["detail"] and "mix_imported" in mixed.json()["detail"]
    sweep = {"base": TINY_SPEC, "grid": {"lr": [1e-3, 3e-3]}}
    assert api.post(f"/v1/studies/{study}/sweeps", json=sweep).status_code == 409
    plan = {"budget_flops": 1e15, "n_params": 1e8, "tokens": 2e9, "seq_len": 32, "submit": True}
    plan.update(isoflop_budgets=3, shapes_per_budget=3, hparam_scales=3, lr_k=1, batch_k=0)
    assert api.post(f"/v1/studies/{study}/plan", json=plan).status_code == 409
    # A dry run writes nothing, so it mixes nothing: still a plan.
    assert api.post(f"/v1/studies/{study}/plan", json={**plan, "submit": False}).status_code == 200
    assert api.post(path, json={"spec": TINY_SPEC, "mix_imported": True}).status_code == 201
    assert api.get("/v1/runs", params={"study": study}).json()["total"] == 3
    assert api.post(f"/v1/studies/{study}/plan", json={**plan, "mix_imported": True}).status_code == 201
