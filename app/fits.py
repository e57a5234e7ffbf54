"""Fits: owner of the `fits` table, and the job that computes one.

A fit is created `queued` on a snapshot of a study's finished runs (their ids and a hash
of the data), computed by `run_fit` (reading and writing in short transactions; no
transaction is open while the law is fitted), and stored with the result's `to_dict()`,
so a prediction restores it with `fitting.load_fit` instead of refitting.

Three families of law: loss laws (LOSS_LAWS, fitted to final losses), hyperparameter optima
("lr_opt", "batch_opt": power laws of the best LR and batch size of (N, D) sweeps, Step Law or
DeepSeek form) and "critical_batch" (Kaplan's B_crit(L) from the curves of runs of one model size
at several batch sizes; see app/critical_batch.py), and the compute-optimal frontiers of
Hoffmann et al.'s approaches 1 and 2 ("frontier_envelope", "frontier_isoflop"; app/frontiers.py).
A law's options (the optimum's form and bowl window) are kept in the fit's `run_filter` beside
the run selection.
Owner functions take the session as a keyword and never commit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app import critical_batch, frontiers
from app import runs as runs_module
from app.db.tables import Fit, utcnow
from app.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)

LOSS_LAWS = ("chinchilla", "chinchilla_equal", "kaplan", "power", "auto")
HPARAM_LAWS = ("lr_opt", "batch_opt")
LAWS = (*LOSS_LAWS, *HPARAM_LAWS, "critical_batch", *frontiers.FRONTIER_LAWS)
# The laws a stored loss fit can carry ("auto" stores the form it chose).
STORED_LOSS_LAWS = ("chinchilla", "chinchilla_equal", "kaplan", "power")
FORMS = ("steplaw", "deepseek", "auto")
# Fewest runs for a fit: one more than the law's free parameters, so it is not an
# interpolation through every point (chinchilla: E, A, B, α, β; α = β drops one; Kaplan
# joint: N_c, D_c, α_N, α_D; a single power law L = E + A·C^-α: three). `auto` holds out
# the largest scale, so it needs the most.
MIN_RUNS = {"chinchilla": 6, "chinchilla_equal": 5, "kaplan": 5, "power": 4, "auto": 8}
# Fewest sweeps with an optimum: one more than the power law's parameters (Step Law LR = a N^b D^c:
# three; Step Law B = a D^c and DeepSeek a C^b: two); "auto" needs what its largest form needs.
MIN_SWEEPS = {
    ("lr_opt", "steplaw"): 4, ("lr_opt", "deepseek"): 3, ("lr_opt", "auto"): 4,
    ("batch_opt", "steplaw"): 3, ("batch_opt", "deepseek"): 3, ("batch_opt", "auto"): 3,
}  # fmt: skip
# A sweep locates its optimum with a quadratic in log LR (three coefficients) fitted to at least
# six runs over at least three distinct values (fitting.hparams).
SWEEP_MIN_RUNS, SWEEP_MIN_VALUES = 6, 3
# A wider window reaches runs far from the optimum, where the landscape is no longer a bowl.
MAX_WINDOW = 0.5
_SWEPT = {"lr_opt": ("lr", "learning rates"), "batch_opt": ("batch_tokens", "batch sizes")}


def _data_hash(rows: Sequence[tuple[float, float, float]]) -> str:
    return hashlib.sha256(json.dumps(sorted(rows)).encode()).hexdigest()


def create_fit(
    *,
    session: Session,
    study_id: int,
    law: str,
    bootstrap: int,
    seed: int = 0,
    run_ids: Sequence[int] | None = None,
    form: str | None = None,
    window: float | None = None,
) -> Fit:
    """Queue a fit of `law` on the study's finished runs (or the given subset of them).

    form: the optimum law's form for "lr_opt" / "batch_opt" (default "auto"); window: the log-loss
    distance from each sweep's best run within which runs model its bowl (default fitting's 0.02).
    Too few usable runs is an InvalidInput that says what is missing.
    """
    if law not in LAWS:
        raise InvalidInput(f"law {law!r} is unknown: use one of {', '.join(LAWS)}", field="law")
    for name, value in (("form", form), ("window", window)):
        if value is not None and law not in HPARAM_LAWS:
            raise InvalidInput(f"{name} applies to lr_opt and batch_opt, not to {law}", field=name)
    if window is not None and not 0.0 < window <= MAX_WINDOW:
        raise InvalidInput(
            f"window ({window}) must be in (0, {MAX_WINDOW}]: a log-loss distance such as 0.02 (2%)",
            field="window",
        )
    if law in HPARAM_LAWS:
        form = form or "auto"
        if form not in FORMS:
            raise InvalidInput(f"form {form!r} is unknown: use one of {', '.join(FORMS)}", field="form")
        runs = _sweep_runs(session=session, study_id=study_id, run_ids=run_ids, law=law, form=form)
        data = [(runs_module.law_params(r), r.tokens, r.lr, r.batch_tokens, r.loss) for r in runs]
    elif law == "critical_batch":
        runs = _critical_batch_runs(session=session, study_id=study_id, run_ids=run_ids)
        data = [(runs_module.law_params(r), r.tokens, r.batch_tokens, r.loss) for r in runs]
    elif law in frontiers.FRONTIER_LAWS:
        runs = runs_module.fittable_runs(session=session, study_id=study_id, run_ids=run_ids)
        if law == "frontier_envelope":
            runs = frontiers.curve_runs(session=session, runs=runs)
        shortfall = (
            frontiers.envelope_shortfall if law == "frontier_envelope" else frontiers.isoflop_shortfall
        )(runs)
        if shortfall:
            raise InvalidInput(shortfall, field="runs")
        data = [(runs_module.law_params(r), r.tokens, r.loss) for r in runs]
    else:
        runs = runs_module.fittable_runs(session=session, study_id=study_id, run_ids=run_ids)
        needed = MIN_RUNS[law]
        if len(runs) < needed:
            raise InvalidInput(
                f"the {law} law needs at least {needed} finished runs with a loss; this study has "
                f"{len(runs)}: {needed - len(runs)} more needed",
                field="runs",
            )
        data = [(runs_module.law_params(r), r.tokens, r.loss) for r in runs]
    run_filter: dict[str, Any] = {"run_ids": list(run_ids)} if run_ids is not None else {"status": "done"}
    if form is not None:
        run_filter["form"] = form
    if window is not None:
        run_filter["window"] = window
    fit = Fit(
        study_id=study_id,
        law=law,
        bootstrap=bootstrap,
        seed=seed,
        run_filter=run_filter,
        run_ids=[r.id for r in runs],
        data_hash=_data_hash(data),
        n_points=len(runs),
        status="queued",
    )
    session.add(fit)
    session.flush()
    return fit


def _sweep_runs(
    *, session: Session, study_id: int, run_ids: Sequence[int] | None, law: str, form: str
) -> list:
    """Finished runs with the swept hyperparameter; InvalidInput unless enough sweeps can locate an optimum."""
    column, plural = _SWEPT[law]
    runs = [
        r
        for r in runs_module.fittable_runs(session=session, study_id=study_id, run_ids=run_ids)
        if getattr(r, column) is not None
    ]
    sweeps: dict[tuple[float, float], list] = defaultdict(list)
    for run in runs:
        sweeps[runs_module.law_params(run), run.tokens].append(run)
    usable = sum(
        len(members) >= SWEEP_MIN_RUNS and len({getattr(r, column) for r in members}) >= SWEEP_MIN_VALUES
        for members in sweeps.values()
    )
    needed = MIN_SWEEPS[law, form]
    if usable < needed:
        raise InvalidInput(
            f"{law} ({form}) needs >={needed} (N, D) sweeps of >={SWEEP_MIN_RUNS} finished runs over "
            f">={SWEEP_MIN_VALUES} {plural} each; this study has {usable}",
            field="runs",
        )
    return runs


def _critical_batch_runs(*, session: Session, study_id: int, run_ids: Sequence[int] | None) -> list:
    """The runs of the model size with the most batch sizes; InvalidInput unless there are enough."""
    group = critical_batch.best_group(
        critical_batch.candidate_runs(session=session, study_id=study_id, run_ids=run_ids)
    )
    have = critical_batch.batch_sizes(group)
    if have < critical_batch.MIN_BATCH_SIZES:
        raise InvalidInput(
            f"critical_batch needs finished runs of one model size at >={critical_batch.MIN_BATCH_SIZES} batch "
            f"sizes, each with a stored loss curve of >={critical_batch.MIN_POINTS} points; this study has "
            f"{have} batch size(s) at its best-covered model size",
            field="runs",
        )
    return group


def get_fit(*, session: Session, fit_id: int) -> Fit:
    fit = session.get(Fit, fit_id)
    if fit is None:
        raise NotFound("fit", fit_id)
    return fit


def latest_fit(*, session: Session, study_id: int, law: str | None = None) -> Fit | None:
    """The study's most recent finished fit (of `law`, when given)."""
    query = select(Fit).where(Fit.study_id == study_id, Fit.status == "done")
    if law is not None:
        query = query.where(Fit.law == law)
    return session.scalar(query.order_by(Fit.id.desc()).limit(1))


