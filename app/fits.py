"""Fits: owner of the `fits` table, and the job that computes one.

A fit is created `queued` on a snapshot of a study's finished runs (their ids and a hash
of the data); it is a job of the same queue as runs (app/worker/queue.py claims it, holds it by
heartbeat, requeues it when its process dies; app/worker/fit_jobs.py runs it), computed by
`run_fit` (reading and writing in short transactions; no transaction is open while the law is
fitted), and stored with the result's `to_dict()`
(which names its kind), so a prediction restores it instead of refitting.

While it is computed a fit reports its progress (`replicates_done`, written between batches of
bootstrap replicates by `FitWatch`), which is also where it stops: when it was cancelled
(`cancel_fit`) or requeued meanwhile, when its process is shutting down (it goes back to the
queue, its attempt not counted) and when it outlives the time limit (it fails, saying so).

What a law needs, how it is fitted and stored comes from its law kind (app/law_kinds/): this
module knows no law by name. A law's options (the optimum's form and bowl window) are kept in
the fit's `run_filter` beside the run selection.
Owner functions take the session as a keyword and never commit.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app import law_kinds
from app import runs as runs_module
from app.db.tables import Fit, Run, utcnow
from app.errors import Conflict, InvalidInput, NotFound
from app.law_kinds import FitRequest, Fitted, LawKind
from app.worker import queue

log = logging.getLogger(__name__)

# Least time between two progress writes of one fit: a fit of small batches does not write per batch.
PROGRESS_EVERY_S = 0.5


class FitStopped(Exception):
    """Raised from a fit's progress callback to stop computing it."""


class FitLost(FitStopped):
    """The fit is no longer held by this worker (cancelled, or requeued): stop, write nothing."""


class FitInterrupted(FitStopped):
    """This process is shutting down: the fit goes back to the queue for another process."""


class FitTimeLimit(FitStopped):
    """The fit ran past the time limit (HYPERLAW_FIT_TIME_LIMIT_S): it fails with this message."""


def _data_hash(runs: Sequence[Any]) -> str:
    """A hash of what the fit sees of each run: N, tokens, LR, batch size and loss."""
    rows = [[runs_module.n_for_laws(r), r.tokens, r.lr, r.batch_tokens, r.loss] for r in runs]
    return hashlib.sha256(json.dumps(sorted(rows, key=repr)).encode()).hexdigest()


def kind_of(law: str) -> LawKind:
    """The law kind of `law`; InvalidInput listing the known laws."""
    kind = law_kinds.for_law(law)
    if kind is None:
        raise InvalidInput(f"law {law!r} is unknown: use one of {', '.join(law_kinds.laws())}", field="law")
    return kind


def check_options(kind: LawKind, law: str, options: dict[str, Any]) -> dict[str, Any]:
    """The options the kind takes, checked and with defaults; InvalidInput for one it does not take."""
    for name, value in options.items():
        if value is not None and name not in kind.options:
            takers = " and ".join(law_kinds.taking_option(name)) or "no law"
            raise InvalidInput(f"{name} applies to {takers}, not to {law}", field=name)
    return kind.check_options(law, {k: v for k, v in options.items() if v is not None})


def create_fit(
    *,
    session: Session,
    study_id: int,
    law: str,
    bootstrap: int,
    seed: int = 0,
    run_ids: Sequence[int] | None = None,
    **options: Any,
) -> Fit:
    """Queue a fit of `law` on the study's finished runs (or the given subset of them).

    options: what the law's kind takes (lr_opt / batch_opt: form, default "auto", and window, the
    log-loss distance from each sweep's best run within which runs model its bowl). Too few usable
    runs is an InvalidInput that names the minimum, which comes from fitting itself.
    """
    kind = kind_of(law)
    checked = check_options(kind, law, options)
    if run_ids is not None:
        _check_run_ids(session, study_id, run_ids)
    request = FitRequest(study_id=study_id, law=law, run_ids=run_ids, options=checked)
    runs = kind.select(session=session, request=request)
    run_filter: dict[str, Any] = {"run_ids": list(run_ids)} if run_ids is not None else {"status": "done"}
    run_filter.update(checked)
    fit = Fit(
        study_id=study_id,
        law=law,
        bootstrap=bootstrap,
        seed=seed,
        run_filter=run_filter,
        run_ids=[r.id for r in runs],
        data_hash=_data_hash(runs),
        n_points=len(runs),
        status="queued",
    )
    session.add(fit)
    session.flush()
    return fit


