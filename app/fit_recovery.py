"""A background thread that recomputes fits whose process died.

A background fit lives in the API process that accepted it; if that process is killed, the
fit stays `queued` or `running` in the database. Every API process and every worker pool
runs one `FitRecovery`: every `fit_recovery_interval_s` it asks app/fits.py for fits queued
too long without starting, or running past `fit_running_timeout_s`, and computes them;
`fits.start` is a conditional UPDATE, so two recoverers never compute the same fit twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.exc import InterfaceError, OperationalError

from app import fits
from app.db import Database
from app.settings import Settings

log = logging.getLogger(__name__)


class FitRecovery:
    """Start with `start()`, stop with `stop()`; `run_once()` is one pass (tests, start-up)."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        on_done: Callable[[str, float], None] | None = None,
        on_recovered: Callable[[dict[int, str]], None] | None = None,
    ) -> None:
        self.database, self.settings = database, settings
        self.on_done, self.on_recovered = on_done, on_recovered
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> dict[int, str]:
        """Recover and compute every stale fit; {fit id: final status}."""
        outcome = fits.run_stale(
            self.database,
            queued_grace_s=self.settings.fit_queued_grace_s,
            running_timeout_s=self.settings.fit_running_timeout_s,
            max_attempts=self.settings.fit_max_attempts,
            on_done=self.on_done,
        )
        if outcome and self.on_recovered is not None:
            self.on_recovered(outcome)
        return outcome

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.fit_recovery_interval_s):
            try:
                self.run_once()
            except (OperationalError, InterfaceError) as error:  # the database is away: next pass
                log.warning("fit recovery: database unavailable (%s)", error.orig)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="hyperlaw-fit-recovery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
