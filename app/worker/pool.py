"""The worker pool: up to K runs at once, one process per run.

The pool process claims runs (short transactions), starts a child process per run
(`runner.execute`), heartbeats every run it holds, requeues other workers' stale runs,
and stops a child whose run was cancelled. With several GPUs each child sees one
(CUDA_VISIBLE_DEVICES). On SIGTERM (or `stop()`), it stops claiming, asks every child
to checkpoint and release its run, and waits for them.

backend="ray" runs each run as a Ray task on a cluster instead of a local process
(app/worker/ray_backend.py); claiming, heartbeats and requeues stay here.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass

from sqlalchemy.exc import InterfaceError, OperationalError

from app.db import Database
from app.settings import Settings
from app.worker import queue, runner
from app.worker.fit_jobs import FitWorker

log = logging.getLogger(__name__)

BACKENDS = ("local", "ray")


def visible_gpus() -> list[str]:
    """The GPUs this machine offers to the pool: CUDA_VISIBLE_DEVICES, else what torch sees."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g for g in listed.split(",") if g.strip() and g.strip() != "-1"]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:  # no torch build with CUDA: CPU only
        return []


def gpu_for_slot(gpus: list[str], slot: int) -> str | None:
    """The GPU a pool slot's process sees: one each when there are several, else unchanged."""
    return gpus[slot % len(gpus)] if len(gpus) > 1 else None


@dataclass
class _Child:
    run_id: int
    slot: int
    process: multiprocessing.process.BaseProcess
    stop_sent_at: float | None = None


