"""GET /v1/predict with a batch size, over real HTTP on SQLite and PostgreSQL: lr_at_batch carries the
LR law's optimum from its reference batch (the predicted B_opt when LR and batch were swept together,
the one batch of fixed-batch sweeps) by the square-root rule for Adam and the linear rule for SGD,
flags a batch above the critical batch size, refuses a bad batch or optimizer as a 422 in the query,
and the answer warns when the runs under a fit mix parametrizations (sp and μP). Also `hyperlaw
predict --batch` on the same database."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from sqlalchemy import select

from app import curves, runs, studies
from app.api.schemas import PredictPublic
from app.db.tables import Run
from app.settings import Settings
from tests.integration.server import ServerThread, inline_fit
from tests.integration.step_law_data import (
    FIXED_BATCH,
    batch_opt,
    curve_points,
    loss_rows,
    lr_opt,
    sweep_rows,
)

SEQ_LEN = 256
# B_crit(L) = B* / L^(1/alpha_B) (Kaplan et al. 2020, eq. 5.1): about 3e6 tokens at the predicted
# loss 2.6 of (1e9, 2e10), above B_opt there (about 4.4e5), so 4 B_opt is below it and 16 B_opt above.
B_STAR, ALPHA_B = 2e7, 0.5


@pytest.fixture(scope="module")
def server(db_url):
    with ServerThread(Settings(database_url=db_url, fit_inline_max_bootstrap=100)) as running:
        yield running


def _predict(api, study, **params) -> dict:
    query = {"study": study, "n_params": 1e9, "tokens": 2e10, **params}
    response = api.get("/v1/predict", params=query)
    assert response.status_code == 200, response.text
    return PredictPublic.model_validate(response.json()).model_dump()


def _study(api, name: str) -> int:
    return api.post("/v1/studies", json={"name": name, "defaults": {"seq_len": SEQ_LEN}}).json()["id"]


def _import(api, study: int, rows: list[dict]) -> list[int]:
    response = api.post(f"/v1/studies/{study}/import", json=rows)
    assert response.status_code == 201, response.text
    return response.json()["ids"]


def test_joint_sweeps_transfer_from_the_predicted_b_opt_and_flag_above_b_crit(api, database, db_url):
    study = _study(api, "joint")
    sweep_ids = _import(api, study, sweep_rows(np.random.default_rng(0), joint=True))
    lr = inline_fit(api, study, {"law": "lr_opt", "form": "steplaw"}, bootstrap=20)
    # The LR optima sit at each sweep's optimal batch, and there is no batch_opt law yet: no reference.
    early = _predict(api, study, batch=1e6)
    assert early["lr_at_batch"] is None and early["lr_opt"] is not None
    assert any(w.startswith("lr_at_batch: the lr_opt fit located each LR optimum") for w in early["warnings"])

    inline_fit(api, study, {"law": "batch_opt", "run_ids": sweep_ids}, bootstrap=20)
    plain = _predict(api, study)
    assert plain["lr_at_batch"] is None
    assert not any(w.startswith("lr_at_batch") for w in plain["warnings"])
    b_opt, lr_value = plain["batch_size_opt"]["tokens"]["value"], plain["lr_opt"]["value"]
    assert b_opt == pytest.approx(batch_opt(2e10), rel=0.2)

    adam = _predict(api, study, batch=4 * b_opt)
    moved = adam["lr_at_batch"]
    assert moved["reference"] == "batch_opt" and moved["rule"] == "sqrt" and moved["optimizer"] == "adam"
    assert moved["reference_batch"] == {"tokens": b_opt, "sequences": pytest.approx(b_opt / SEQ_LEN)}
    assert moved["batch"] == {"tokens": 4 * b_opt, "sequences": pytest.approx(4 * b_opt / SEQ_LEN)}
    assert moved["factor"] == pytest.approx(2.0) and moved["value"] == pytest.approx(2 * lr_value)
    assert moved["lr_opt"] == lr_value
    # The interval is the LR law's, widened over B_opt's: it holds the value and is wider than 2x lr_opt's.
    assert moved["lo"] < moved["value"] < moved["hi"]
    assert moved["lo"] < 2 * plain["lr_opt"]["lo"] and moved["hi"] > 2 * plain["lr_opt"]["hi"]
    assert moved["b_crit"] is None and moved["above_critical"] is None
    assert "lr_at_batch: no critical batch size given: the sqrt rule holds only below it" in " ".join(
        adam["warnings"]
    )
    sgd = _predict(api, study, batch=4 * b_opt, optimizer="sgd")["lr_at_batch"]
    assert sgd["rule"] == "linear" and sgd["value"] == pytest.approx(4 * lr_value)
    # The LR laws' runs are all sp (imported runs name none): no parametrization warning.
    assert not any("parametrizations" in w for w in adam["warnings"])

    # A critical_batch law (curves at five batch sizes) and a loss law: B_crit at the predicted loss.
    with database.transaction() as session:
        made = runs.import_runs(
            session=session,
            study=studies.get_study(session=session, study_id=study),
            rows=[{"n_params": 1e6, "tokens": 1e9, "loss": 2.05, "batch_tokens": b} for b in
                  (2.5e5, 7e5, 2e6, 6e6, 1.8e7)],
        )  # fmt: skip
        rng = np.random.default_rng(0)
        for run in made:
            curves.write_points(
                session=session,
                run_id=run.id,
                points=curve_points(run.batch_tokens, rng, b_star=B_STAR, alpha_b=ALPHA_B),
            )
        curve_ids = [run.id for run in made]
    inline_fit(api, study, {"law": "critical_batch", "run_ids": curve_ids}, bootstrap=20)
    inline_fit(api, study, {"law": "chinchilla", "run_ids": _import(api, study, loss_rows())}, bootstrap=20)
    below = _predict(api, study, batch=4 * b_opt)
    b_crit = below["critical_batch_size"]["value"]
    assert b_crit == pytest.approx(B_STAR / below["loss"]["value"] ** 2, rel=0.15)
    assert 4 * b_opt < b_crit < 16 * b_opt
    assert below["lr_at_batch"]["b_crit"] == b_crit and below["lr_at_batch"]["above_critical"] is False
    assert below["lr_at_batch"]["value"] == pytest.approx(2 * lr_value)
    assert not any(w.startswith("lr_at_batch") for w in below["warnings"])
    above = _predict(api, study, batch=16 * b_opt)
    assert above["lr_at_batch"]["above_critical"] is True
    assert above["lr_at_batch"]["value"] == pytest.approx(4 * lr_value)  # the rule's value, flagged
    assert any(
        w.startswith(f"lr_at_batch: batch {16 * b_opt:g} is above the critical batch size {b_crit:g}")
        for w in above["warnings"]
    )
    assert lr["id"] == above["fit_ids"]["lr_opt"]

    # The CLI reads the same database: the same answer, and the table labels the transferred LR.
    base = [sys.executable, "-m", "app.cli", "predict", "--study", "joint", "--n-params", "1e9",
            "--tokens", "2e10", "--database-url", db_url, "--batch", repr(16 * b_opt)]  # fmt: skip
    result = subprocess.run([*base, "--json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == above
    table = subprocess.run(
        [*base, "--optimizer", "sgd"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "1000"},
    )
    assert table.returncode == 0, table.stderr
    assert "learning rate at batch" in table.stdout and "linear rule for sgd" in table.stdout
    assert f"{16 * lr_value:.4g}" in table.stdout and "above the critical batch size" in table.stdout


def test_fixed_batch_sweeps_transfer_from_that_batch(api, server):
    study = _study(api, "fixed")
    _import(api, study, sweep_rows(np.random.default_rng(1), joint=False))
    inline_fit(api, study, {"law": "lr_opt", "form": "steplaw"}, bootstrap=20)
    answer = _predict(api, study, batch=4 * FIXED_BATCH)
    moved = answer["lr_at_batch"]
    assert moved["reference"] == "fixed" and moved["reference_batch"]["tokens"] == FIXED_BATCH
    assert moved["value"] == pytest.approx(2 * answer["lr_opt"]["value"])
    assert moved["lo"] == pytest.approx(2 * answer["lr_opt"]["lo"])
    assert moved["hi"] == pytest.approx(2 * answer["lr_opt"]["hi"])
    assert moved["lr_opt"] == pytest.approx(lr_opt(1e9, 2e10), rel=0.1)
    smaller = _predict(api, study, batch=FIXED_BATCH / 4, optimizer="sgd")["lr_at_batch"]
    assert smaller["factor"] == pytest.approx(0.25)

    # `hyperlaw predict --url` asks the server with the batch and the optimizer.
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "predict", "--study", "fixed", "--n-params", "1e9", "--tokens", "2e10",
         "--url", server.url, "--token", api.read_token, "--batch", "5e4", "--optimizer", "sgd", "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["lr_at_batch"]["value"] == pytest.approx(smaller["value"], rel=1e-12)

    # The study report and the dashboard's prediction panel show the same row.
    target = {"n_params": 1e9, "tokens": 2e10, "batch": 4 * FIXED_BATCH}
    report = api.get(f"/v1/studies/{study}/report", params={"format": "json", **target}).json()
    assert report["target"] == {**target, "optimizer": "adam"}
    assert report["prediction"]["lr_at_batch"]["value"] == pytest.approx(moved["value"], rel=1e-12)
    label = "learning rate at batch 8e+05 tokens (sqrt rule for adam)"
    html = api.get(f"/v1/studies/{study}/report", params={"format": "html", **target})
    assert html.status_code == 200 and label in html.text
    page = api.get(f"/studies/{study}", params=target)
    assert (
        page.status_code == 200
        and label in page.text
        and "&amp;batch=800000.0&amp;optimizer=adam" in page.text
    )
    alone = api.get(f"/v1/studies/{study}/report", params={"format": "json", "batch": 1e6})
    assert (
        alone.status_code == 422 and "batch is for a prediction: give n_params and tokens too" in alone.text
    )


def test_bad_batch_or_optimizer_is_a_422_in_the_query(api):
    study = _study(api, "refusals")
    _import(api, study, sweep_rows(np.random.default_rng(2), joint=False))
    inline_fit(api, study, {"law": "lr_opt", "form": "steplaw"}, bootstrap=0)
    for params, field, words in (
        ({"batch": 0}, "batch", "greater than 0"),
        ({"batch": -5}, "batch", "greater than 0"),
        ({"batch": "inf"}, "batch", "batch (tokens) (inf) must be a positive finite number"),
        ({"batch": "nan"}, "batch", ""),
        ({"batch": "wide"}, "batch", "valid number"),
        ({"batch": 1e6, "optimizer": "rmsprop"}, "optimizer", "'adam' or 'sgd'"),
    ):
        query = {"study": study, "n_params": 1e9, "tokens": 2e10, **params}
        response = api.get("/v1/predict", params=query)
        assert response.status_code == 422, (params, response.text)
        detail = response.json()["detail"]
        assert detail[0]["loc"] == ["query", field] and words in detail[0]["msg"], detail


def _set_parametrization(database, run_ids: list[int], name: str) -> None:
    with database.transaction() as session:
        for run in session.scalars(select(Run).where(Run.id.in_(run_ids))):
            run.spec = {**(run.spec or {}), "parametrization": name}


def test_imported_runs_of_a_mup_study_count_as_mup(api, database):
    """An imported run has no spec: it was trained as its study says, so a μP study's imports beside its
    μP-trained runs are not "mixed"; a run whose spec says sp is."""
    response = api.post(
        "/v1/studies",
        json={
            "name": "mup-imports",
            "defaults": {"seq_len": SEQ_LEN},
            "parametrization": "mup",
            "base_d_model": 64,
        },
    )
    assert response.status_code == 201, response.text
    study = response.json()["id"]
    ids = _import(api, study, sweep_rows(np.random.default_rng(3), joint=False))
    _set_parametrization(database, ids[:7], "mup")
    inline_fit(api, study, {"law": "lr_opt", "form": "steplaw"}, bootstrap=0)
    assert not any(w.startswith("mixed parametrizations") for w in _predict(api, study)["warnings"])
    _set_parametrization(database, ids[7:9], "sp")
    fit = inline_fit(api, study, {"law": "lr_opt", "form": "steplaw"}, bootstrap=0)
    mixed = [w for w in _predict(api, study)["warnings"] if w.startswith("mixed parametrizations")]
    assert len(mixed) == 1 and f"the lr_opt fit {fit['id']} rests on 40 mup and 2 sp runs" in mixed[0], mixed


def test_runs_of_mixed_parametrizations_are_warned_about(api, database, db_url):
    study = _study(api, "mixed")
    ids = _import(api, study, sweep_rows(np.random.default_rng(3), joint=False))
    mup = ids[: len(ids) // 2]  # the first three sweeps
    sp = ids[len(ids) // 2 :]
    _set_parametrization(database, mup, "mup")
    _set_parametrization(database, sp[:7], "sp")  # named sp, as the unnamed ones are taken to be
    fit = inline_fit(api, study, {"law": "lr_opt", "form": "steplaw"}, bootstrap=0)
    warnings = _predict(api, study)["warnings"]
    assert (
        f"mixed parametrizations: the lr_opt fit {fit['id']} rests on 21 mup and 21 sp runs (an imported run has "
        "its study's; a trained run that names none is sp); sp and μP runs have different LR optima, so an LR law across both is not "
        f"meaningful: refit on one parametrization's runs (run_ids in POST /v1/studies/{study}/fits)"
    ) in warnings
    cli = subprocess.run(
        [sys.executable, "-m", "app.cli", "predict", "--study", "mixed", "--n-params", "1e9", "--tokens", "2e10",
         "--database-url", db_url, "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["warnings"] == warnings
    # Refitted on the μP runs alone, beside a loss law of sp runs: each fit rests on one
    # parametrization, and the answer says they differ.
    inline_fit(api, study, {"law": "lr_opt", "form": "deepseek", "run_ids": mup}, bootstrap=0)
    warnings = _predict(api, study)["warnings"]
    assert not any(w.startswith("mixed parametrizations") for w in warnings), warnings
    inline_fit(api, study, {"law": "chinchilla", "run_ids": _import(api, study, loss_rows())}, bootstrap=0)
    warnings = _predict(api, study)["warnings"]
    assert [w for w in warnings if w.startswith("mixed parametrizations")] == [
        "mixed parametrizations: the fits used rest on runs of different parametrizations (loss on sp, "
        "lr_opt on mup; an imported run has its study's; a trained run that names none is sp); sp and μP runs have different LR optima, so the "
        "answer mixes laws of two kinds of model: fit every law on one parametrization's runs (run_ids in "
        f"POST /v1/studies/{study}/fits)"
    ]


def test_runs_at_different_output_multipliers_are_warned_about(api, database):
    """alpha_output changes the model and its LR optimum: a fit over runs at several is flagged, one
    refitted on one multiplier's runs is not (a run that names none is at the trainer's 1)."""
    study = _study(api, "multipliers")
    ids = _import(api, study, sweep_rows(np.random.default_rng(3), joint=False))
    tuned = ids[: len(ids) // 2]
    with database.transaction() as session:
        for run in session.scalars(select(Run).where(Run.id.in_(tuned))):
            run.spec = {**(run.spec or {}), "output_multiplier": 8.0}
    fit = inline_fit(api, study, {"law": "lr_opt", "form": "steplaw"}, bootstrap=0)
    mixed = [w for w in _predict(api, study)["warnings"] if w.startswith("mixed output multipliers")]
    assert mixed == [
        f"mixed output multipliers: the lr_opt fit {fit['id']} rests on runs trained at different output_multiplier "
        f"values ({len(ids) - len(tuned)} at 1 and {len(tuned)} at 8; a run that names none is at 1); the multiplier "
        "changes the model and its optimal LR, so a law across them describes none: refit on one multiplier's runs "
        f"(run_ids in POST /v1/studies/{study}/fits)"
    ]
    inline_fit(api, study, {"law": "lr_opt", "form": "deepseek", "run_ids": tuned}, bootstrap=0)
    assert not any(w.startswith("mixed output multipliers") for w in _predict(api, study)["warnings"])
