"""The worker's curve callback stops a run only right after a checkpoint, for dense and
sparse logging alike, so a graceful stop never loses trained steps that were not saved."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.settings import Settings
from app.worker.runner import CurveWriter, Stop


@dataclass
class Point:  # the fields of trainer.CurvePoint
    step: int
    tokens: float
    train_loss: float
    eval_loss: float | None
    lr: float
    noise_scale: float | None
    wall_time: float


class _Writer(CurveWriter):
    def flush(self) -> None:  # no database here: this checks only when the writer stops
        self.buffer = []


def _stop_step(steps, every):
    writer = _Writer(None, 1, "w", Settings(database_url="sqlite://"), checkpoint_every=every)
    writer.stop_requested = True
    for step in steps:
        try:
            writer(Point(step, step * 10.0, 1.0, None, 1.0, None, 0.0))
        except Stop:
            return step, writer.last_step
    return None, writer.last_step


@pytest.mark.parametrize(
    "steps, every, stops_at, last_written",
    [
        (range(1, 100), 10, 11, 10),  # every step logged: stop at the point after the checkpoint at 10
        (range(3, 100, 3), 10, 12, 9),  # logged every 3 steps: the checkpoint at 10 lies between 9 and 12
        (range(1, 9), 10, None, 8),  # no checkpoint yet: keep training
    ],
)
def test_stops_after_a_checkpoint(steps, every, stops_at, last_written):
    assert _stop_step(steps, every) == (stops_at, last_written)