def latest_fit_ids(*, session: Session, study_id: int, loss_law: str | None = None) -> dict[str, int]:
    """Id of the study's most recent finished fit per kind ("loss", "lr_opt", "batch_opt",
    "critical_batch"), in one query; the loss fit restricted to `loss_law` when given."""
    rows = session.execute(
        select(Fit.law, func.max(Fit.id))
        .where(Fit.study_id == study_id, Fit.status == "done")
        .group_by(Fit.law)
    ).all()
    latest: dict[str, int] = {}
    for law, fit_id in rows:
        if law in STORED_LOSS_LAWS or law == loss_law:
            if loss_law is not None and law != loss_law:
                continue
            kind = "loss"
        elif law in (*HPARAM_LAWS, "critical_batch", *frontiers.FRONTIER_LAWS):
            kind = law
        else:  # a kind of fit predictions do not use
            continue
        latest[kind] = max(fit_id, latest.get(kind, fit_id))
    return latest


def list_fits(*, session: Session, study_id: int) -> list[Fit]:
    return list(session.scalars(select(Fit).where(Fit.study_id == study_id).order_by(Fit.id)))


def fit_data(*, session: Session, fit: Fit) -> dict[str, Any]:
    """The snapshot a fit was created on, as arrays for fitting.fit (and the runs' seq_len, when
    they all share one, so a batch size in tokens can be given in sequences too)."""
    runs = runs_module.fittable_runs(session=session, study_id=fit.study_id, run_ids=fit.run_ids)
    data: dict[str, Any] = {
        "N": [runs_module.law_params(r) for r in runs],
        "D": [r.tokens for r in runs],
        "loss": [r.loss for r in runs],
    }
    if fit.law in HPARAM_LAWS:
        data["lr"] = [r.lr for r in runs]
        data["batch"] = [r.batch_tokens for r in runs]
    seq_lens = {(r.spec or {}).get("seq_len") for r in runs}
    data["seq_len"] = seq_lens.pop() if len(seq_lens) == 1 else None
    return data


