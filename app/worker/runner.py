"""One run, in its own process: train it, stream its curve to the database, record the end.

`execute(settings, run_id, worker_id)` is the body of a pool child. It opens no
transaction while the model trains: curve points are buffered and written in short
transactions (an upsert plus a heartbeat), and the end is written in one more.

This is the worker boundary, so it holds the one broad `try/except`: whatever the
trainer raises, the run ends with a recorded status (requeued for another attempt, or
`failed` with the error once its attempts are used up).

A database outage is not a failure of the run: writes are retried with backoff
(app/worker/retry.py) for `curve_write_retry_s`, training going on with the points kept in
memory (at most `curve_buffer_max_points`) until a checkpoint needs them stored. A run whose
writes still fail is given back to the queue at once, its attempt not counted.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import time
from dataclasses import asdict
from typing import Any

from app import curves, runs, specs
from app.db import Database
from app.errors import InvalidInput
from app.settings import Settings
from app.worker import queue
from app.worker.retry import is_transient, with_retries

log = logging.getLogger(__name__)


class Stop(Exception):
    """Raised from the curve callback to end training early (shutdown or cancellation)."""


class WritesLost(Exception):
    """The database stayed unreachable past the retry budget: the run goes back to the queue."""


class CurveWriter:
    """The trainer's `on_point`: buffers points and writes them in batches.

    Each flush upserts the batch and refreshes the run's heartbeat and progress in one
    short transaction. A flush that finds the run no longer held (cancelled, or
    requeued after a lost heartbeat) stops the training; one that finds a stop requested
    by the pool (queue.request_stop: it is shutting down) stops it at the next checkpoint.

    While the database is unreachable, routine flushes fail softly (the points stay buffered,
    tried again after a growing pause); a flush before a checkpoint, or with the buffer full,
    retries until `curve_write_retry_s` is spent, then raises WritesLost: a checkpoint is
    never ahead of the stored curve.
    """

    def __init__(
        self,
        database: Database,
        run_id: int,
        worker_id: str,
        settings: Settings,
        checkpoint_every: int,
        total_steps: int | None = None,
    ):
        self.database, self.run_id, self.worker_id = database, run_id, worker_id
        self.batch_size = settings.curve_batch_size
        self.flush_every_s = settings.heartbeat_interval_s
        self.checkpoint_every = checkpoint_every
        self.total_steps = total_steps
        self.buffer: list[dict[str, Any]] = []
        self.last_flush = time.monotonic()
        self.last_step = 0
        self.last_tokens = 0.0
        self.stop_requested = False
        self.stopped_by = ""
        self.retry_budget_s = settings.curve_write_retry_s
        self.max_buffer = settings.curve_buffer_max_points
        self.retry_at = 0.0  # after a soft failure, no routine flush before this (monotonic) time
        self.soft_delay_s = 0.0
        self.failed_flushes = 0

    def __call__(self, point) -> None:
        # The trainer checkpoints at every multiple of the interval (after that step's point,
        # if it logs one). Stop at the first point with a checkpoint taken since the last
        # point: resuming from it repeats nothing that was not written.
        saved = (point.step - 1) // self.checkpoint_every * self.checkpoint_every
        if self.stop_requested and saved > 0 and saved >= self.last_step:
            self.flush()
            self.stopped_by = self.stopped_by or "shutdown"
            raise Stop(self.stopped_by)
        self.buffer.append(asdict(point))
        self.last_step, self.last_tokens = int(point.step), float(point.tokens)
        # The trainer saves a checkpoint right after this call at every checkpoint step (each
        # one is an eval step, so it always emits its point first) and at the last step.
        # Writing the curve before that checkpoint means a checkpoint is never ahead of the
        # stored curve: a run resumed after a crash re-emits every point not yet written.
        before_checkpoint = point.step % self.checkpoint_every == 0 or point.step == self.total_steps
        if before_checkpoint or len(self.buffer) >= self.max_buffer:
            self.flush()
        elif (
            len(self.buffer) >= self.batch_size or time.monotonic() - self.last_flush >= self.flush_every_s
        ) and time.monotonic() >= self.retry_at:
            self.flush_softly()

    def flush_softly(self) -> None:
        """One try; an unreachable database leaves the points buffered and the training going."""
        try:
            self._write()
        except Exception as error:
            if not is_transient(error):
                raise
            self.failed_flushes += 1
            self.soft_delay_s = min(max(2 * self.soft_delay_s, 0.25), 4.0)
            self.retry_at = time.monotonic() + self.soft_delay_s
            log.warning(
                "run %s: database unavailable, %d curve points kept in memory", self.run_id, len(self.buffer)
            )
            return
        self.soft_delay_s, self.retry_at = 0.0, 0.0

    def flush(self) -> None:
        """Write the buffer, waiting out an outage for up to the retry budget (then WritesLost)."""
        try:
            with_retries(self._write, budget_s=self.retry_budget_s, what=f"run {self.run_id}'s curve")
        except Exception as error:
            if is_transient(error):
                raise WritesLost(
                    f"curve points not written for {self.retry_budget_s:g} s: {error}"
                ) from error
            raise
        self.soft_delay_s, self.retry_at = 0.0, 0.0

    def _write(self) -> None:
        self.last_flush = time.monotonic()
        with self.database.transaction() as session:
            curves.write_points(session=session, run_id=self.run_id, points=self.buffer)
            held = queue.heartbeat(
                session=session,
                worker_id=self.worker_id,
                run_ids=[self.run_id],
                progress={self.run_id: self.last_tokens},
            )
            # The pool holding the run is shutting down: stop at the next checkpoint, as on SIGTERM.
            if held and queue.stops_requested(session=session, run_ids=held):
                self.stop_requested = True
        self.buffer = []
        if self.run_id not in held:
            self.stopped_by = "cancelled"
            raise Stop("the run is no longer held by this worker (cancelled or requeued)")

    def flush_quietly(self) -> None:
        """Write what is buffered on the way out; a failure is logged, not raised (the
        points come again when the run resumes from its checkpoint)."""
        try:
            self.flush()
        except Exception:
            log.warning("could not write the last curve points of run %s", self.run_id)


def execute(
    settings: Settings,
    run_id: int,
    worker_id: str,
    gpu: str | None = None,
    cpu_threads: int | None = None,
    *,
    install_signal_handlers: bool = True,
) -> str:
    """Train run `run_id` (already claimed by `worker_id`); returns the status it ended in.

    `cpu_threads` splits the CPU between the pool's processes, so K runs on a CPU do not
    oversubscribe it K-fold. A local child stops on SIGTERM at its next checkpoint; under
    Ray (install_signal_handlers=False) a KeyboardInterrupt from `ray.cancel` stops it at
    once, and the run resumes from its last checkpoint.
    """
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    if cpu_threads is not None:
        import torch

        torch.set_num_threads(cpu_threads)
    database = Database(settings.database_url)
    writer: CurveWriter | None = None
    budget = settings.curve_write_retry_s
    # Giving the run back is worth waiting for up to the heartbeat timeout: past that, another
    # worker requeues it anyway (counting the attempt).
    release_budget = settings.heartbeat_timeout_s

    def retried(write, what: str):
        return with_retries(write, budget_s=budget, what=f"run {run_id}: {what}")

    def on_sigterm(_signum, _frame) -> None:
        if writer is not None:
            writer.stop_requested = True

    if install_signal_handlers:
        signal.signal(signal.SIGTERM, on_sigterm)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the pool, which stops us with SIGTERM
    try:

        def read_run():
            with database.transaction() as session:
                run = runs.get_run(session=session, run_id=run_id)
                return dict(run.spec or {}), run.checkpoint_path

        spec_values, checkpoint = retried(read_run, "reading the run")
        from trainer import train
        from trainer.spec import RunSpec

        spec = RunSpec.from_dict(spec_values)
        # Again here, not only at the API: a spec may reach the queue by another way (the CLI, an
        # older API, the database itself), and this worker's data roots are what it may read.
        specs.check_data(spec.data, settings.data_roots)
        _check_device(spec.device)
        every = spec.eval_every_steps
        writer = CurveWriter(
            database, run_id, worker_id, settings, checkpoint_every=every, total_steps=spec.steps
        )
        result = train(
            spec, on_point=writer, checkpoint_dir=checkpoint, resume=True, checkpoint_every_steps=every
        )
        writer.flush()
        status = retried(lambda: _record_result(database, run_id, worker_id, result), "recording its end")
        if status == "done" and checkpoint:
            shutil.rmtree(checkpoint, ignore_errors=True)
        return status
    except (Stop, KeyboardInterrupt):
        if writer is not None and writer.stopped_by == "cancelled":
            return "cancelled"
        if writer is not None and writer.buffer:
            writer.flush_quietly()
        return _release(database, run_id, worker_id, release_budget, "checkpointed and released")
    except WritesLost as error:
        # Not the run's fault: give it back now (its attempt not counted) rather than leave it
        # `running` until the heartbeat timeout. Resuming from its checkpoint re-emits every
        # point not written, since no checkpoint is taken before its points are stored.
        log.warning("run %s: %s", run_id, error)
        return _release(database, run_id, worker_id, release_budget, "released: the database was unreachable")
    except InvalidInput as error:  # the spec is refused here (its data path): retrying cannot help
        log.warning("run %s refused: %s", run_id, error)
        refusal = f"refused: {error}"

        def refuse():
            with database.transaction() as session:
                return queue.fail(
                    session=session,
                    run_id=run_id,
                    worker_id=worker_id,
                    error=refusal,
                    max_attempts=1,
                )

        return retried(refuse, "recording its refusal") or "lost"
    except Exception as error:  # the worker boundary: every failure ends in a recorded status
        if is_transient(error):  # the database went away outside a retried write: not the run's fault
            log.warning("run %s: database unavailable (%s)", run_id, error)
            return _release(
                database, run_id, worker_id, release_budget, "released: the database was unreachable"
            )
        log.exception("run %s failed", run_id)
        if writer is not None and writer.buffer:
            writer.flush_quietly()
        message = f"{type(error).__name__}: {error}"

        def record_failure():
            with database.transaction() as session:
                return queue.fail(
                    session=session,
                    run_id=run_id,
                    worker_id=worker_id,
                    error=message,
                    max_attempts=settings.max_attempts,
                )

        return retried(record_failure, "recording its failure") or "lost"
    finally:
        database.dispose()


def _check_device(requested: str) -> None:
    """InvalidInput (refused at once, no retries) when this machine lacks the run's device: a run
    queued for cuda reaching a CPU-only worker fails the same way on every attempt."""
    from trainer.loop import pick_device

    try:
        pick_device(requested)
    except ValueError as error:
        raise InvalidInput(str(error), field="device") from None


def _release(database: Database, run_id: int, worker_id: str, budget_s: float, how: str) -> str:
    """Give the run back to the queue (its attempt not counted), retrying through an outage;
    returns "queued", or "lost" if the database stayed away (the heartbeat timeout then requeues it)."""

    def release() -> None:
        with database.transaction() as session:
            queue.release(session=session, run_id=run_id, worker_id=worker_id)

    try:
        with_retries(release, budget_s=budget_s, what=f"run {run_id}: releasing it")
    except Exception as error:
        if not is_transient(error):
            raise
        log.warning("run %s could not be released (%s): its heartbeat timeout will requeue it", run_id, error)
        return "lost"
    log.info("run %s %s", run_id, how)
    return "queued"


def _record_result(database: Database, run_id: int, worker_id: str, result) -> str:
    loss = result.final_eval_loss if result.final_eval_loss is not None else result.final_train_loss
    values = {
        "status": result.status,
        "final_train_loss": result.final_train_loss,
        "final_eval_loss": result.final_eval_loss,
        "loss": loss if result.status == "done" else None,
        "steps": result.steps,
        "tokens": float(result.tokens),
        "n_params": float(result.params.total),
        "n_params_non_embedding": float(result.params.non_embedding),
        "flops": float(result.flops_kaplan),
        "flops_6nd": float(result.flops_6nd),
        "tokens_per_s": result.tokens_per_second,
        "progress_tokens": float(result.tokens),
        "error": result.message or None,
    }
    with database.transaction() as session:
        held = queue.finish(session=session, run_id=run_id, worker_id=worker_id, **values)
        # A retry after a commit whose answer was lost finds the run already ended as recorded.
        if not held and queue.statuses(session=session, run_ids=[run_id]).get(run_id) == result.status:
            held = True
    return result.status if held else "cancelled"