def _check_run_ids(session: Session, study_id: int, run_ids: Sequence[int]) -> None:
    """InvalidInput listing the `run_ids` that are no run of the study: a fit on fewer runs than asked
    for would be silently wrong. (Runs that exist but are not finished are the kind's to judge.)"""
    asked = sorted(set(run_ids))
    found = set()
    for start in range(0, len(asked), 500):  # bounded IN lists: SQLite caps a statement's variables
        chunk = asked[start : start + 500]
        found.update(session.scalars(select(Run.id).where(Run.study_id == study_id, Run.id.in_(chunk))))
    missing = [i for i in asked if i not in found]
    if missing:
        shown = ", ".join(str(i) for i in missing[:20]) + (
            f" and {len(missing) - 20} more" if len(missing) > 20 else ""
        )
        raise InvalidInput(
            f"run_ids: {len(missing)} of them are no run of study {study_id} ({shown}): list runs of this "
            f"study (GET /v1/runs?study={study_id}), or leave run_ids out to fit every finished run",
            field="run_ids",
        )


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
    """Id of the study's most recent finished fit per slot of its law kind ("loss", "lr_opt",
    "batch_opt", "critical_batch", ...), in one query; the loss fit restricted to `loss_law` when given."""
    rows = session.execute(
        select(Fit.law, func.max(Fit.id))
        .where(Fit.study_id == study_id, Fit.status == "done")
        .group_by(Fit.law)
    ).all()
    latest: dict[str, int] = {}
    for law, fit_id in rows:
        kind = law_kinds.for_law(law)
        if kind is None:  # a law no kind knows any more: predictions cannot use it
            continue
        slot = kind.slot(law)
        if loss_law is not None and slot == "loss" and law != loss_law:
            continue
        latest[slot] = max(fit_id, latest.get(slot, fit_id))
    return latest


def list_fits(*, session: Session, study_id: int, limit: int | None = None, offset: int = 0) -> list[Fit]:
    """The study's fits, oldest first: all of them, or one page of `limit` after `offset`."""
    query = select(Fit).where(Fit.study_id == study_id).order_by(Fit.id).offset(offset)
    return list(session.scalars(query.limit(limit) if limit is not None else query))


def count_fits(*, session: Session, study_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Fit).where(Fit.study_id == study_id)) or 0


def _held(session: Session, fit_id: int, worker_id: str) -> Fit | None:
    """The fit, locked, if `worker_id` still holds it running; None when its lease was lost."""
    return session.scalar(
        select(Fit)
        .where(Fit.id == fit_id, Fit.status == "running", Fit.worker_id == worker_id)
        .with_for_update()
    )


def complete(*, session: Session, fit_id: int, worker_id: str, fitted: Fitted) -> Fit | None:
    """Store a computed fit: its law (the form "auto" chose), headline numbers and stored result.

    Only while `worker_id` holds the fit: None (nothing written) when it was requeued meanwhile.
    """
    fit = _held(session, fit_id, worker_id)
    if fit is None:
        return None
    fit.status = "done"
    fit.law = fitted.law
    fit.params, fit.ci95 = fitted.params, fitted.intervals
    fit.objective = fitted.objective
    fit.warnings = [str(w) for w in fitted.warnings]
    fit.result = fitted.stored
    fit.finished_at = utcnow()
    fit.replicates_done = fit.bootstrap
    return fit


def fail(*, session: Session, fit_id: int, worker_id: str, error: str) -> Fit | None:
    """A fit whose computation raised ends `failed` with the error (a fit is deterministic: a retry
    would fail the same way); None when `worker_id` no longer holds it."""
    fit = _held(session, fit_id, worker_id)
    if fit is None:
        return None
    fit.status = "failed"
    fit.error = error
    fit.finished_at = utcnow()
    return fit


