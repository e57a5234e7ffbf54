"""One run, in its own process: train it, stream its curve to the database, record the end.

`execute(settings, run_id, worker_id)` is the body of a pool child. It opens no
transaction while the model trains: curve points are buffered and written in short
transactions (an upsert plus a heartbeat), and the end is written in one more.

This is the worker boundary, so it holds the one broad `try/except`: whatever the
trainer raises, the run ends with a recorded status (requeued for another attempt, or
`failed` with the error once its attempts are used up).
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

log = logging.getLogger(__name__)


class Stop(Exception):
    """Raised from the curve callback to end training early (shutdown or cancellation)."""


class CurveWriter:
    """The trainer's `on_point`: buffers points and writes them in batches.

    Each flush upserts the batch and refreshes the run's heartbeat and progress in one
    short transaction. A flush that finds the run no longer held (cancelled, or
    requeued after a lost heartbeat) stops the training.
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
        if (
            before_checkpoint
            or len(self.buffer) >= self.batch_size
            or time.monotonic() - self.last_flush >= self.flush_every_s
        ):
            self.flush()

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        with self.database.transaction() as session:
            curves.write_points(session=session, run_id=self.run_id, points=self.buffer)
            held = queue.heartbeat(
                session=session,
                worker_id=self.worker_id,
                run_ids=[self.run_id],
                progress={self.run_id: self.last_tokens},
            )
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

    def on_sigterm(_signum, _frame) -> None:
        if writer is not None:
            writer.stop_requested = True

    if install_signal_handlers:
        signal.signal(signal.SIGTERM, on_sigterm)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the pool, which stops us with SIGTERM
    try:
        with database.transaction() as session:
            run = runs.get_run(session=session, run_id=run_id)
            spec_values, checkpoint = dict(run.spec or {}), run.checkpoint_path
        from trainer import train
        from trainer.spec import RunSpec

        spec = RunSpec.from_dict(spec_values)
        # Again here, not only at the API: a spec may reach the queue by another way (the CLI, an
        # older API, the database itself), and this worker's data roots are what it may read.
        specs.check_data(spec.data, settings.data_roots)
        every = spec.eval_every_steps
        writer = CurveWriter(
            database, run_id, worker_id, settings, checkpoint_every=every, total_steps=spec.steps
        )
        result = train(
            spec, on_point=writer, checkpoint_dir=checkpoint, resume=True, checkpoint_every_steps=every
        )
        writer.flush()
        status = _record_result(database, run_id, worker_id, result)
        if status == "done" and checkpoint:
            shutil.rmtree(checkpoint, ignore_errors=True)
        return status
    except (Stop, KeyboardInterrupt):
        if writer is not None and writer.stopped_by == "cancelled":
            return "cancelled"
        if writer is not None and writer.buffer:
            writer.flush_quietly()
        with database.transaction() as session:
            queue.release(session=session, run_id=run_id, worker_id=worker_id)
        log.info("run %s checkpointed and released", run_id)
        return "queued"
    except InvalidInput as error:  # the spec is refused here (its data path): retrying cannot help
        log.warning("run %s refused: %s", run_id, error)
        with database.transaction() as session:
            status = queue.fail(
                session=session, run_id=run_id, worker_id=worker_id, error=f"refused: {error}", max_attempts=1
            )
        return status or "lost"
    except Exception as error:  # the worker boundary: every failure ends in a recorded status
        log.exception("run %s failed", run_id)
        if writer is not None and writer.buffer:
            writer.flush_quietly()
        with database.transaction() as session:
            status = queue.fail(
                session=session,
                run_id=run_id,
                worker_id=worker_id,
                error=f"{type(error).__name__}: {error}",
                max_attempts=settings.max_attempts,
            )
        return status or "lost"
    finally:
        database.dispose()


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
    return result.status if held else "cancelled"
