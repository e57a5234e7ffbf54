"""Hyperparameter laws through the service over real HTTP, on SQLite and PostgreSQL: lr_opt and
batch_opt fits of imported sweeps whose optima follow known power laws, a critical_batch fit of
synthetic curves S = S_min (1 + B_crit(L)/B) written through app.curves, and /v1/predict
answering every law with intervals that contain the truth, naming missing laws in its warnings,
and answering the LR law without any loss fit. Also `hyperlaw predict` on the same database."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from app import curves, runs, studies
from app.api.schemas import PredictPublic
from app.settings import Settings
from tests.integration.server import ServerThread, inline_fit
from tests.integration.step_law_data import LR_TRUTH, batch_opt, curve_points, loss_rows, lr_opt, sweep_rows

SEQ_LEN = 256
# Kaplan et al. 2020, eq. 5.1, scaled to a small model: B_crit(L) = B* / L^(1/alpha_B), tokens.
B_STAR, ALPHA_B = 2e6, 0.5


@pytest.fixture(scope="module")
def server(db_url):
    with ServerThread(Settings(database_url=db_url, fit_inline_max_bootstrap=100)) as running:
        yield running


def _predict(api, study, n_params=1e9, tokens=2e10) -> dict:
    response = api.get("/v1/predict", params={"study": study, "n_params": n_params, "tokens": tokens})
    assert response.status_code == 200, response.text
    return PredictPublic.model_validate(response.json()).model_dump()


def test_lr_and_batch_laws_answer_with_covering_intervals(api, db_url):
    study = api.post("/v1/studies", json={"name": "sweeps", "defaults": {"seq_len": SEQ_LEN}}).json()["id"]
    too_few = api.post(f"/v1/studies/{study}/fits", json={"law": "lr_opt"})
    assert too_few.status_code == 422 and "this study has 0" in too_few.text
    assert (
        api.post(f"/v1/studies/{study}/fits", json={"law": "chinchilla", "form": "steplaw"}).status_code
        == 422
    )
    assert (
        api.post(f"/v1/studies/{study}/import", json=sweep_rows(np.random.default_rng(0))).status_code == 201
    )

    lr = inline_fit(api, study, {"law": "lr_opt", "form": "steplaw"}, bootstrap=40)
    assert lr["law"] == "lr_opt" and lr["form"] == "steplaw" and len(lr["optima"]) == 6
    assert lr["ci95"]["b"][0] <= LR_TRUTH[1] <= lr["ci95"]["b"][1]
    # No loss fit yet: the LR law still answers; the loss is null and named as missing.
    early = _predict(api, study)
    assert early["loss"] is None and early["fit_id"] is None and early["lr_opt"] is not None
    assert early["fit_ids"] == {"lr_opt": lr["id"]}
    assert f'no loss fit for this study: POST /v1/studies/{study}/fits {{"law": "auto"}}' in early["warnings"]

    batch = inline_fit(api, study, {"law": "batch_opt"}, bootstrap=40)
    assert batch["form"] in ("steplaw", "deepseek")
    ids = [r["id"] for r in api.get("/v1/runs", params={"study_id": study, "limit": 1000}).json()["items"]]
    imported = api.post(f"/v1/studies/{study}/import", json=loss_rows()).json()["ids"]
    assert not set(imported) & set(ids)
    loss = inline_fit(api, study, {"law": "chinchilla", "run_ids": imported}, bootstrap=40)

    answer = _predict(api, study)
    assert answer["fit_ids"] == {"loss": loss["id"], "lr_opt": lr["id"], "batch_opt": batch["id"]}
    assert answer["fit_id"] == loss["id"] and answer["law"] == "chinchilla"
    truth = lr_opt(1e9, 2e10)
    assert answer["lr_opt"]["lo"] <= truth <= answer["lr_opt"]["hi"]
    assert answer["lr_opt"]["value"] == pytest.approx(truth, rel=0.1)
    tokens_batch = answer["batch_size_opt"]["tokens"]
    assert tokens_batch["lo"] <= batch_opt(2e10) <= tokens_batch["hi"]
    assert answer["batch_size_opt"]["sequences"]["value"] == pytest.approx(tokens_batch["value"] / SEQ_LEN)
    expected_loss = 1.7 + 400 / 1e9**0.34 + 410 / 2e10**0.28
    assert answer["loss"]["value"] == pytest.approx(expected_loss, rel=0.01)
    optimal = answer["compute_optimal"]
    assert optimal["n_params"]["value"] * optimal["tokens"]["value"] * 6 == pytest.approx(
        6 * 1e9 * 2e10, rel=1e-6
    )
    assert answer["critical_batch_size"] is None
    missing = (
        f'no critical_batch fit for this study: POST /v1/studies/{study}/fits {{"law": "critical_batch"}}'
    )
    assert missing in answer["warnings"]
    assert not any(w.startswith("no lr_opt") or w.startswith("no loss") for w in answer["warnings"])
    # 1e4 x the largest sweep's compute: every law used says it extrapolates.
    far = _predict(api, study, n_params=1e11, tokens=2e12)
    for kind in ("loss", "lr_opt", "batch_opt"):
        assert any(w.startswith(f"{kind}: compute") for w in far["warnings"]), kind

    # The CLI reads the same database and prints the same answer.
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "predict", "--study", "sweeps", "--n-params", "1e9", "--tokens", "2e10",
         "--database-url", db_url, "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == answer
    unknown = subprocess.run(
        [sys.executable, "-m", "app.cli", "predict", "--study", "nope", "--n-params", "1e9", "--tokens", "2e10",
         "--database-url", db_url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert unknown.returncode == 2 and unknown.stderr.strip() == "error: study 'nope' does not exist"


def test_critical_batch_from_stored_curves_recovers_b_crit(api, database):
    with database.transaction() as session:
        study = studies.create_study(session=session, name="batches")
        study_id = study.id
        # One model size at five batch sizes around B_crit (about 2.2e5 tokens at L = 2.1 to 3.8e5 at L = 2.3).
        batches = [2.5e4, 7e4, 2e5, 6e5, 1.8e6]
        made = runs.import_runs(
            session=session,
            study=study,
            rows=[{"n_params": 1e6, "tokens": 1e9, "loss": 2.05, "batch_tokens": b} for b in batches],
        )
        rng = np.random.default_rng(0)
        for run, batch in zip(made, batches, strict=True):
            curves.write_points(
                session=session,
                run_id=run.id,
                points=curve_points(batch, rng, b_star=B_STAR, alpha_b=ALPHA_B),
            )
    fit = inline_fit(api, study_id, {"law": "critical_batch"}, bootstrap=40)
    assert fit["law"] == "critical_batch" and fit["context"]["loss_source"] == "eval"
    assert fit["ci95"]["alpha_b"][0] <= ALPHA_B <= fit["ci95"]["alpha_b"][1]
    assert fit["params"]["alpha_b"] == pytest.approx(ALPHA_B, rel=0.1)
    targets = [t for t in fit["per_target"] if not t["at_edge"]]
    assert len(targets) >= 3
    for target in targets:
        truth = B_STAR / target["target_loss"] ** (1 / ALPHA_B)
        assert target["b_crit"]["value"] == pytest.approx(truth, rel=0.1)
        assert target["b_crit"]["lo"] <= truth <= target["b_crit"]["hi"]
    # The gradient-noise-scale cross-check: B_simple was drawn as B_crit/2, so the ratio is about 2.
    for check in fit["noise_scale_check"]:
        assert check["noise_scale"]["n_runs"] == 5
        assert check["ratio"] == pytest.approx(2.0, rel=0.15)
    # Predict: with no loss fit there is no loss to evaluate B_crit(L) at, and the warning says so.
    answer = _predict(api, study_id, n_params=1e6, tokens=1e9)
    assert answer["critical_batch_size"] is None and answer["fit_ids"] == {"critical_batch": fit["id"]}
    assert any("B_crit is a law of the loss" in w for w in answer["warnings"])
    # With a loss fit: B_crit at the predicted loss, its interval covering the truth there.
    imported = api.post(f"/v1/studies/{study_id}/import", json=loss_rows()).json()["ids"]
    inline_fit(api, study_id, {"law": "chinchilla", "run_ids": imported}, bootstrap=40)
    answer = _predict(api, study_id, n_params=1e8, tokens=1e10)
    b_crit, loss = answer["critical_batch_size"], answer["loss"]["value"]
    assert b_crit["lo"] <= B_STAR / loss ** (1 / ALPHA_B) <= b_crit["hi"]
    assert b_crit["value"] == pytest.approx(B_STAR / loss ** (1 / ALPHA_B), rel=0.1)
    assert any(w.startswith("critical_batch: compute 6e+18 is 1000x beyond") for w in answer["warnings"])


def test_lr_opt_window_is_passed_to_the_fit_recorded_and_checked(api):
    study = api.post("/v1/studies", json={"name": "window", "defaults": {"seq_len": SEQ_LEN}}).json()["id"]
    rows = sweep_rows(np.random.default_rng(3))
    assert api.post(f"/v1/studies/{study}/import", json=rows).status_code == 201
    for body, field in (
        ({"law": "chinchilla", "window": 0.06}, "window applies to lr_opt and batch_opt, not to chinchilla"),
        ({"law": "lr_opt", "window": 0}, "greater than 0"),
        ({"law": "lr_opt", "window": 0.6}, "less than or equal to 0.5"),
    ):
        refused = api.post(f"/v1/studies/{study}/fits", json=body)
        assert refused.status_code == 422 and field in refused.text, refused.text

    import fitting

    arrays = {key: np.array([r[key] for r in rows]) for key in ("N", "D", "lr", "batch", "loss")}
    narrow = fitting.fit("lr_opt", **arrays, form="deepseek", window=0.004, bootstrap=40, seed=0)
    default = fitting.fit("lr_opt", **arrays, form="deepseek", bootstrap=40, seed=0)
    assert narrow.params["b"] != pytest.approx(default.params["b"], rel=1e-6)  # the window matters here

    fit = inline_fit(api, study, {"law": "lr_opt", "form": "deepseek", "window": 0.004}, bootstrap=40)
    assert fit["window"] == 0.004
    assert fit["params"] == pytest.approx(narrow.params, rel=1e-9)
    assert inline_fit(api, study, {"law": "lr_opt", "form": "deepseek"}, bootstrap=40)["window"] == 0.02