def start(*, session: Session, fit_id: int) -> bool:
    """Mark a queued fit running; False when someone else took it (one conditional UPDATE,
    so two processes can never both start the same fit)."""
    taken = session.execute(
        update(Fit)
        .where(Fit.id == fit_id, Fit.status == "queued")
        .values(status="running", started_at=utcnow(), attempts=Fit.attempts + 1)
    ).rowcount
    if not taken:
        get_fit(session=session, fit_id=fit_id)  # NotFound for an unknown id
    return taken == 1


def complete(*, session: Session, fit_id: int, result: Any, context: dict[str, Any] | None = None) -> Fit:
    """Store a computed fitting.Fit, OptimumFit or CriticalBatchCurve; `context` (what a prediction
    needs beyond the result: seq_len, the runs' scale, the noise-scale check) goes beside it."""
    fit = get_fit(session=session, fit_id=fit_id)
    fit.status = "done"
    if hasattr(result, "b_star"):
        fit.law = "critical_batch"
    elif not hasattr(result, "approach"):  # a frontier keeps the law it was asked as
        fit.law = str(getattr(result, "law", fit.law))
    fit.params, fit.ci95 = _params_and_intervals(result)
    objective = getattr(result, "objective", None)
    fit.objective = float(objective) if objective is not None else None
    fit.warnings = [str(w) for w in result.warnings]
    stored = result.to_dict()
    if context:
        stored["context"] = context
    # Loss fits are stored as they are (their NaN-free dicts restore exactly); the others may hold
    # NaN bounds (no bootstrap), which JSON columns refuse on PostgreSQL: null instead.
    fit.result = stored if fit.law in STORED_LOSS_LAWS else _json_safe(stored)
    fit.finished_at = utcnow()
    return fit


