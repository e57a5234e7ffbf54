"""Law kinds through the service over real HTTP, on SQLite and PostgreSQL: every built-in law
refuses one run (or one sweep, budget, batch size, curve) fewer than `fitting.minimum` with a 422
that names the minimum, and accepts exactly the minimum; and a law kind defined in this test,
registered at run time, gets through the fit and predict routes and the OpenAPI enum without any
change to app code."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from sqlalchemy.orm import Session

import fitting
from app import curves, law_kinds, runs, studies
from app.db.tables import Fit, Run
from app.errors import InvalidInput
from app.law_kinds import FitRequest, Fitted, Query, StoredFit
from app.settings import Settings
from tests.integration.server import ServerThread, inline_fit


def chinchilla(n_params: float, tokens: float) -> float:
    """Hoffmann et al. 2022, eq. 10."""
    return 1.69 + 406.4 / n_params**0.34 + 410.7 / tokens**0.28


@pytest.fixture(scope="module")
def server(db_url):
    with ServerThread(Settings(database_url=db_url, fit_inline_max_bootstrap=100)) as running:
        yield running


def _study(api, name: str) -> int:
    response = api.post("/v1/studies", json={"name": name, "defaults": {"seq_len": 64}})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _import(api, study: int, rows: list[dict]) -> None:
    response = api.post(f"/v1/studies/{study}/import", json=rows)
    assert response.status_code == 201, response.text


def _refused_then_accepted(api, study: int, body: dict, needed: str, add) -> dict:
    """POST `body`: 422 naming `needed`; then `add()` one more unit of data and POST again: done."""
    refused = api.post(f"/v1/studies/{study}/fits", json={"bootstrap": 0, **body})
    assert refused.status_code == 422, refused.text
    assert needed in refused.text, refused.text
    add()
    return inline_fit(api, study, body, bootstrap=0)


@pytest.mark.parametrize("law", ["chinchilla", "chinchilla_equal", "kaplan", "power", "auto"])
def test_each_loss_law_needs_exactly_fittings_minimum(api, law):
    least = fitting.minimum(law).runs
    rng = np.random.default_rng(0)
    grid = [(n, d) for d in (1e9, 3e9, 1e10, 3e10) for n in (1e7, 3e7, 1e8, 3e8)]
    rows = [
        {"N": n, "D": d, "loss": chinchilla(n, d) * math.exp(rng.normal(0, 0.002))} for n, d in grid[:least]
    ]
    study = _study(api, f"min-{law}")
    _import(api, study, rows[:-1])
    fit = _refused_then_accepted(
        api,
        study,
        {"law": law},
        f"needs at least {least} finished runs",
        lambda: _import(api, study, rows[-1:]),
    )
    assert fit["n_points"] == least


def test_the_six_run_chinchilla_fit_is_refused_up_front(api):
    study = _study(api, "six-runs")
    _import(api, study, [{"N": n, "D": 2e9, "loss": chinchilla(n, 2e9)} for n in np.geomspace(1e7, 1e9, 6)])
    refused = api.post(f"/v1/studies/{study}/fits", json={"law": "chinchilla"})
    assert refused.status_code == 422
    assert "the chinchilla law needs at least 7 finished runs with a loss; this study has 6" in refused.text


def _sweep(n_params: float, tokens: float, values: int, axis: str) -> list[dict]:
    """One (N, D) sweep of `values` runs on a bowl in log LR (or log batch) around a known optimum."""
    best = {"lr": 3e-3 * (n_params / 1e8) ** -0.3, "batch": 0.5 * tokens**0.5}[axis]
    rows = []
    for i in range(values):
        value = best * 2.0 ** (i - values / 2 + 0.3)
        row = {"N": n_params, "D": tokens, "lr": 1e-3, "batch": 2.0**16}
        row[axis] = value
        row["loss"] = chinchilla(n_params, tokens) * math.exp(0.01 * math.log(value / best) ** 2)
        rows.append(row)
    return rows


@pytest.mark.parametrize(
    ("law", "axis", "form"), [("lr_opt", "lr", "steplaw"), ("batch_opt", "batch", "deepseek")]
)
def test_each_optimum_law_needs_fittings_sweeps(api, law, axis, form):
    least = fitting.minimum(law, form)
    scales = [(n, 20 * n * r) for n in (1e8, 3e8, 1e9) for r in (1, 4)]
    sweeps = [_sweep(n, d, max(least.runs_per_group, least.values_per_group), axis) for n, d in scales]
    study = _study(api, f"min-{law}")
    for sweep in sweeps[: least.groups - 1]:
        _import(api, study, sweep)
    # A sweep of one run too few does not count.
    _import(api, study, sweeps[least.groups - 1][: least.runs_per_group - 1])
    needed = f"needs >={least.groups} (N, D) sweeps of >={least.runs_per_group} finished runs"
    fit = _refused_then_accepted(
        api,
        study,
        {"law": law, "form": form},
        needed,
        lambda: _import(api, study, sweeps[least.groups - 1][least.runs_per_group - 1 :]),
    )
    assert len(fit["optima"]) == least.groups


def test_isoflop_frontier_needs_fittings_budgets(api):
    least = fitting.minimum("frontier_isoflop")
    budgets = np.logspace(18, 21, least.groups)
    rows = []
    for budget in budgets:
        centre = 0.1 * (budget / 6) ** 0.5
        for n_params in centre * np.exp(np.linspace(-1.5, 1.5, least.runs_per_group)):
            tokens = budget / (6 * n_params)
            rows.append({"N": float(n_params), "D": float(tokens), "loss": chinchilla(n_params, tokens)})
    study = _study(api, "min-isoflop")
    _import(api, study, rows[:-1])  # the last budget one run short
    fit = _refused_then_accepted(
        api,
        study,
        {"law": "frontier_isoflop"},
        f"needs >={least.groups} compute budgets of >={least.runs_per_group} finished runs",
        lambda: _import(api, study, rows[-1:]),
    )
    assert fit["law"] == "frontier_isoflop"


def _curve(batch: float, rng: np.random.Generator) -> list[dict]:
    """Eval losses along S = S_min (1 + B_crit(L)/B) (McCandlish et al. 2018, eq. 2.11)."""
    s_min = np.geomspace(20.0, 2e4, 60)
    loss = 2.0 + 30.0 * s_min**-0.5
    b_crit = 2e6 / loss**2
    steps = np.round(s_min * (1 + b_crit / batch)).astype(int)
    keep = np.concatenate([[True], np.diff(steps) > 0])
    return [
        {"step": int(s), "tokens": float(s * batch), "eval_loss": float(v * math.exp(rng.normal(0, 0.001)))}
        for s, v in zip(steps[keep], loss[keep], strict=True)
    ]


def test_critical_batch_needs_fittings_batch_sizes(api, database):
    least = fitting.minimum("critical_batch").groups
    batches = list(np.geomspace(2.5e4, 1.8e6, least))
    rng = np.random.default_rng(0)

    def add(batch_sizes: list[float]) -> None:
        with database.transaction() as session:
            study = studies.get_study(session=session, study_id=study_id)
            rows = [{"n_params": 1e6, "tokens": 1e9, "loss": 2.05, "batch_tokens": b} for b in batch_sizes]
            for run, batch in zip(
                runs.import_runs(session=session, study=study, rows=rows), batch_sizes, strict=True
            ):
                curves.write_points(session=session, run_id=run.id, points=_curve(batch, rng))

    study_id = _study(api, "min-critical-batch")
    add(batches[:-1])
    fit = _refused_then_accepted(
        api,
        study_id,
        {"law": "critical_batch"},
        f"critical_batch needs finished runs of one model size at >={least} batch sizes",
        lambda: add(batches[-1:]),
    )
    assert fit["context"]["batch_tokens"] == pytest.approx(batches)


# ---------------------------------------------------------------------------- a law kind of the test's own


class MeanLossKind:
    """A toy law kind: the geometric mean of the final losses, with a bootstrap interval over runs.

    It exercises every part of the protocol: its own law name, minimum, selection, loading, fit,
    storage (its own "kind" key, restored without fitting.load_fit) and its own key in /v1/predict.
    """

    name = "mean_loss"
    laws = ("mean_loss",)
    options: tuple[str, ...] = ()
    slots = ("mean_loss",)
    expected: dict[str, str] = {}
    answer_keys = ("mean_loss",)
    minimum = 3

    def slot(self, law: str) -> str:
        return self.name

    def check_options(self, law: str, options: dict[str, Any]) -> dict[str, Any]:
        return {}

    def select(self, *, session: Session, request: FitRequest) -> list[Run]:
        found = runs.fittable_runs(session=session, study_id=request.study_id, run_ids=request.run_ids)
        if len(found) < self.minimum:
            raise InvalidInput(
                f"mean_loss needs {self.minimum} runs; this study has {len(found)}", field="runs"
            )
        return found

    def load(self, *, session: Session, fit: Fit, runs: list[Run]) -> list[float]:
        return [r.loss for r in runs]

    def fit(self, data: Any, *, law: str, options: dict[str, Any], bootstrap: int, seed: int) -> Fitted:
        logs = np.log(np.asarray(data))
        rng = np.random.default_rng(seed)
        draws = [float(np.exp(rng.choice(logs, logs.size).mean())) for _ in range(bootstrap)]
        value = float(np.exp(logs.mean()))
        lo, hi = np.percentile(draws, [2.5, 97.5]).tolist() if draws else (value, value)
        stored = {"kind": "mean_loss", "value": value, "lo": lo, "hi": hi}
        return Fitted(law, {"mean": value}, {"mean": [lo, hi]}, None, [], stored)

    def restore(self, stored: dict[str, Any]) -> Any:
        assert stored["kind"] == "mean_loss"
        return dict(stored)

    def predict(self, stored: Mapping[str, StoredFit], query: Query) -> None:
        if "mean_loss" in stored:
            restored = stored["mean_loss"].restored
            query.answer["mean_loss"] = {k: restored[k] for k in ("value", "lo", "hi")}


@pytest.fixture
def toy_kind():
    kind = MeanLossKind()
    law_kinds.register(kind)
    try:
        yield kind
    finally:
        law_kinds.unregister(kind)


def test_a_law_kind_registered_at_run_time_is_fitted_and_predicted(api, toy_kind):
    losses = [3.1, 3.0, 2.9, 2.95]
    study = _study(api, "toy-kind")
    _import(api, study, [{"N": 1e7 * (i + 1), "D": 1e9, "loss": v} for i, v in enumerate(losses[:2])])
    refused = api.post(f"/v1/studies/{study}/fits", json={"law": "mean_loss"})
    assert refused.status_code == 422 and "mean_loss needs 3 runs; this study has 2" in refused.text
    _import(api, study, [{"N": 1e7 * (i + 3), "D": 1e9, "loss": v} for i, v in enumerate(losses[2:])])
    fit = inline_fit(api, study, {"law": "mean_loss"}, bootstrap=50)
    geometric_mean = math.exp(np.mean(np.log(losses)))
    assert fit["law"] == "mean_loss" and fit["params"]["mean"] == pytest.approx(geometric_mean)
    assert fit["ci95"]["mean"][0] <= geometric_mean <= fit["ci95"]["mean"][1]

    answer = api.get("/v1/predict", params={"study": study, "n_params": 1e9, "tokens": 2e10})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["fit_ids"] == {"mean_loss": fit["id"]}
    assert body["mean_loss"]["value"] == pytest.approx(geometric_mean)
    assert body["loss"] is None  # the built-in kinds are unfitted, and say so
    assert any(w.startswith("no loss fit for this study") for w in body["warnings"])

    schema = api.get("/openapi.json").json()["components"]["schemas"]["FitCreate"]
    assert "mean_loss" in schema["properties"]["law"]["enum"]
    unknown = api.post(f"/v1/studies/{study}/fits", json={"law": "no_such_law"})
    assert unknown.status_code == 422 and "mean_loss" in unknown.text  # the message lists every law


def test_envelope_frontier_needs_fittings_curves(api, database):
    least = fitting.minimum("frontier_envelope").groups
    sizes = np.logspace(7, 9.5, least)

    def add(n_params: float) -> None:
        seen = np.logspace(np.log10(n_params), np.log10(n_params * 300), 40)
        with database.transaction() as session:
            study = studies.get_study(session=session, study_id=study_id)
            last = float(seen[-1])
            rows = [{"n_params": n_params, "tokens": last, "loss": chinchilla(n_params, last)}]
            [run] = runs.import_runs(session=session, study=study, rows=rows)
            points = [
                {"step": i + 1, "tokens": float(t), "train_loss": chinchilla(n_params, float(t))}
                for i, t in enumerate(seen)
            ]
            curves.write_points(session=session, run_id=run.id, points=points)

    study_id = _study(api, "min-envelope")
    for n_params in sizes[:-1]:
        add(n_params)
    refused = api.post(f"/v1/studies/{study_id}/fits", json={"law": "frontier_envelope", "bootstrap": 0})
    assert refused.status_code == 422, refused.text
    assert f"of >={least} finished runs of >={least} model sizes" in refused.text
    add(sizes[-1])
    # The count is necessary, not sufficient: the gate passes, and fitting itself judges the curves
    # (three sizes give too few FLOP values where an intermediate size wins, and it says so).
    accepted = api.post(f"/v1/studies/{study_id}/fits", json={"law": "frontier_envelope", "bootstrap": 0})
    assert accepted.status_code == 201, accepted.text
    fit = api.get(f"/v1/fits/{accepted.json()['id']}").json()
    assert fit["n_points"] == least
    assert fit["status"] == "done" or "intermediate model size wins" in fit["error"]
