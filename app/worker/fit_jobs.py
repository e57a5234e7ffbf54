"""Fits as jobs: claimed from the queue, computed in this process while a thread heartbeats them.

Every API process and every worker pool runs one `FitWorker`: a thread that claims queued fits
one at a time (`queue.claim(jobs=Fit)`), computes each with `fits.run_fit` while its lease is kept
by heartbeat, and requeues fits whose holder stopped heartbeating (`queue.requeue_stale`), the
same lease and attempt cap as runs. A fit accepted in the background is therefore computed by
whichever process claims it first, and one whose process died is taken over by another once its
heartbeat is stale. `hold` and `run_held` are the small-fit path: the request claims the fit it
creates in the same transaction and computes it while the caller waits.

Shutdown never waits for a fit to finish: `stop_on_signals` sets the process's stop event on
SIGTERM/SIGINT before the server starts waiting for its requests, and a fit being computed (inline
or by the FitWorker) notices it at its next progress report and goes back to the queue, for this
process's successor or another one (app/fits.py FitWatch).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from app import fits, studies
from app.db import Database
from app.db.tables import Fit
from app.settings import Settings
from app.worker import queue

log = logging.getLogger(__name__)

OnDone = Callable[[str, float], None]


def worker_name(role: str) -> str:
    """A worker id unique to this process: role, host, pid and a random suffix."""
    return f"{role}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@contextlib.contextmanager
def heartbeating(database: Database, worker_id: str, fit_id: int, interval_s: float) -> Iterator[None]:
    """Refresh the fit's heartbeat every `interval_s` while the block runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval_s):
            try:
                with database.transaction() as session:
                    queue.heartbeat(session=session, worker_id=worker_id, run_ids=[fit_id], jobs=Fit)
            except (OperationalError, InterfaceError) as error:  # the database is away: next beat
                log.warning("fit %s: heartbeat failed (%s)", fit_id, error.orig)

    thread = threading.Thread(target=beat, name=f"hyperlaw-fit-{fit_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def claim_and_run(
    database: Database,
    settings: Settings,
    *,
    worker_id: str,
    on_done: OnDone | None = None,
    stop: threading.Event | None = None,
) -> tuple[int, str] | None:
    """Claim the oldest queued fit and compute it; (fit id, final status), or None when none is queued."""
    with database.transaction(immediate=True) as session:
        claimed = queue.claim(session=session, worker_id=worker_id, jobs=Fit)
    if claimed is None:
        return None
    return claimed.id, run_held(database, settings, claimed.id, worker_id, on_done=on_done, stop=stop)


def hold(*, session: Session, fit_id: int) -> str:
    """Claim a fit created in this (IMMEDIATE on SQLite) transaction for the caller, so that no fit
    worker takes it before the caller computes it inline; returns the holder's worker id."""
    worker_id = worker_name("inline")
    if queue.claim(session=session, worker_id=worker_id, jobs=Fit, job_id=fit_id) is None:
        raise RuntimeError(f"fit {fit_id} was not queued in this transaction")
    return worker_id


def queue_fit(database: Database, *, study_id: int, inline: bool, **request: Any) -> tuple[int, str | None]:
    """Queue a fit of the study (fits.create_fit's arguments: law, bootstrap, seed, run_ids and the
    kind's options) and, when `inline`, hold it for the caller to compute with run_held: the fit's
    id and the holder (None: left for a fit worker). NotFound for a missing study."""
    with database.transaction() as session:
        studies.get_study(session=session, study_id=study_id)
        fit_id = fits.create_fit(session=session, study_id=study_id, **request).id
        return fit_id, (hold(session=session, fit_id=fit_id) if inline else None)


def run_held(
    database: Database,
    settings: Settings,
    fit_id: int,
    worker_id: str,
    *,
    on_done: OnDone | None = None,
    stop: threading.Event | None = None,
) -> str:
    """Compute a fit `worker_id` holds, heartbeating it meanwhile; its final status (`queued` again
    when `stop` was set meanwhile, `failed` past settings.fit_time_limit_s)."""
    with heartbeating(database, worker_id, fit_id, settings.heartbeat_interval_s):
        return fits.run_fit(
            database,
            fit_id,
            worker_id=worker_id,
            on_done=on_done,
            time_limit_s=settings.fit_time_limit_s,
            should_stop=stop.is_set if stop is not None else None,
        )


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set `stop` on SIGTERM or SIGINT, then hand the signal on to the handler installed before (the
    server's own), while the block runs; in the main thread only (elsewhere signals cannot be caught)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {number: signal.getsignal(number) for number in signals}

    def handle(number: int, frame) -> None:
        stop.set()
        before = previous[number]
        if callable(before):
            before(number, frame)
        else:  # the default action (or none): restore it and let it act
            signal.signal(number, before if before is not None else signal.SIG_DFL)
            signal.raise_signal(number)

    for number in signals:
        signal.signal(number, handle)
    try:
        yield
    finally:
        for number, before in previous.items():
            if signal.getsignal(number) is handle and before is not None:
                signal.signal(number, before)


def requeue_stale(database: Database, settings: Settings) -> dict[int, str]:
    """Requeue the fits whose holder stopped heartbeating (failed once out of attempts)."""
    with database.transaction() as session:
        changed = queue.requeue_stale(
            session=session,
            timeout_s=settings.heartbeat_timeout_s,
            max_attempts=settings.max_attempts,
            jobs=Fit,
        )
    for fit_id, status in changed.items():
        log.warning("fit %s lost its process's heartbeat: now %s", fit_id, status)
    return changed


class FitWorker:
    """A thread that computes queued fits, one at a time, until stopped.

    on_done(status, seconds) is called after each fit (metrics); on_finished(fit id, status) after
    each fit this worker computed (e.g. to forget cached predictions). stop: the event that stops it
    (its own by default; the API passes the process's, which SIGTERM sets): the fit in hand then goes
    back to the queue at its next progress report.
    """

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        worker_id: str | None = None,
        on_done: OnDone | None = None,
        on_finished: Callable[[int, str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.database, self.settings = database, settings
        self.worker_id = worker_id or worker_name("fits")
        self.on_done, self.on_finished = on_done, on_finished
        self._stop = stop if stop is not None else threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> tuple[int, str] | None:
        """Requeue stale fits, then claim and compute one queued fit: (id, status), or None."""
        requeue_stale(self.database, self.settings)
        return self._claim_one()

    def _claim_one(self) -> tuple[int, str] | None:
        if self._stop.is_set():
            return None
        outcome = claim_and_run(
            self.database, self.settings, worker_id=self.worker_id, on_done=self.on_done, stop=self._stop
        )
        if outcome is not None and self.on_finished is not None:
            self.on_finished(*outcome)
        return outcome

    def _loop(self) -> None:
        # Stale fits are looked for once a heartbeat interval, as the pool does for runs, not at every
        # idle poll: on SQLite each look takes the write lock.
        last_requeue = -math.inf
        while not self._stop.is_set():
            try:
                if time.monotonic() - last_requeue >= self.settings.heartbeat_interval_s:
                    requeue_stale(self.database, self.settings)
                    last_requeue = time.monotonic()
                outcome = self._claim_one()
            except (OperationalError, InterfaceError) as error:  # the database is away: next pass
                log.warning("fit worker: database unavailable (%s)", error.orig)
                outcome = None
            if outcome is None:
                self._stop.wait(self.settings.worker_poll_s)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="hyperlaw-fit-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming; the fit being computed goes back to the queue at its next progress report.
        One still computed after `timeout` (a law kind that reports no progress) is left to its lease
        (requeued by another process once its heartbeat stops with this one)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