class Pool:
    """Claims and trains runs until stopped (or, with `exit_when_idle`, until the queue is empty)."""

    def __init__(
        self,
        settings: Settings,
        *,
        concurrency: int = 1,
        worker_id: str | None = None,
        gpus: list[str] | None = None,
        shutdown_grace_s: float = 60.0,
        backend: str = "local",
        ray_address: str | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency ({concurrency}) must be at least 1")
        if backend not in BACKENDS:
            raise ValueError(f"backend {backend!r} is unknown: use one of {', '.join(BACKENDS)}")
        self.settings = settings
        self.concurrency = concurrency
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.backend = backend
        # Ray places tasks on GPUs itself; locally each slot is pinned to one.
        self.gpus = [] if backend == "ray" else visible_gpus() if gpus is None else gpus
        self.shutdown_grace_s = shutdown_grace_s
        self.database = Database(settings.database_url)
        self.children: dict[int, _Child] = {}
        self._stop = threading.Event()
        # forkserver: each run's process forks from a server that has already imported torch
        # and the trainer (seconds saved per run), without inheriting this process's
        # threads or database connections as a plain fork would. CUDA is first touched in
        # the child, after CUDA_VISIBLE_DEVICES is set. torch._dynamo too: AdamW's constructor
        # imports it, 1-4 s in every run's process otherwise (a 64-step run: 8.9 s cold, 1.1 s warm).
        if backend == "ray":
            from app.worker.ray_backend import RayLauncher

            self._context = RayLauncher(ray_address, num_cpus=os.cpu_count())
        else:
            self._context = multiprocessing.get_context("forkserver")
            self._context.set_forkserver_preload(["app.worker.runner", "trainer.loop", "torch._dynamo"])

    def stop(self) -> None:
        """Stop claiming; in-flight runs checkpoint and are released."""
        self._stop.set()

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stop())

    # ------------------------------------------------------------------ the loop

    def run(self, *, exit_when_idle: bool = False) -> None:
        last_beat = 0.0
        log.info(
            "worker %s: up to %d runs at once, GPUs %s", self.worker_id, self.concurrency, self.gpus or "none"
        )
        # Queued fits (and those whose process died) are computed by whichever API or pool claims them.
        fit_worker = FitWorker(self.database, self.settings, worker_id=f"{self.worker_id}:fits")
        fit_worker.start()
        try:
            while not self._stop.is_set():
                try:
                    self._reap()
                    if time.monotonic() - last_beat >= self.settings.heartbeat_interval_s:
                        self._beat()
                        last_beat = time.monotonic()
                    started = self._fill()
                except (OperationalError, InterfaceError) as error:
                    # The database is away: keep the children training and retry; their
                    # runs are requeued elsewhere only if this outlasts the heartbeat timeout.
                    log.warning("database unavailable (%s); retrying", error.orig)
                    self._stop.wait(self.settings.worker_poll_s)
                    continue
                if exit_when_idle and not self.children and not started:
                    break
                self._stop.wait(0.2 if started or self.children else self.settings.worker_poll_s)
        finally:
            fit_worker.stop()
            self._shutdown()
            self.database.dispose()

    def _fill(self) -> int:
        started = 0
        while len(self.children) < self.concurrency and not self._stop.is_set():
            with self.database.transaction(immediate=True) as session:
                run = queue.claim(
                    session=session, worker_id=self.worker_id, checkpoint_root=self.settings.checkpoint_dir
                )
                run_id = None if run is None else run.id
            if run_id is None:
                break
            self._start(run_id)
            started += 1
        return started

    def _start(self, run_id: int) -> None:
        used = {child.slot for child in self.children.values()}
        slot = min(set(range(self.concurrency)) - used)
        gpu = gpu_for_slot(self.gpus, slot)
        process = self._context.Process(
            target=runner.execute,
            args=(
                self.settings,
                run_id,
                self.worker_id,
                gpu,
                max(1, (os.cpu_count() or 1) // self.concurrency),
            ),
            name=f"hyperlaw-run-{run_id}",
            daemon=False,
        )
        process.start()
        self.children[run_id] = _Child(run_id=run_id, slot=slot, process=process)
        log.info(
            "run %s started (%s, process %s, slot %d, GPU %s)", run_id, self.backend, process.pid, slot, gpu
        )

    def _beat(self) -> None:
        with self.database.transaction() as session:
            held = queue.heartbeat(session=session, worker_id=self.worker_id, run_ids=list(self.children))
            requeued = queue.requeue_stale(
                session=session,
                timeout_s=self.settings.heartbeat_timeout_s,
                max_attempts=self.settings.max_attempts,
            )
        for run_id, status in requeued.items():
            log.warning("run %s lost its worker's heartbeat: now %s", run_id, status)
        lost = [
            r
            for r, c in self.children.items()
            if r not in held and c.process.is_alive() and not c.stop_sent_at
        ]
        if not lost:
            return
        with self.database.transaction() as session:
            statuses = queue.statuses(session=session, run_ids=lost)
        for run_id in lost:
            if statuses.get(run_id) in ("done", "diverged", "failed"):
                continue  # the child recorded its own end and is exiting
            log.info("run %s is no longer ours (%s): stopping its process", run_id, statuses.get(run_id))
            self.children[run_id].process.terminate()
            self.children[run_id].stop_sent_at = time.monotonic()

    def _reap(self) -> None:
        for run_id, child in list(self.children.items()):
            if child.process.is_alive():
                if child.stop_sent_at and time.monotonic() - child.stop_sent_at > self.shutdown_grace_s:
                    child.process.kill()
                continue
            child.process.join()
            if child.process.exitcode != 0:
                # Recorded before the child is forgotten: with the database away this raises, and
                # the next pass records it (the run meanwhile still heartbeated as ours).
                self._after_crash(run_id, child.process.exitcode)
            del self.children[run_id]

    def _after_crash(self, run_id: int, exitcode: int | None) -> None:
        # The child died without reaching its own boundary (killed, out of memory, a
        # segfault): record that here, so the run never stays `running` on a dead process.
        with self.database.transaction() as session:
            status = queue.fail(
                session=session,
                run_id=run_id,
                worker_id=self.worker_id,
                error=f"the run's process exited with code {exitcode}",
                max_attempts=self.settings.max_attempts,
            )
        if status:
            log.warning("run %s: process exited with %s, now %s", run_id, exitcode, status)

    def _shutdown(self) -> None:
        # Asked through the database as well as by signal: a Ray task may be on another machine,
        # and Ray's soft cancel does not always reach a task busy in torch.
        try:
            with self.database.transaction() as session:
                queue.request_stop(session=session, worker_id=self.worker_id, run_ids=list(self.children))
        except (OperationalError, InterfaceError) as error:
            # The database is away: the signal and the grace below still stop them.
            log.warning("could not ask the runs to stop through the database: %s", error)
        for child in self.children.values():
            if child.process.is_alive() and child.stop_sent_at is None:
                child.process.terminate()  # SIGTERM: checkpoint, release, exit
                child.stop_sent_at = time.monotonic()
        deadline = time.monotonic() + self.shutdown_grace_s
        for child in self.children.values():
            child.process.join(max(0.0, deadline - time.monotonic()))
            if child.process.is_alive():
                child.process.kill()
                child.process.join()
        # Whatever a child could not release itself goes back to the queue now.
        with self.database.transaction() as session:
            for run_id in list(self.children):
                queue.release(session=session, run_id=run_id, worker_id=self.worker_id)
        self.children.clear()
