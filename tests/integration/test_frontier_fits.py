"""Hoffmann et al.'s approaches 1 and 2 through the service, beside approach 3, over real HTTP on
SQLite and PostgreSQL: IsoFLOP runs and loss curves of a known Chinchilla law give frontier fits
whose allocation exponent a = beta / (alpha + beta) lies in their intervals, and /v1/predict shows
the three approaches' N_opt side by side (agreeing here, since one law made all the data)."""

from __future__ import annotations

import numpy as np
import pytest

from app import curves, runs, studies
from app.api.schemas import PredictPublic
from app.law_kinds.frontier import isoflop_budgets
from app.settings import Settings
from tests.integration.server import ServerThread, inline_fit

E, A, B, ALPHA, BETA = 1.69, 406.4, 410.7, 0.34, 0.28  # Hoffmann et al. 2022, eq. 10
A_TRUE = BETA / (ALPHA + BETA)  # N_opt ∝ C^a (their eq. 4)
G = (ALPHA * A / (BETA * B)) ** (1 / (ALPHA + BETA))  # N_opt = G (C/6)^a


def chinchilla(n_params, tokens):
    return E + A / np.asarray(n_params) ** ALPHA + B / np.asarray(tokens) ** BETA


@pytest.fixture(scope="module")
def server(db_url):
    with ServerThread(Settings(database_url=db_url, fit_inline_max_bootstrap=200)) as running:
        yield running


def test_budgets_group_runs_within_a_factor():
    labels = isoflop_budgets([1.00e18, 1.03e18, 0.98e18, 4e18, 4.1e18, 1.6e19])
    assert labels[0] == labels[1] == labels[2] == pytest.approx((1.00 * 1.03 * 0.98) ** (1 / 3) * 1e18)
    assert labels[3] == labels[4] != labels[0] and labels[5] not in labels[:5]


def test_the_three_approaches_side_by_side(api, database):
    study = api.post("/v1/studies", json={"name": "frontiers"}).json()["id"]
    assert api.post(f"/v1/studies/{study}/fits", json={"law": "frontier_isoflop"}).status_code == 422

    # Approach 2's design: 5 budgets 4x apart, 7 sizes around each optimum, tokens C/6N rounded
    # to whole 2048-token batches (so a budget's runs differ slightly in compute, as a real design).
    rng = np.random.default_rng(0)
    rows = []
    for budget in np.logspace(18, 18 + 4 * np.log10(4), 5):
        for n_params in G * (budget / 6) ** A_TRUE * np.exp(np.linspace(-1.8, 1.8, 7)):
            tokens_ = np.floor(budget / (6 * n_params) / 2048) * 2048
            loss = chinchilla(n_params, tokens_) * np.exp(rng.normal(0, 0.002))
            rows.append({"N": n_params, "D": tokens_, "loss": float(loss)})
    assert api.post(f"/v1/studies/{study}/import", json=rows).status_code == 201
    isoflop = inline_fit(api, study, {"law": "frontier_isoflop"}, bootstrap=100)
    assert isoflop["law"] == "frontier_isoflop"
    assert isoflop["ci95"]["a"][0] <= A_TRUE <= isoflop["ci95"]["a"][1]
    assert isoflop["params"]["a"] == pytest.approx(A_TRUE, abs=0.03)

    # Imported runs have no curves: approach 1 says what it needs.
    refused = api.post(f"/v1/studies/{study}/fits", json={"law": "frontier_envelope"})
    assert refused.status_code == 422 and "imported runs have no curves" in refused.text

    # Approach 1's data: 12 model sizes, each run's curve of 40 points up to 300 tokens per parameter.
    with database.transaction() as session:
        owner = studies.get_study(session=session, study_id=study)
        for n_params in np.logspace(7, 9.5, 12):
            seen = np.logspace(np.log10(n_params), np.log10(n_params * 300), 40)
            [run] = runs.import_runs(
                session=session,
                study=owner,
                rows=[
                    {"n_params": n_params, "tokens": seen[-1], "loss": float(chinchilla(n_params, seen[-1]))}
                ],
            )
            curves.write_points(session=session, run_id=run.id, points=[
                {"step": i + 1, "tokens": float(t), "train_loss": float(chinchilla(n_params, t)), "eval_loss": None,
                 "lr": None, "noise_scale": None, "wall_time": None}
                for i, t in enumerate(seen)
            ])  # fmt: skip
    envelope = inline_fit(api, study, {"law": "frontier_envelope"}, bootstrap=100)
    assert envelope["params"]["a"] == pytest.approx(A_TRUE, abs=0.03)
    assert envelope["n_points"] == 12  # only the runs with curves

    loss = inline_fit(api, study, {"law": "chinchilla"}, bootstrap=100)
    compute = 6 * 1e9 * 2e10
    response = api.get("/v1/predict", params={"study": study, "n_params": 1e9, "tokens": 2e10})
    assert response.status_code == 200, response.text
    answer = PredictPublic.model_validate(response.json()).model_dump()
    approaches = answer["compute_optimal_approaches"]
    assert [approaches[f"approach_{i}"]["fit_id"] for i in (1, 2, 3)] == [
        envelope["id"],
        isoflop["id"],
        loss["id"],
    ]
    truth = G * (compute / 6) ** A_TRUE
    for i in (1, 2, 3):
        n_opt = approaches[f"approach_{i}"]["n_params"]
        assert n_opt["value"] == pytest.approx(truth, rel=0.25), i
    assert approaches["approach_3"]["n_params"] == answer["compute_optimal"]["n_params"]
    # Approach 2 also answers L_opt at this compute, from the law through its budgets' minima.
    sizes = np.geomspace(1e7, 1e11, 20_001)
    true_l_opt = float(np.min(chinchilla(sizes, compute / (6 * sizes))))
    l_opt = approaches["approach_2"]["loss"]
    assert l_opt["value"] == pytest.approx(true_l_opt, rel=0.01)
    assert l_opt["lo"] <= l_opt["value"] <= l_opt["hi"]
    assert approaches["approach_1"]["loss"] is None and approaches["approach_3"]["loss"] is None
    assert answer["fit_ids"]["frontier_isoflop"] == isoflop["id"]
    assert not any("no frontier" in w for w in answer["warnings"])  # optional laws are never asked for


