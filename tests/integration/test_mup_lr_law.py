"""A μP study's LR law over real HTTP, on SQLite and PostgreSQL: fitted without a form it is the
"tokens" form (LR_opt = a·D^c, no N), recovers the D exponent of imported sweeps whose optimum
depends on D alone, says why in the fit's context and in every prediction, and predicts the same LR
at two model sizes; the same sweeps in an sp study keep the N-dependent forms, and an explicit N form
in a μP study is warned about. `hyperlaw fits show` and `study show` say the same."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from app.api.schemas import PredictPublic
from app.cli import cli
from app.settings import Settings
from tests.integration.server import ServerThread, inline_fit

A, C = 0.4, -0.25  # LR_opt = A · D^C at the base width, whatever the model size
BASE_WIDTH = 64


@pytest.fixture(scope="module")
def server(db_url):
    with ServerThread(Settings(database_url=db_url, fit_inline_max_bootstrap=100)) as running:
        yield running


def sweep_rows(rng: np.random.Generator) -> list[dict]:
    """LR sweeps of 7 runs on sqrt(2) steps at 2 model sizes × 4 token counts; the optimum set by D."""
    rows = []
    for n_params in (2e5, 8e5):
        for tokens in (2e7, 8e7, 3.2e8, 1.28e9):
            optimum = A * tokens**C
            base = 1.8 + 400 / n_params**0.34 + 2000 / tokens**0.28
            for i in range(-3, 4):
                lr = optimum * np.exp(0.5 * np.log(2.0) * i + 0.1)
                loss = base * np.exp(0.01 * np.log(lr / optimum) ** 2 + rng.normal(0.0, 0.001))
                rows.append({"N": n_params, "D": tokens, "lr": lr, "batch": 4096, "loss": loss})
    return rows


def _study(api, name: str, **body) -> int:
    response = api.post("/v1/studies", json={"name": name, **body})
    assert response.status_code == 201, response.text
    study = response.json()["id"]
    imported = api.post(f"/v1/studies/{study}/import", json=sweep_rows(np.random.default_rng(0)))
    assert imported.status_code == 201, imported.text
    return study


def _lr_at(api, study: int, n_params: float, tokens: float = 1e10) -> tuple[dict, list[str]]:
    response = api.get("/v1/predict", params={"study": study, "n_params": n_params, "tokens": tokens})
    assert response.status_code == 200, response.text
    answer = PredictPublic.model_validate(response.json()).model_dump()
    return answer["lr_opt"], answer["warnings"]


def test_a_mup_studys_lr_law_is_fitted_against_tokens(api):
    study = _study(api, "mup", parametrization="mup", base_d_model=BASE_WIDTH)
    fit = inline_fit(api, study, {"law": "lr_opt"}, bootstrap=40)
    assert fit["form"] == "tokens" and set(fit["params"]) == {"a", "c"}
    assert fit["params"]["c"] == pytest.approx(C, abs=0.02)
    assert fit["ci95"]["c"][0] <= C <= fit["ci95"]["c"][1]
    assert fit["context"]["parametrization"] == "mup" and fit["context"]["base_d_model"] == BASE_WIDTH
    note = fit["context"]["note"]
    assert (
        note.startswith("μP study: the LR law is fitted against tokens") and f"d_model={BASE_WIDTH}" in note
    )
    assert not any("in N" in w for w in fit["warnings"])

    small, warnings = _lr_at(api, study, 1e6)
    large, large_warnings = _lr_at(api, study, 1e10)
    assert small == large  # value and interval: N plays no part
    # Extrapolation is judged in tokens: 1e10 is 8x the sweeps' largest D however large the model
    # (a compute 1e5x the sweeps'); 1e12 tokens is 780x, and said.
    assert not any(w.startswith("lr_opt: ") for w in warnings + large_warnings)
    far = _lr_at(api, study, 1e6, tokens=1e12)[1]
    assert "lr_opt: tokens 1e+12 is 781x beyond the largest fitted sweep (1.28e+09)" in " ".join(far)
    assert small["value"] == pytest.approx(A * 1e10**C, rel=0.1)
    assert small["lo"] <= A * 1e10**C <= small["hi"]
    assert f"lr_opt fit {fit['id']}: {note}" in warnings


def test_the_cli_shows_the_note_and_the_studys_parametrization(api, db_url):
    study = _study(api, "mup", parametrization="mup", base_d_model=BASE_WIDTH)
    fit = inline_fit(api, study, {"law": "lr_opt"}, bootstrap=0)
    runner = CliRunner()
    shown = runner.invoke(
        cli, ["fits", "show", str(fit["id"]), "--database-url", db_url], env={"COLUMNS": "400"}
    )
    assert shown.exit_code == 0, shown.output
    assert fit["context"]["note"] in shown.stdout
    about = runner.invoke(cli, ["study", "show", "mup", "--database-url", db_url], env={"COLUMNS": "400"})
    assert f"parametrization mup (base width d_model={BASE_WIDTH};" in about.stdout


def test_an_sp_study_keeps_the_n_forms_and_an_n_form_in_a_mup_study_is_warned_about(api):
    plain = _study(api, "plain")
    fit = inline_fit(api, plain, {"law": "lr_opt"}, bootstrap=0)
    assert fit["form"] in ("steplaw", "deepseek") and "note" not in fit["context"]
    assert _lr_at(api, plain, 1e6)[0]["value"] != _lr_at(api, plain, 1e10)[0]["value"]

    mup = _study(api, "mup", parametrization="mup", base_d_model=BASE_WIDTH)
    steplaw = inline_fit(api, mup, {"law": "lr_opt", "form": "steplaw"}, bootstrap=0)
    assert steplaw["form"] == "steplaw" and "note" not in steplaw["context"]
    assert any(w.startswith("μP study: form steplaw") for w in steplaw["warnings"])
    # The batch law of a μP study keeps the default comparison.
    batch = api.post(f"/v1/studies/{mup}/fits", json={"law": "batch_opt", "bootstrap": 0})
    assert batch.status_code == 422 and "batch_opt (auto)" in batch.text  # one batch size: no batch sweep