def cancel_fit(*, session: Session, fit_id: int) -> Fit:
    """Cancel a queued or running fit: it ends `cancelled`, and the process computing it stops at its
    next progress report. Cancelling a cancelled fit changes nothing; a done or failed one is a Conflict."""
    fit = session.scalar(select(Fit).where(Fit.id == fit_id).with_for_update())
    if fit is None:
        raise NotFound("fit", fit_id)
    if fit.status in ("queued", "running"):
        fit.error = f"cancelled while {fit.status} (POST /v1/fits/{fit_id}/cancel)"
        fit.status = "cancelled"
        fit.finished_at = utcnow()
    elif fit.status != "cancelled":
        raise Conflict(f"fit {fit_id} is already {fit.status}: only a queued or running fit can be cancelled")
    return fit


def record_progress(*, session: Session, fit_id: int, worker_id: str, replicates_done: int) -> bool:
    """Store how many bootstrap replicates the fit's holder has computed; False when `worker_id` no
    longer holds it running (cancelled or requeued: the holder must stop)."""
    outcome = session.execute(
        update(Fit)
        .where(Fit.id == fit_id, Fit.worker_id == worker_id, Fit.status == "running")
        .values(replicates_done=replicates_done)
    )
    return outcome.rowcount == 1


def progress_of(fit: Fit) -> float:
    """The share of the fit computed, 0..1: its bootstrap replicates done (1 once it is done)."""
    if fit.status == "done":
        return 1.0
    if not fit.bootstrap:
        return 0.0
    return min(1.0, (fit.replicates_done or 0) / fit.bootstrap)


@dataclass
class FitWatch:
    """The progress callback of one fit's computation (fitting.fit's `progress`): writes the
    replicates done, and raises a FitStopped when the fit must stop (see the module docstring)."""

    database: Any
    fit_id: int
    worker_id: str
    time_limit_s: float | None = None
    should_stop: Callable[[], bool] | None = None
    started: float = field(default_factory=time.monotonic)
    _written: float = -float("inf")

    def __call__(self, done: int, total: int) -> None:
        if self.should_stop is not None and self.should_stop():
            raise FitInterrupted(f"fit {self.fit_id}: this process is shutting down")
        elapsed = time.monotonic() - self.started
        over_time = self.time_limit_s is not None and elapsed > self.time_limit_s
        if not over_time and done < total and time.monotonic() - self._written < PROGRESS_EVERY_S:
            return
        with self.database.transaction() as session:
            held = record_progress(
                session=session, fit_id=self.fit_id, worker_id=self.worker_id, replicates_done=done
            )
        self._written = time.monotonic()
        if not held:
            raise FitLost(f"fit {self.fit_id} is no longer held by {self.worker_id}")
        if over_time:  # after the write, so the failed fit shows the replicates it did
            raise FitTimeLimit(self._over_time(done, total, elapsed))

    def _over_time(self, done: int, total: int, elapsed: float) -> str:
        limit = self.time_limit_s or 0.0
        # Replicates that fit in about 80% of the limit at this fit's pace (the rest of the fit aside).
        fitting_in = int(0.8 * done * limit / elapsed) if elapsed > 0 else 0
        advice = (
            f"ask for fewer bootstrap replicates (bootstrap={max(fitting_in // 10 * 10, 1)} or less fits in "
            "the limit at this pace)"
            if fitting_in >= 1
            else "ask for fewer bootstrap replicates, or fit fewer runs"
        )
        return (
            f"the fit ran past its time limit of {limit:g} s (HYPERLAW_FIT_TIME_LIMIT_S) with {done} of "
            f"{total} bootstrap replicates done: {advice}, or raise the limit"
        )


def options_of(fit: Fit) -> dict[str, Any]:
    """The law options a fit was created with (kept in its run_filter)."""
    kind = kind_of(fit.law)
    return {name: value for name, value in (fit.run_filter or {}).items() if name in kind.options}


def _progress(kind: LawKind, watch: FitWatch) -> dict[str, Any]:
    """`progress=watch` for a kind whose fit takes it (a kind registered without it is fitted without)."""
    return {"progress": watch} if "progress" in inspect.signature(kind.fit).parameters else {}


