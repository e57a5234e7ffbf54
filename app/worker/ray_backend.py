"""Ray as the pool's process launcher: each run is a Ray task somewhere on the cluster.

The pool keeps its job: it claims runs, heartbeats them, requeues stale ones and stops
cancelled ones. Only *where* a run trains changes: `RayLauncher.Process(...)` returns a
handle with the `multiprocessing.Process` methods the pool uses (start, is_alive, join,
terminate, kill, exitcode), backed by a Ray task running `runner.execute`.

- A task asks for one GPU when the cluster has any (Ray then sets CUDA_VISIBLE_DEVICES),
  and for `cpu_threads` CPUs.
- A pool shutting down asks its runs to stop through the database (`queue.request_stop`):
  the task reads it at its next curve write, stops at its next checkpoint and releases the
  run, as a local child does on SIGTERM. `terminate()` is also `ray.cancel(force=False)`
  (Ray raises KeyboardInterrupt in the task, which writes its buffered points and releases
  the run), but that soft cancel does not always reach a task busy in torch. Either way the
  last checkpoint (taken at every eval step, after the curve up to it was written) is where
  the next attempt resumes.
  On several machines `checkpoint_dir` must be a shared filesystem for that resume.
- Every node needs the database: use PostgreSQL (`HYPERLAW_DATABASE_URL`) reachable from
  all of them, not the embedded SQLite file.
"""

from __future__ import annotations

import logging
import signal
from typing import Any

log = logging.getLogger(__name__)

# exitcode of a task cancelled before it could release its run itself, as for a local
# child stopped by SIGTERM: the pool records the attempt and requeues the run.
CANCELLED_EXITCODE = -signal.SIGTERM


def _import_ray():
    try:
        import ray
    except ImportError as error:
        raise RuntimeError(
            "the ray backend needs Ray: pip install 'hyperlaw[cluster]' (or pip install 'ray>=2.9')"
        ) from error
    return ray


def _remote_execute(settings, run_id: int, worker_id: str, gpu: str | None, cpu_threads: int | None) -> str:
    """The body of a Ray task: `runner.execute` with Ray's own interrupt instead of SIGTERM."""
    from app.worker import runner

    return runner.execute(settings, run_id, worker_id, None, cpu_threads, install_signal_handlers=False)


class RayProcess:
    """One run as a Ray task, behind the part of multiprocessing.Process the pool uses."""

    def __init__(self, launcher: RayLauncher, target: Any, args: tuple, name: str) -> None:
        self._launcher, self._args, self.name = launcher, args, name
        self._ref = None
        self._exitcode: int | None = None
        self.pid = None  # the task may run on another machine

    def start(self) -> None:
        ray = self._launcher.ray
        cpu_threads = self._args[4] if len(self._args) > 4 else 1
        options: dict[str, Any] = {"num_cpus": cpu_threads or 1, "max_retries": 0, "name": self.name}
        if self._launcher.has_gpus:
            options["num_gpus"] = 1
        self._ref = ray.remote(_remote_execute).options(**options).remote(*self._args)

    def _settle(self, timeout: float | None) -> None:
        if self._exitcode is not None or self._ref is None:
            return
        ray = self._launcher.ray
        ready, _ = ray.wait([self._ref], timeout=timeout)
        if not ready:
            return
        try:
            status = ray.get(self._ref)
            self._exitcode = 0
            log.info("%s ended %s", self.name, status)
        except ray.exceptions.TaskCancelledError:
            self._exitcode = CANCELLED_EXITCODE
        except Exception as error:  # the task died (worker crash, node lost): the pool records it
            log.warning("%s: the Ray task failed: %s", self.name, error)
            self._exitcode = 1

    def is_alive(self) -> bool:
        self._settle(0)
        return self._ref is not None and self._exitcode is None

    def join(self, timeout: float | None = None) -> None:
        self._settle(timeout)

    @property
    def exitcode(self) -> int | None:
        self._settle(0)
        return self._exitcode

    def terminate(self) -> None:
        if self._ref is not None:
            self._launcher.ray.cancel(self._ref, force=False)

    def kill(self) -> None:
        if self._ref is not None:
            self._launcher.ray.cancel(self._ref, force=True)


class RayLauncher:
    """Connects to a Ray cluster (`address`, e.g. "auto" or "ray://head:10001"; None starts a
    local one) and makes RayProcess handles; the pool uses it in place of a multiprocessing context."""

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None) -> None:
        self.ray = _import_ray()
        if not self.ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address is None and num_cpus is not None:
                kwargs["num_cpus"] = num_cpus
            self.ray.init(address=address, **kwargs)
        self.has_gpus = self.ray.cluster_resources().get("GPU", 0) > 0

    def Process(self, *, target: Any, args: tuple, name: str, daemon: bool = False) -> RayProcess:  # noqa: N802
        return RayProcess(self, target, args, name)

    def shutdown(self) -> None:
        self.ray.shutdown()
