"""A study records its parametrization (sp or mup, with the base width a mup study's LR is tuned at),
over real HTTP on SQLite and PostgreSQL: its runs inherit both, a run contradicting them is a 422
naming the run's value and the study's, a mup study without a base width takes its first runs'
smallest d_model, and its plan sweeps LR at one width; and the migration adds the columns (taking
a mup study's from its defaults) and removes them again."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from app import runs, studies
from app.db import Database, downgrade, upgrade
from app.errors import Conflict
from app.settings import Settings
from tests.conftest import ENGINES, make_database_url
from tests.integration.helpers import TINY_SPEC, make_study
from tests.integration.server import ServerThread

REVISION = "a7d3c9e15b62"
PREVIOUS = "8e3c5a1f0b27"
WIDE = {**TINY_SPEC, "d_model": 64, "n_head": 4}


@pytest.fixture(scope="module")
def server(db_url, tmp_path_factory):
    settings = Settings(database_url=db_url, checkpoint_dir=tmp_path_factory.mktemp("ckpt"))
    with ServerThread(settings) as running:
        yield running


def _study(api, **body) -> dict:
    response = api.post("/v1/studies", json={"name": "s", **body})
    assert response.status_code == 201, response.text
    return response.json()


def _spec_of(api, study: int, spec: dict) -> dict:
    response = api.post(f"/v1/studies/{study}/runs", json={"spec": spec})
    assert response.status_code == 201, response.text
    return api.get(f"/v1/runs/{response.json()['id']}").json()["spec"]


def _refusal(response) -> tuple[str, str]:
    assert response.status_code == 422, response.text
    error = response.json()["detail"][0]
    return error["loc"][-1], error["msg"]


def test_a_study_records_its_parametrization(api):
    plain = _study(api, name="plain")
    assert (plain["parametrization"], plain["base_d_model"]) == ("sp", None)
    mup = _study(api, name="mup", parametrization="mup", base_d_model=32)
    assert (mup["parametrization"], mup["base_d_model"]) == ("mup", 32)
    shown = api.get(f"/v1/studies/{mup['id']}").json()
    assert (shown["parametrization"], shown["base_d_model"]) == ("mup", 32)
    # Given in the defaults only, they are the study's too; given twice, they must agree.
    folded = _study(api, name="folded", defaults={"parametrization": "mup", "base_d_model": 48})
    assert (folded["parametrization"], folded["base_d_model"]) == ("mup", 48)
    twice = api.post(
        "/v1/studies", json={"name": "x", "parametrization": "sp", "defaults": {"parametrization": "mup"}}
    )
    field, message = _refusal(twice)
    assert field == "parametrization" and "'sp'" in message and "'mup'" in message


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"parametrization": "ntk"}, "parametrization"),
        ({"base_d_model": 32}, "base_d_model"),  # a base width under sp
        ({"parametrization": "mup", "base_d_model": 0}, "base_d_model"),
    ],
)
def test_a_bad_parametrization_is_refused_at_creation(api, body, field):
    response = api.post("/v1/studies", json={"name": "bad", **body})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] == field
    assert api.get("/v1/studies").json()["total"] == 0


def test_runs_inherit_the_studys_parametrization(api):
    mup = _study(api, name="mup", parametrization="mup", base_d_model=32)["id"]
    spec = _spec_of(api, mup, WIDE)
    assert (spec["parametrization"], spec["base_d_model"], spec["d_model"]) == ("mup", 32, 64)
    # Naming the study's own values is no contradiction.
    assert _spec_of(api, mup, {**WIDE, "parametrization": "mup", "base_d_model": 32})["base_d_model"] == 32
    plain = _study(api, name="plain")["id"]
    spec = _spec_of(api, plain, WIDE)
    assert (spec["parametrization"], spec["base_d_model"]) == ("sp", None)


def test_a_run_contradicting_its_study_is_refused_naming_both(api):
    mup = _study(api, name="mup", parametrization="mup", base_d_model=32)["id"]
    plain = _study(api, name="plain")["id"]
    field, message = _refusal(
        api.post(f"/v1/studies/{mup}/runs", json={"spec": {**WIDE, "parametrization": "sp"}})
    )
    assert field == "parametrization"
    assert "'sp'" in message and "'mup'" in message and f"study {mup}" in message
    field, message = _refusal(
        api.post(f"/v1/studies/{mup}/runs", json={"spec": {**WIDE, "base_d_model": 16}})
    )
    assert field == "base_d_model" and "16" in message and "32" in message
    field, message = _refusal(
        api.post(f"/v1/studies/{plain}/runs", json={"spec": {**WIDE, "parametrization": "mup"}})
    )
    assert field == "parametrization" and "'mup'" in message and "'sp'" in message
    field, message = _refusal(
        api.post(f"/v1/studies/{plain}/runs", json={"spec": {**WIDE, "base_d_model": 32}})
    )
    assert field == "base_d_model" and "'sp'" in message
    # In a sweep, the run that contradicts is named, and nothing is queued.
    sweep = {"base": WIDE, "grid": {"lr": [1e-3, 3e-3]}}
    bad = api.post(f"/v1/studies/{mup}/sweeps", json={**sweep, "base": {**WIDE, "parametrization": "sp"}})
    assert _refusal(bad)[0] == "parametrization"
    assert api.get("/v1/runs", params={"study": mup}).json()["total"] == 0


def test_a_mup_study_without_a_base_width_takes_its_first_runs_smallest(api):
    study = _study(api, name="mup", parametrization="mup")["id"]
    shapes = [{"n_layer": 1, "d_model": d, "n_head": 2} for d in (64, 16, 32)]
    sweep = {"base": TINY_SPEC, "grid": {"shapes": shapes}}
    response = api.post(f"/v1/studies/{study}/sweeps", json=sweep)
    assert response.status_code == 201, response.text
    widths = {api.get(f"/v1/runs/{i}").json()["spec"]["base_d_model"] for i in response.json()["ids"]}
    assert widths == {16}
    assert api.get(f"/v1/studies/{study}").json()["base_d_model"] == 16
    # Later runs inherit it, and one naming another base width is refused.
    assert _spec_of(api, study, WIDE)["base_d_model"] == 16
    field, message = _refusal(
        api.post(f"/v1/studies/{study}/runs", json={"spec": {**WIDE, "base_d_model": 64}})
    )
    assert field == "base_d_model" and "64" in message and "16" in message


def test_of_two_first_submissions_at_once_one_sets_the_base_width(database):
    if database.url.startswith("sqlite"):
        pytest.skip("SQLite takes the write lock up front (BEGIN IMMEDIATE): two submissions cannot overlap")
    study_id = make_study(database, name="race", parametrization="mup")
    with database.transaction() as first:
        study = studies.get_study(session=first, study_id=study_id)
        assert study.base_d_model is None  # as this submission saw it
        with database.transaction() as second:
            other = studies.get_study(session=second, study_id=study_id)
            runs.submit_runs(session=second, study=other, specs=[WIDE])  # d_model 64, committed first
        with pytest.raises(Conflict, match="took base width 64 .*, not 16: submit these runs again"):
            runs.submit_runs(session=first, study=study, specs=[TINY_SPEC])  # d_model 16
    with database.transaction() as session:
        assert studies.get_study(session=session, study_id=study_id).base_d_model == 64
        created, _ = runs.submit_runs(
            session=session, study=studies.get_study(session=session, study_id=study_id), specs=[TINY_SPEC]
        )
        assert created[0].spec["base_d_model"] == 64


PLAN = {"budget_flops": 1e15, "n_params": 1e8, "tokens": 2e9, "seq_len": 32}
PLAN.update(isoflop_budgets=3, shapes_per_budget=3, hparam_scales=3, lr_k=1, batch_k=0)


def _grid_shapes(planned: dict) -> set[tuple[int, int]]:
    return {(r["spec"]["n_layer"], r["spec"]["d_model"]) for g in planned["hparams"] for r in g["runs"]}


def test_a_mup_studys_plan_sweeps_lr_at_its_base_width_and_queues(api):
    study = _study(api, name="mup", parametrization="mup")["id"]
    proposed = api.post(f"/v1/studies/{study}/plan", json=PLAN)
    assert proposed.status_code == 200, proposed.text
    proposed = proposed.json()
    assert proposed["parametrization"] == "mup" and len(_grid_shapes(proposed)) == 1
    ((_, width),) = _grid_shapes(proposed)
    assert f"base width d_model={width}" in proposed["notes"][0]
    queued = api.post(f"/v1/studies/{study}/plan", json={**PLAN, "submit": True})
    assert queued.status_code == 201, queued.text
    assert api.get(f"/v1/studies/{study}").json()["base_d_model"] == width
    specs = [api.get(f"/v1/runs/{i}").json()["spec"] for i in queued.json()["ids"][-3:]]
    assert {(s["parametrization"], s["base_d_model"], s["d_model"]) for s in specs} == {("mup", width, width)}
    # A plan of an sp study stays as it was: a shape per grid, no notes.
    plain = _study(api, name="plain")["id"]
    sp = api.post(f"/v1/studies/{plain}/plan", json=PLAN).json()
    assert (sp["parametrization"], sp["notes"]) == ("sp", []) and len(_grid_shapes(sp)) == 3
    # Asked for as mup, an sp study's plan is proposed so, and refused when it would be queued.
    asked = api.post(f"/v1/studies/{plain}/plan", json={**PLAN, "parametrization": "mup", "base_d_model": 64})
    assert asked.status_code == 200 and {d for _, d in _grid_shapes(asked.json())} == {64}
    refused = api.post(f"/v1/studies/{plain}/plan", json={**PLAN, "parametrization": "mup", "submit": True})
    assert _refusal(refused)[0] == "parametrization"


# ------------------------------------------------------------------------------ migration


@pytest.fixture(params=ENGINES)
def previous_url(request, tmp_path_factory):
    """A database at the revision before this one."""
    url, drop = make_database_url(request.param, tmp_path_factory)
    upgrade(url, PREVIOUS)
    yield url
    drop()


def _columns(url: str) -> set[str]:
    database = Database(url)
    try:
        return {c["name"] for c in inspect(database.engine).get_columns("studies")}
    finally:
        database.dispose()


def test_the_migration_adds_the_columns_from_the_defaults_and_removes_them(previous_url):
    database = Database(previous_url)
    try:
        with database.engine.begin() as connection:
            insert = text(
                "INSERT INTO studies (name, description, kind, data, architecture, defaults, created_at) "
                "VALUES (:name, '', 'proxy', 'synthetic:markov', 'gpt', :defaults, CURRENT_TIMESTAMP)"
            )
            connection.execute(insert, {"name": "old", "defaults": '{"seq_len": 64}'})
            connection.execute(
                insert, {"name": "old-mup", "defaults": '{"parametrization": "mup", "base_d_model": 48}'}
            )
        upgrade(previous_url, REVISION)
        with database.engine.connect() as connection:
            rows = connection.execute(
                text("SELECT name, parametrization, base_d_model FROM studies ORDER BY id")
            ).all()
        assert [tuple(r) for r in rows] == [("old", "sp", None), ("old-mup", "mup", 48)]
        downgrade(previous_url, PREVIOUS)
        assert {"parametrization", "base_d_model"}.isdisjoint(_columns(previous_url))
        with database.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM studies")).scalar() == 2
        upgrade(previous_url)
        assert {"parametrization", "base_d_model"} <= _columns(previous_url)
    finally:
        database.dispose()
