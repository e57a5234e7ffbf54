"""Run data confined to the configured data roots, over real HTTP and in the worker: a file
source outside every root, missing, reached through `..` or a link, or the whole filesystem is
refused with one message (so the answer never tells whether a path exists), on every route that
takes a spec (runs, sweeps, plans, studies); a file under a root trains; and a worker refuses a
spec that reached the queue without the API's check."""

from __future__ import annotations

import httpx
import pytest

from app import runs, studies
from app.settings import Settings
from app.specs import DATA_PATH_REFUSED
from app.worker.pool import Pool
from tests.integration.helpers import TINY_SPEC, make_study, worker_settings
from tests.integration.server import ServerThread, write_client

CORPUS = "def f(x):\n    return x * 2\n" * 400  # ~11 kB of UTF-8 text, enough for a tiny run


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """A data root holding a corpus and a link that leads out of it, and a file beside the root."""
    base = tmp_path_factory.mktemp("data")
    root = base / "root"
    root.mkdir()
    (root / "corpus.txt").write_text(CORPUS)
    outside = base / "outside.txt"
    outside.write_text(CORPUS)
    (root / "escape.txt").symlink_to(outside)
    (root / "up").symlink_to(base)
    return {"root": root, "outside": outside}


@pytest.fixture(scope="module")
def server(db_url, places, tmp_path_factory):
    settings = Settings(
        database_url=db_url,
        data_roots=[places["root"]],
        checkpoint_dir=tmp_path_factory.mktemp("checkpoints"),
    )
    with ServerThread(settings) as running:
        yield running


def _hostile(places) -> list[str]:
    root, outside = places["root"], places["outside"]
    return [
        "text:/etc/passwd",
        "text:/proc/self/environ",
        "text:/",
        "text:",
        f"text:{outside}",  # exists, beside the root
        f"text:{root}/../outside.txt",  # `..` out of the root
        f"text:{root}/../../../../../../etc/passwd",
        f"text:{root}/escape.txt",  # a link inside the root to a file outside it
        f"text:{root}/up/outside.txt",  # a link inside the root to a folder outside it
        f"text:{root}/missing.txt",  # under the root, but missing
        "text:/no/such/file.txt",
        "text:~/.bash_history",
    ]


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == [
        {"loc": ["body", "data"], "msg": DATA_PATH_REFUSED, "type": "value_error"}
    ]


def test_file_sources_outside_the_roots_are_refused_alike(api, places):
    study = api.post("/v1/studies", json={"name": "s"}).json()["id"]
    for data in _hostile(places):
        _refused(api.post(f"/v1/studies/{study}/runs", json={"spec": {**TINY_SPEC, "data": data}}))
    shadow = {**TINY_SPEC, "data": "tokens:/etc/shadow", "vocab_size": 50257}
    _refused(api.post(f"/v1/studies/{study}/runs", json={"spec": shadow}))
    assert api.get("/v1/runs", params={"study": study}).json()["total"] == 0


def test_sweeps_plans_and_studies_check_the_data_too(api, places):
    study = api.post("/v1/studies", json={"name": "s", "defaults": {"seq_len": 32}}).json()["id"]
    for data in ("text:/etc/passwd", f"text:{places['root']}/missing.txt"):
        base = {**TINY_SPEC, "data": data}
        grid = {"base": base, "grid": {"lr": [1e-3, 3e-3]}}
        isoflop = {"base": base, "isoflop": {"compute": [1e9], "shapes": [{"n_layer": 1}]}}
        _refused(api.post(f"/v1/studies/{study}/sweeps", json=grid))
        _refused(api.post(f"/v1/studies/{study}/sweeps", json=isoflop))
        plan = {"budget_flops": 1e15, "n_params": 1e8, "tokens": 2e9, "data": data}
        _refused(api.post(f"/v1/studies/{study}/plan", json=plan))
        _refused(api.post(f"/v1/studies/{study}/plan", json={**plan, "submit": True}))
        _refused(api.post("/v1/studies", json={"name": "t", "data": data}))
        _refused(api.post("/v1/studies", json={"name": "t", "defaults": {"data": data}}))
    assert api.get("/v1/runs", params={"study": study}).json()["total"] == 0
    assert api.get("/v1/studies").json()["total"] == 1


def test_without_data_roots_only_the_built_in_sources_are_accepted(database, db_url, places):
    with ServerThread(Settings(database_url=db_url)) as plain, write_client(plain, database) as client:
        study = client.post("/v1/studies", json={"name": "s"}).json()["id"]
        for data in (f"text:{places['root']}/corpus.txt", "text:/etc/passwd", "text:/no/such.txt"):
            _refused(client.post(f"/v1/studies/{study}/runs", json={"spec": {**TINY_SPEC, "data": data}}))
        for data in ("synthetic:markov", "synthetic:markov-32-4", "pystdlib"):
            response = client.post(f"/v1/studies/{study}/runs", json={"spec": {**TINY_SPEC, "data": data}})
            assert response.status_code == 201, response.text


def test_a_file_under_a_data_root_trains(api, database, places, tmp_path):
    study = api.post("/v1/studies", json={"name": "s"}).json()["id"]
    spec = {**TINY_SPEC, "data": f"text:{places['root']}/corpus.txt"}
    response = api.post(f"/v1/studies/{study}/runs", json={"spec": spec})
    assert response.status_code == 201, response.text
    settings = Settings(
        **{**worker_settings(database, tmp_path).model_dump(), "data_roots": [places["root"]]}
    )
    Pool(settings, concurrency=1).run(exit_when_idle=True)
    run = api.get(f"/v1/runs/{response.json()['id']}").json()
    assert run["status"] == "done", run["error"]
    assert 0 < run["loss"] < 10


def test_the_worker_refuses_a_spec_that_bypassed_the_api(database, places, tmp_path):
    study_id = make_study(database)
    with database.transaction() as session:
        study = studies.get_study(session=session, study_id=study_id)
        spec = {**TINY_SPEC, "data": "text:/etc/passwd"}  # no data_roots: as the CLI submits
        [run], _ = runs.submit_runs(session=session, study=study, specs=[spec])
        run_id = run.id
    settings = Settings(
        **{**worker_settings(database, tmp_path).model_dump(), "data_roots": [places["root"]]}
    )
    Pool(settings, concurrency=1).run(exit_when_idle=True)
    with database.transaction() as session:
        run = runs.get_run(session=session, run_id=run_id)
        assert (run.status, run.attempts) == ("failed", 1)  # refused once, not retried
        assert DATA_PATH_REFUSED in run.error and run.steps is None
