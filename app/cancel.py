"""Bulk cancel: a study's queued and running runs, all of them or one sweep's or plan's, in one
transaction (the answer to "65 runs of a plan took 65 POSTs").

A sweep or a plan is one submission (POST /v1/studies/{id}/sweeps, /plan with submit, `hyperlaw
plan --submit`); the runs table records no sweep id, so a submission is named by what its answer
gave: the Idempotency-Key it was sent with, or its run ids `first_id..last_id` (a submission's runs
are written together, so their ids are consecutive). Runs are read and cancelled through
app/runs.py, the owner of the runs table; the session's caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from app import runs
from app.db.tables import Run, Study
from app.errors import InvalidInput

LIVE = ("queued", "running")
_PAGE = 1000


@dataclass(frozen=True)
class Selection:
    """Which of a study's live runs to cancel; every bound None selects them all."""

    idempotency_key: str | None = None
    first_id: int | None = None
    last_id: int | None = None

    def __post_init__(self) -> None:
        if self.first_id is not None and self.last_id is not None and self.first_id > self.last_id:
            raise InvalidInput(
                f"first_id {self.first_id} is after last_id {self.last_id}: give the range in order",
                field="first_id",
            )

    def takes(self, run: Run) -> bool:
        if self.idempotency_key is not None and run.idempotency_key != self.idempotency_key:
            return False
        if self.first_id is not None and run.id < self.first_id:
            return False
        return self.last_id is None or run.id <= self.last_id


def live_runs(*, session: Session, study_id: int) -> list[Run]:
    """The study's queued and running runs, oldest first (all pages read before any is changed)."""
    found: list[Run] = []
    for status in LIVE:
        offset = 0
        while True:
            page, total = runs.list_runs(
                session=session, study_id=study_id, status=status, limit=_PAGE, offset=offset
            )
            found.extend(page)
            offset += len(page)
            if not page or offset >= total:
                break
    return sorted(found, key=lambda run: run.id)


def cancel_runs(*, session: Session, study: Study, selection: Selection | None = None) -> list[Run]:
    """Cancel the study's queued and running runs that `selection` takes (all by default); returns
    them. A running one stops at its worker's next heartbeat, as for one run; finished runs are left
    as they are, so cancelling a half-finished sweep cancels what is left of it."""
    selection = selection or Selection()
    chosen = [run for run in live_runs(session=session, study_id=study.id) if selection.takes(run)]
    return [runs.cancel_run(session=session, run_id=run.id) for run in chosen]
