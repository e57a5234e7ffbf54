"""Retry a database write through a short outage: exponential backoff within a time budget.

A run process must not lose its run to a database restart: an unreachable database
(OperationalError, InterfaceError, a connection invalidated mid-statement) is waited out,
any other error is raised at once. When the budget is spent the last error is raised.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

log = logging.getLogger(__name__)

T = TypeVar("T")


def is_transient(error: BaseException) -> bool:
    """Whether `error` says the database is away (worth waiting for), not that the write is wrong."""
    if isinstance(error, OperationalError | InterfaceError):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


def with_retries(
    write: Callable[[], T],
    *,
    budget_s: float,
    what: str,
    first_delay_s: float = 0.25,
    max_delay_s: float = 4.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`write()`, tried again after 0.25, 0.5, 1, ... s (at most `max_delay_s` apart) while it
    fails for a transient reason and `budget_s` has not passed since the first try."""
    deadline = time.monotonic() + budget_s
    delay, tries = first_delay_s, 0
    while True:
        try:
            result = write()
        except Exception as error:
            tries += 1
            left = deadline - time.monotonic()
            if not is_transient(error) or left <= 0:
                raise
            log.warning("%s: database unavailable (try %d, %.0f s left): %s", what, tries, left, error.orig)
            sleep(min(delay, left))
            delay = min(delay * 2, max_delay_s)
            continue
        if tries:
            log.info("%s: written after %d failed tries", what, tries)
        return result