def test_budgets_are_found_by_recorded_flops_and_labelled_in_6nd():
    # Two budgets whose runs' 6ND spread 1.6x (attention's share differs by shape) but whose recorded
    # FLOPs agree: grouped by the FLOPs, each labelled by the geometric mean of its 6ND.
    recorded = [1.0e18, 1.01e18, 1.02e18, 4.0e18, 4.04e18]
    six_nd = [0.6e18, 0.8e18, 0.96e18, 2.4e18, 3.8e18]
    labels = isoflop_budgets(recorded, label=six_nd)
    assert labels[0] == labels[1] == labels[2] == pytest.approx((0.6 * 0.8 * 0.96) ** (1 / 3) * 1e18)
    assert labels[3] == labels[4] == pytest.approx((2.4 * 3.8) ** 0.5 * 1e18)


def test_five_run_budgets_through_the_service(api):
    """A common published design, 5 model sizes per budget: fitted (not refused), the small-sweep
    rule named in the fit's warnings and in every budget's optimum, each with its loss there."""
    study = api.post("/v1/studies", json={"name": "five-run budgets"}).json()["id"]
    rng = np.random.default_rng(1)
    rows = []
    for budget in np.logspace(18, 20, 6):
        for n_params in G * (budget / 6) ** A_TRUE * np.exp(np.linspace(-1.6, 1.6, 5)):
            tokens_ = budget / (6 * n_params)
            rows.append(
                {
                    "N": n_params,
                    "D": tokens_,
                    "loss": float(chinchilla(n_params, tokens_) * np.exp(rng.normal(0, 0.002))),
                }
            )
    assert api.post(f"/v1/studies/{study}/import", json=rows).status_code == 201
    fit = inline_fit(api, study, {"law": "frontier_isoflop"}, bootstrap=100)
    assert fit["params"]["a"] == pytest.approx(A_TRUE, abs=0.03)
    assert any("small-sweep rule" in w for w in fit["warnings"])
    # L_opt(C) = E + A C^-gamma through the budgets' optimum losses (6 budgets: the offset form),
    # gamma = alpha beta / (alpha + beta) along the frontier of the law that made the data.
    assert fit["params"]["loss_gamma"] == pytest.approx(ALPHA * BETA / (ALPHA + BETA), abs=0.04)
    assert fit["ci95"]["loss_gamma"][0] < fit["params"]["loss_gamma"] < fit["ci95"]["loss_gamma"][1]
    optima = api.get(f"/v1/fits/{fit['id']}").json()["optima"]
    assert len(optima) == 6 and {o["located_by"] for o in optima} == {"vertex"}
    for optimum in optima:
        sizes = np.geomspace(1e6, 1e12, 100_001)
        best = float(np.min(chinchilla(sizes, optimum["compute"] / (6 * sizes))))
        assert optimum["loss"]["value"] == pytest.approx(best, rel=0.005)