def _params_and_intervals(result: Any) -> tuple[dict[str, float], dict[str, list[float]] | None]:
    estimates = None
    if hasattr(result, "b_star"):  # a critical-batch curve: B* and alpha_B are its parameters
        estimates = {"b_star": result.b_star, "alpha_b": result.alpha_b}
    elif hasattr(result, "approach"):  # a frontier: N_opt = k_n C^a, D_opt = k_d C^b
        estimates = {
            "a": result.exponent_n,
            "b": result.exponent_d,
            "k_n": result.coef_n,
            "k_d": result.coef_d,
        }
    if estimates is not None:
        params = {k: float(e.value) for k, e in estimates.items()}
        intervals = {k: [float(e.lo), float(e.hi)] for k, e in estimates.items()}
        finite = all(math.isfinite(v) for pair in intervals.values() for v in pair)
        return params, intervals if finite else None
    params = {k: float(v) for k, v in result.params.items()}
    if not len(result.draws):
        return params, None
    return params, {k: [float(lo), float(hi)] for k, (lo, hi) in result.ci(0.95).items()}


def _json_safe(value: Any) -> Any:
    """NaN and infinities to None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def fail(*, session: Session, fit_id: int, error: str) -> Fit:
    fit = get_fit(session=session, fit_id=fit_id)
    fit.status = "failed"
    fit.error = error
    fit.finished_at = utcnow()
    return fit


def run_fit(database, fit_id: int, *, on_done=None) -> str:
    """Compute a queued fit: read its data, fit with no transaction open, store the result.

    The one broad catch of the fit job: any failure ends as status `failed` with the
    error, never as a fit stuck in `running`. Returns the final status.
    """
    import fitting

    started = time.perf_counter()
    try:
        with database.transaction() as session:
            if not start(session=session, fit_id=fit_id):
                return get_fit(session=session, fit_id=fit_id).status
            fit = get_fit(session=session, fit_id=fit_id)
            law, bootstrap, seed = fit.law, fit.bootstrap, fit.seed
            form = (fit.run_filter or {}).get("form", "auto")
            window = (fit.run_filter or {}).get("window")
            if law in ("critical_batch", *frontiers.FRONTIER_LAWS):
                group = runs_module.fittable_runs(session=session, study_id=fit.study_id, run_ids=fit.run_ids)
            if law == "critical_batch":
                run_curves = critical_batch.load_curves(session=session, runs=group)
            elif law == "frontier_envelope":
                points = frontiers.envelope_points(session=session, runs=group)
            elif law not in frontiers.FRONTIER_LAWS:
                data = fit_data(session=session, fit=fit)
        context = None
        if law == "critical_batch":
            result, context = critical_batch.fit_curves(run_curves, bootstrap=bootstrap, seed=seed)
        elif law == "frontier_envelope":
            result, context = frontiers.fit_envelope(points, bootstrap=bootstrap, seed=seed)
        elif law == "frontier_isoflop":
            result, context = frontiers.fit_isoflop(group, bootstrap=bootstrap, seed=seed)
        elif law in HPARAM_LAWS:
            swept = {"lr": data["lr"]} if law == "lr_opt" else {}
            if all(b is not None for b in data["batch"]):
                swept["batch"] = data["batch"]  # also a sweep axis where a group varies it
            result = fitting.fit(
                law,
                loss=data["loss"],
                N=data["N"],
                D=data["D"],
                form=form,
                bootstrap=bootstrap,
                seed=seed,
                **({"window": window} if window is not None else {}),
                **swept,
            )
            context = {"seq_len": data["seq_len"]}
        else:
            if law == "power":  # one input: the compute C = 6·N·D (Kaplan et al. 2020, §2.1)
                inputs = {"C": [6.0 * n * d for n, d in zip(data["N"], data["D"], strict=True)]}
            else:
                inputs = {"N": data["N"], "D": data["D"]}
            result = fitting.fit(law, loss=data["loss"], bootstrap=bootstrap, seed=seed, **inputs)
        with database.transaction() as session:
            complete(session=session, fit_id=fit_id, result=result, context=context)
        status = "done"
    except Exception as error:  # the fit job's boundary: always leave a terminal status
        log.exception("fit %s failed", fit_id)
        message = str(error) if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"
        with database.transaction() as session:
            fail(session=session, fit_id=fit_id, error=message)
        status = "failed"
    if on_done is not None:
        on_done(status, time.perf_counter() - started)
    return status


def recover_stale(
    *,
    session: Session,
    queued_grace_s: float,
    running_timeout_s: float,
    max_attempts: int,
    now: datetime | None = None,
) -> list[int]:
    """Fits whose process died, made computable again; returns the ids to run now.

    A fit `running` since more than `running_timeout_s` lost its process: it is queued again,
    or `failed` once it has used `max_attempts`. A fit `queued` for more than `queued_grace_s`
    was never started (its API process died before the background job ran). Run each
    returned id with `run_fit`, whose conditional start lets only one process take it.
    """
    now = now or utcnow()
    stale = session.scalars(
        select(Fit)
        .where(Fit.status == "running", Fit.started_at < now - timedelta(seconds=running_timeout_s))
        .with_for_update(skip_locked=True)
    ).all()
    for fit in stale:
        if fit.attempts >= max_attempts:
            fit.status, fit.finished_at = "failed", now
            fit.error = f"the process computing this fit stopped {fit.attempts} time(s); not retried"
        else:
            fit.status = "queued"
    session.flush()
    waiting = select(Fit.id).where(
        Fit.status == "queued", Fit.created_at < now - timedelta(seconds=queued_grace_s)
    )
    return list(session.scalars(waiting.order_by(Fit.id)))


def run_stale(
    database, *, queued_grace_s: float, running_timeout_s: float, max_attempts: int, on_done=None
) -> dict[int, str]:
    """Recover the fits whose process died and compute them here; {fit id: final status}."""
    with database.transaction() as session:
        fit_ids = recover_stale(
            session=session,
            queued_grace_s=queued_grace_s,
            running_timeout_s=running_timeout_s,
            max_attempts=max_attempts,
        )
    outcome = {}
    for fit_id in fit_ids:
        log.warning("fit %s lost its process: computing it here", fit_id)
        outcome[fit_id] = run_fit(database, fit_id, on_done=on_done)
    return outcome
