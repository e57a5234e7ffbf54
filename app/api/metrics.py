"""Prometheus metrics in the text exposition format, without a client library.

In-process counters and histograms (request and fit timings) plus gauges read from the
database at scrape time (queue depth, runs by status). Each API process exposes its own.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict

# Seconds; covers a cached prediction (sub-millisecond) to a large bootstrap (minutes).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class Histogram:
    def __init__(self) -> None:
        self.counts = [0] * len(BUCKETS)
        self.total = 0
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.total += 1
        self.sum += seconds
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.counts[i] += 1
                break

    def lines(self, name: str, labels: str) -> list[str]:
        out, cumulative = [], 0
        sep = "," if labels else ""
        for bound, count in zip(BUCKETS, self.counts, strict=True):
            cumulative += count
            out.append(f'{name}_bucket{{{labels}{sep}le="{bound}"}} {cumulative}')
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.total}')
        out.append(f"{name}_sum{{{labels}}} {self.sum:.6f}")
        out.append(f"{name}_count{{{labels}}} {self.total}")
        return out


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str], Histogram] = defaultdict(Histogram)
        self.responses: dict[tuple[str, str, int], int] = defaultdict(int)
        self.fits: dict[str, Histogram] = defaultdict(Histogram)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route)].observe(seconds)
            self.responses[(method, route, status)] += 1

    def observe_fit(self, status: str, seconds: float) -> None:
        with self._lock:
            self.fits[status].observe(seconds)

    def render(self, *, queue_depth: int, runs_by_status: dict[str, int]) -> str:
        lines = [
            "# HELP hyperlaw_queue_depth Runs waiting for a worker.",
            "# TYPE hyperlaw_queue_depth gauge",
            f"hyperlaw_queue_depth {queue_depth}",
            "# HELP hyperlaw_runs Runs by status.",
            "# TYPE hyperlaw_runs gauge",
        ]
        lines += [
            f'hyperlaw_runs{{status="{status}"}} {count}' for status, count in sorted(runs_by_status.items())
        ]
        with self._lock:
            lines += [
                "# HELP hyperlaw_fit_seconds Time to compute a fit.",
                "# TYPE hyperlaw_fit_seconds histogram",
            ]
            for status, histogram in sorted(self.fits.items()):
                lines += histogram.lines("hyperlaw_fit_seconds", f'status="{status}"')
            lines += [
                "# HELP hyperlaw_request_seconds Time to answer a request.",
                "# TYPE hyperlaw_request_seconds histogram",
            ]
            for (method, route), histogram in sorted(self.requests.items()):
                lines += histogram.lines("hyperlaw_request_seconds", f'method="{method}",route="{route}"')
            lines += [
                "# HELP hyperlaw_requests_total Responses sent.",
                "# TYPE hyperlaw_requests_total counter",
            ]
            for (method, route, status), count in sorted(self.responses.items()):
                lines.append(
                    f'hyperlaw_requests_total{{method="{method}",route="{route}",status="{status}"}} {count}'
                )
        return "\n".join(lines) + "\n"


class TimingMiddleware:
    """Pure ASGI middleware timing every HTTP request by its route template."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.metrics.observe_request(scope["method"], path, status, time.perf_counter() - started)
