"""TokenBuckets: the write rate limit, one bucket per API token, in this process's memory.

Each token may write `rate_per_minute` times a minute on average, in bursts of up to a minute's
worth (the bucket's capacity). The buckets live in one API process: with N processes behind a load
balancer a token may write up to N times the rate, and a restart refills every bucket.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBuckets:
    """A token bucket per key (an API token's prefix, random and never reused); thread-safe."""

    def __init__(self, rate_per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(rate_per_minute)
        self.per_second = rate_per_minute / 60.0
        self.clock = clock
        self._buckets: dict[object, tuple[float, float]] = {}  # key -> (level, at)
        self._lock = threading.Lock()

    def take(self, key: object) -> float | None:
        """Spend one write of `key`'s bucket: None when allowed, else the seconds until one is free."""
        now = self.clock()
        with self._lock:
            level, at = self._buckets.get(key, (self.capacity, now))
            level = min(self.capacity, level + (now - at) * self.per_second)
            if level >= 1.0:
                self._buckets[key] = (level - 1.0, now)
                return None
            self._buckets[key] = (level, now)
            return (1.0 - level) / self.per_second
