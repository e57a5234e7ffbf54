"""The job queue: a `runs` row or a `fits` row is the job; this module writes the queue's columns.

Runs and fits are two kinds of job on one machinery (`jobs=Run` or `jobs=Fit`): the same claim,
heartbeat lease, stale requeue with an attempt cap, and release.

Claim atomically, then let go of the lock and hold the run by heartbeat (the
procrastinate pattern): on PostgreSQL the claim selects the oldest queued run `FOR
UPDATE SKIP LOCKED`, so concurrent claimers skip each other's rows instead of waiting;
on SQLite the caller's transaction must be `BEGIN IMMEDIATE` (Database.session(
immediate=True)), which takes the single write lock before the read. A run whose
heartbeat is older than the timeout is requeued and resumes from its checkpoint;
attempts are capped, then the run is `failed` with the error.

Every function takes the session as a keyword and never commits.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import String, bindparam, cast, func, select, update
from sqlalchemy.orm import Session

from app.db.tables import Fit, Run, utcnow

Jobs = type[Run] | type[Fit]


def _check_claim_transaction(session: Session) -> None:
    connection = session.connection()
    if (
        connection.dialect.name == "sqlite"
        and connection.get_execution_options().get("sqlite_begin") != "IMMEDIATE"
    ):
        raise RuntimeError(
            "claims on SQLite need an IMMEDIATE transaction: use Database.session(immediate=True)"
        )


def _claim_statement(jobs: Jobs, by_study: bool, with_checkpoint: bool, by_id: bool):
    oldest = select(jobs.id).where(jobs.status == "queued")
    if by_study:
        oldest = oldest.where(jobs.study_id == bindparam("by_study"))
    if by_id:
        oldest = oldest.where(jobs.id == bindparam("job_id"))
    oldest = oldest.order_by(jobs.id).limit(1).with_for_update(skip_locked=True).scalar_subquery()
    now = bindparam("now", type_=jobs.__table__.c.heartbeat_at.type)
    values = {
        "status": "running",
        "worker_id": bindparam("worker_id"),
        "heartbeat_at": now,
        "attempts": jobs.attempts + 1,
        "started_at": func.coalesce(jobs.started_at, now),
        "error": None,
    }
    if jobs is Run:
        values["stop_requested"] = False  # a stop asked of an earlier holder is not this claim's
    if with_checkpoint:
        prefix = bindparam("checkpoint_prefix", type_=String)
        values["checkpoint_path"] = func.coalesce(Run.checkpoint_path, prefix + cast(Run.id, String))
    returned = (
        (Run.id, Run.spec, Run.checkpoint_path, Run.attempts) if jobs is Run else (Fit.id, Fit.attempts)
    )
    return (
        update(jobs).where(jobs.id == oldest, jobs.status == "queued").values(**values).returning(*returned)
    )


# Built once: the queue's hot statements are compiled and cached, not rebuilt per claim.
_CLAIMS = {
    (Run, s, c, False): _claim_statement(Run, s, c, False) for s in (False, True) for c in (False, True)
}
_CLAIMS.update({(Fit, False, False, i): _claim_statement(Fit, False, False, i) for i in (False, True)})


def claim(
    *,
    session: Session,
    worker_id: str,
    checkpoint_root: str | Path | None = None,
    study_id: int | None = None,
    now: datetime | None = None,
    jobs: Jobs = Run,
    job_id: int | None = None,
):
    """Take the oldest queued job (or job `job_id`, if still queued) for `worker_id`; returns (id,
    spec, checkpoint_path, attempts) of a claimed run, (id, attempts) of a claimed fit, or None.

    One statement, one round trip: UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP
    LOCKED) RETURNING (procrastinate's fetch_job); SQLite ignores the lock clause and
    relies on the IMMEDIATE transaction instead.
    """
    _check_claim_transaction(session)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # Do not wait for this commit's WAL flush (the fsync is most of a claim's time). A
        # claim lost to a server crash only lets the job be claimed again: the first worker's
        # next heartbeat finds it no longer held and stops; no curve point or result is lost.
        connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
    params: dict[str, Any] = {"worker_id": worker_id, "now": now or utcnow()}
    if study_id is not None:
        params["by_study"] = study_id
    if job_id is not None:
        params["job_id"] = job_id
    if checkpoint_root is not None:
        params["checkpoint_prefix"] = f"{Path(checkpoint_root)}/run-"
    statement = _CLAIMS[(jobs, study_id is not None, checkpoint_root is not None, job_id is not None)]
    # Core execution on the session's connection (same transaction): no ORM bookkeeping.
    return connection.execute(statement, params).one_or_none()


def _owned(run_ids: Iterable[int], worker_id: str, jobs: Jobs = Run):
    return (jobs.id.in_(list(run_ids)), jobs.worker_id == worker_id, jobs.status == "running")


_FINISH_WHERE = (Run.id == bindparam("run_id"), Run.worker_id == bindparam("owner"), Run.status == "running")


def heartbeat(
    *,
    session: Session,
    worker_id: str,
    run_ids: Iterable[int],
    progress: dict[int, float] | None = None,
    now: datetime | None = None,
    jobs: Jobs = Run,
) -> set[int]:
    """Refresh the heartbeat of the jobs `worker_id` still holds; returns their ids.

    A job missing from the answer was cancelled or requeued meanwhile: the worker must
    stop working on it.
    """
    run_ids = list(run_ids)
    if not run_ids:
        return set()
    now = now or utcnow()
    held = set(session.scalars(select(jobs.id).where(*_owned(run_ids, worker_id, jobs))))
    if held:
        session.execute(update(jobs).where(jobs.id.in_(held)).values(heartbeat_at=now))
        for run_id, tokens in (progress or {}).items():
            if run_id in held:
                session.execute(update(Run).where(Run.id == run_id).values(progress_tokens=tokens))
    return held


@functools.lru_cache(maxsize=64)
def _finish_statement(columns: tuple[str, ...]):
    return update(Run).where(*_FINISH_WHERE).values({name: bindparam(f"v_{name}") for name in columns})


def finish(*, session: Session, run_id: int, worker_id: str, status: str, **result: Any) -> bool:
    """Record a run's end (`done` or `diverged`) with its result columns, if still held."""
    if status not in ("done", "diverged"):
        raise ValueError(f"finish() takes done or diverged, not {status!r}")
    now = utcnow()
    values = {"status": status, "finished_at": now, "heartbeat_at": now, **result}
    statement = _finish_statement(tuple(sorted(values)))
    params = {f"v_{name}": value for name, value in values.items()}
    outcome = session.connection().execute(statement, {"run_id": run_id, "owner": worker_id, **params})
    return outcome.rowcount == 1


def fail(*, session: Session, run_id: int, worker_id: str, error: str, max_attempts: int) -> str | None:
    """A run raised: requeue it (resuming from its checkpoint) or, with its attempts used
    up, mark it `failed` with the error. Returns the new status, None if no longer held."""
    run = session.scalar(select(Run).where(*_owned([run_id], worker_id)).with_for_update())
    if run is None:
        return None
    _retry_or_fail(run, error, max_attempts)
    return run.status


def release(*, session: Session, run_id: int, worker_id: str, jobs: Jobs = Run) -> bool:
    """Give a job back to the queue without using up an attempt (graceful shutdown)."""
    values: dict[str, Any] = {"status": "queued", "worker_id": None, "attempts": jobs.attempts - 1}
    if jobs is Run:
        values["stop_requested"] = False
    outcome = session.execute(update(jobs).where(*_owned([run_id], worker_id, jobs)).values(values))
    return outcome.rowcount == 1


def request_stop(*, session: Session, worker_id: str, run_ids: Iterable[int]) -> set[int]:
    """Ask the processes of the runs `worker_id` holds to checkpoint and give them back (its pool
    is shutting down); returns the runs asked. Each process reads it with `stops_requested`."""
    run_ids = list(run_ids)
    if not run_ids:
        return set()
    asked = set(session.scalars(select(Run.id).where(*_owned(run_ids, worker_id))))
    if asked:
        session.execute(update(Run).where(Run.id.in_(asked)).values(stop_requested=True))
    return asked


def stops_requested(*, session: Session, run_ids: Iterable[int]) -> set[int]:
    """The runs among `run_ids` whose holder asked them to stop (request_stop)."""
    run_ids = list(run_ids)
    if not run_ids:
        return set()
    return set(session.scalars(select(Run.id).where(Run.id.in_(run_ids), Run.stop_requested.is_(True))))


def _retry_or_fail(run: Run | Fit, error: str, max_attempts: int) -> None:
    run.error = error
    run.worker_id = None
    if run.attempts >= max_attempts:
        run.status = "failed"
        run.finished_at = utcnow()
    else:
        run.status = "queued"


def requeue_stale(
    *, session: Session, timeout_s: float, max_attempts: int, now: datetime | None = None, jobs: Jobs = Run
) -> dict[int, str]:
    """Requeue running jobs whose heartbeat is older than `timeout_s` (their worker is
    presumed dead); those out of attempts become `failed`. Returns {job id: new status}."""
    cutoff = (now or utcnow()) - timedelta(seconds=timeout_s)
    stale = session.scalars(
        select(jobs)
        .where(jobs.status == "running", jobs.heartbeat_at < cutoff)
        .order_by(jobs.id)
        .with_for_update(skip_locked=True)
    ).all()
    changed = {}
    for run in stale:
        _retry_or_fail(
            run,
            f"worker {run.worker_id} stopped heartbeating (attempt {run.attempts} of {max_attempts})",
            max_attempts,
        )
        changed[run.id] = run.status
    session.flush()
    return changed


def statuses(*, session: Session, run_ids: Iterable[int]) -> dict[int, str]:
    return dict(session.execute(select(Run.id, Run.status).where(Run.id.in_(list(run_ids)))).all())


def queue_depth(*, session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Run).where(Run.status == "queued")) or 0