def _read_runs(kind: LawKind, session: Session, fit: Fit) -> list[runs_module.FitRun]:
    """The runs `kind.load` takes: the kind's optional `read_runs` (the loss kind reads the study's
    other runs in the same pass), else the fit's own runs (a kind registered without it)."""
    read = getattr(kind, "read_runs", None)
    if read is None:
        return runs_module.fittable_runs(session=session, study_id=fit.study_id, run_ids=fit.run_ids)
    return read(session=session, fit=fit)


def _fit_inputs(database, fit_id: int) -> tuple[str, int, int, LawKind, dict[str, Any], Any]:
    """(law, bootstrap, seed, kind, options, data) of a queued fit. The runs read to make `data` are
    dropped on return, not held while the fit computes (10^6 of them are a few hundred MB).

    Read in a read-only transaction: on SQLite a write transaction would hold the database's one
    write lock while a large study loads, and every worker's curve writes and this fit's own
    heartbeat would wait for it."""
    with database.transaction(immediate=False) as session:
        fit = get_fit(session=session, fit_id=fit_id)
        kind = kind_of(fit.law)
        options = kind.check_options(fit.law, options_of(fit))
        data = kind.load(session=session, fit=fit, runs=_read_runs(kind, session, fit))
        return fit.law, fit.bootstrap, fit.seed, kind, options, data


def run_fit(
    database,
    fit_id: int,
    *,
    worker_id: str,
    on_done=None,
    time_limit_s: float | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> str:
    """Compute a fit `worker_id` has claimed (app/worker/queue.py): read its data, fit with no
    transaction open, store the result.

    The one broad catch of the fit job: any failure ends as status `failed` with the error, never
    as a fit stuck in `running`. A fit whose lease was lost meanwhile (cancelled, requeued) is left
    as it is; one stopped because `should_stop()` turned true (shutdown) goes back to the queue; one
    past `time_limit_s` fails saying so. Returns the final status.
    """
    started = time.perf_counter()
    watch = FitWatch(database, fit_id, worker_id, time_limit_s=time_limit_s, should_stop=should_stop)
    try:
        law, bootstrap, seed, kind, options, data = _fit_inputs(database, fit_id)
        with database.transaction() as session:
            if not record_progress(session=session, fit_id=fit_id, worker_id=worker_id, replicates_done=0):
                raise FitLost(f"fit {fit_id} is no longer held by {worker_id}")
        fitted = kind.fit(
            data, law=law, options=options, bootstrap=bootstrap, seed=seed, **_progress(kind, watch)
        )
        with database.transaction() as session:
            stored = complete(session=session, fit_id=fit_id, worker_id=worker_id, fitted=fitted)
            status = "done" if stored is not None else get_fit(session=session, fit_id=fit_id).status
    except FitLost:
        log.info("fit %s: no longer held by %s (cancelled or requeued); stopped", fit_id, worker_id)
        with database.transaction(immediate=False) as session:
            status = get_fit(session=session, fit_id=fit_id).status
    except FitInterrupted:
        with database.transaction() as session:
            if queue.release(session=session, run_id=fit_id, worker_id=worker_id, jobs=Fit):
                session.execute(update(Fit).where(Fit.id == fit_id).values(replicates_done=0))
            status = get_fit(session=session, fit_id=fit_id).status
        log.warning("fit %s: stopped by shutdown, now %s", fit_id, status)
    except Exception as error:  # the fit job's boundary: always leave a terminal status
        if not isinstance(error, FitTimeLimit):
            log.exception("fit %s failed", fit_id)
        message = (
            str(error)
            if isinstance(error, InvalidInput | ValueError | FitTimeLimit)
            else f"{type(error).__name__}: {error}"
        )
        with database.transaction() as session:
            failed = fail(session=session, fit_id=fit_id, worker_id=worker_id, error=message)
            status = "failed" if failed is not None else get_fit(session=session, fit_id=fit_id).status
    if on_done is not None:
        on_done(status, time.perf_counter() - started)
    return status
