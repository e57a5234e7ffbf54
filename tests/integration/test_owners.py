"""Owner modules on real SQLite and PostgreSQL: studies, run submission (validation,
idempotency, sweeps, import) and API tokens."""

from __future__ import annotations

import pytest

from app import runs, specs, studies, tokens
from app.errors import Conflict, InvalidInput, NotFound
from tests.integration.helpers import TINY_SPEC, make_study


def test_study_names_are_unique_and_found_by_id_or_name(database):
    study_id = make_study(database, "alpha")
    with pytest.raises(Conflict, match="already exists"):
        make_study(database, "alpha")
    with database.transaction() as session:
        assert studies.find_study(session=session, ref="alpha").id == study_id
        assert studies.find_study(session=session, ref=str(study_id)).name == "alpha"
        with pytest.raises(NotFound):
            studies.get_study(session=session, study_id=study_id + 100)


def test_invalid_spec_names_the_field_and_writes_nothing(database):
    study_id = make_study(database)
    with database.transaction() as session:
        study = studies.get_study(session=session, study_id=study_id)
        with pytest.raises(InvalidInput) as caught:
            runs.submit_runs(session=session, study=study, specs=[TINY_SPEC, {**TINY_SPEC, "tokens": 100}])
        assert caught.value.field == "tokens"
        assert "less than one batch" in str(caught.value)
        with pytest.raises(InvalidInput) as caught:
            runs.submit_runs(session=session, study=study, specs=[{**TINY_SPEC, "colour": "red"}])
        assert caught.value.field == "colour"
        assert runs.list_runs(session=session, study_id=study_id)[1] == 0


def test_submission_fills_accounting_and_study_defaults(database):
    study_id = make_study(database, defaults={"lr": 1e-2, "schedule": "constant"})
    spec = {k: v for k, v in TINY_SPEC.items() if k != "lr"}
    with database.transaction() as session:
        study = studies.get_study(session=session, study_id=study_id)
        [run], created = runs.submit_runs(session=session, study=study, specs=[spec])
        assert created and run.lr == 1e-2 and run.spec["schedule"] == "constant"
        assert run.n_params > run.n_params_non_embedding > 0
        assert run.flops_6nd == pytest.approx(6 * run.n_params_non_embedding * 4096)


def test_idempotency_key_creates_runs_once(database):
    study_id = make_study(database)
    with database.transaction() as session:
        study = studies.get_study(session=session, study_id=study_id)
        first, created = runs.submit_runs(
            session=session, study=study, specs=[TINY_SPEC] * 3, idempotency_key="k"
        )
        again, created_again = runs.submit_runs(
            session=session, study=study, specs=[TINY_SPEC] * 3, idempotency_key="k"
        )
        assert created and not created_again
        assert [r.id for r in first] == [r.id for r in again]
        assert runs.list_runs(session=session, study_id=study_id)[1] == 3


def test_sweep_cap_is_checked_before_writing(database):
    study_id = make_study(database)
    with database.transaction() as session:
        study = studies.get_study(session=session, study_id=study_id)
        with pytest.raises(InvalidInput, match="more than the cap of 2"):
            runs.submit_runs(session=session, study=study, specs=[TINY_SPEC] * 3, cap=2)


def test_grid_and_isoflop_designs():
    grid = specs.expand_grid(TINY_SPEC, shapes=[{"n_layer": 1}, {"n_layer": 2}], lr=[1e-3, 3e-3, 1e-2])
    assert len(grid) == 6 and {g["n_layer"] for g in grid} == {1, 2}
    design = specs.expand_isoflop(
        TINY_SPEC, compute=[1e9, 1e10], shapes=[{"d_model": 16, "n_head": 2}, {"d_model": 32, "n_head": 2}]
    )
    assert len(design) == 4
    for spec in design:
        n = specs.accounting(specs.validate_spec(spec))["n_params_non_embedding"]
        budget = 1e9 if spec is design[0] or spec is design[1] else 1e10
        assert 6 * n * spec["tokens"] <= budget < 6 * n * (spec["tokens"] + spec["batch_tokens"])


def test_import_derives_the_missing_quantity_and_rejects_bad_rows(database):
    study_id = make_study(database, kind="imported")
    with database.transaction() as session:
        study = studies.get_study(session=session, study_id=study_id)
        [run] = runs.import_runs(
            session=session, study=study, rows=[{"n_params": 1e6, "flops": 6e12, "loss": 3.1}]
        )
        assert run.tokens == pytest.approx(1e6) and run.status == "done"
        with pytest.raises(InvalidInput, match="row 2: give two of"):
            runs.import_runs(
                session=session, study=study, rows=[{"n_params": 1, "tokens": 1, "loss": 3}, {"loss": 3}]
            )


def test_tokens_are_hashed_scoped_and_revocable(database):
    with database.transaction() as session:
        write, row = tokens.create_token(session=session, scope="write")
        read, _ = tokens.create_token(session=session, scope="read")
        assert write not in row.token_hash and len(row.token_hash) == 64
    with database.transaction() as session:
        found = tokens.authenticate(session=session, token=write)
        assert found is not None and tokens.allows(found, "write")
        assert not tokens.allows(tokens.authenticate(session=session, token=read), "write")
        assert tokens.authenticate(session=session, token=write[:-1] + "x") is None
        assert tokens.authenticate(session=session, token="garbage") is None
        tokens.revoke_token(session=session, prefix=row.prefix)
    with database.transaction() as session:
        assert tokens.authenticate(session=session, token=write) is None
        with pytest.raises(InvalidInput, match="'root' is not one of read, write, admin"):
            tokens.create_token(session=session, scope="root")
