"""LR and batch-size laws on the Step Law dense grid (Li et al. 2025), leave one cell out.

For every (N, D) cell of the released dense LR x batch grid, fit lr_opt and batch_opt on the runs
of the other cells, predict the cell's optimum LR and batch size, and score the prediction by the
loss of the cell's grid run nearest the predicted (LR, batch) (Euclidean in log LR and log batch),
relative to the cell's best run: the loss a user following the law would have given up. Two
fitters are compared:

- default: fitting.fit(..., form="auto", method="quadratic"), what hyperlaw does unless told;
- recipe: the authors' own fit (code/fit_tool.py): all runs within 0.25% of their cell's best, OLS
  of log LR on log N, log D and of log B on log D (method="band", form="steplaw").

    python -m bench.steplaw [--data ../shared/data/steplaw/dense_lr_bs_loss.csv]

Prints each cell, then per fitter the mean and worst relative loss, and last
`steplaw: ratio=… (default mean … worst … / recipe mean … worst …)`, the ratio of the mean losses
given up (below 1: the default loses less).
"""

from __future__ import annotations

import argparse
import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import fitting

SEQ_LEN = 2048  # the release's batch sizes are in sequences of 2,048 tokens (SOURCE.md)
FITTERS = {
    "default": {"form": "auto", "method": "quadratic"},
    "recipe": {"form": "steplaw", "method": "band"},
}


@dataclass(frozen=True)
class Grid:
    """The dense runs: N, D, LR, batch (tokens) and smoothed final loss."""

    N: np.ndarray
    D: np.ndarray
    lr: np.ndarray
    batch: np.ndarray
    loss: np.ndarray

    def take(self, keep: np.ndarray) -> dict[str, np.ndarray]:
        return {k: getattr(self, k)[keep] for k in ("N", "D", "lr", "batch", "loss")}


def default_path() -> Path:
    root = Path(
        os.environ.get("HYPERLAW_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
    )
    return root / "steplaw" / "dense_lr_bs_loss.csv"


def load(path: Path) -> Grid:
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    column = lambda name: np.array([float(r[name]) for r in rows])  # noqa: E731
    return Grid(column("N"), column("D"), column("lr"), column("bs") * SEQ_LEN, column("smooth loss"))


def given_up(grid: Grid, cell: np.ndarray, lr: float, batch: float) -> float:
    """Loss of the cell's run nearest (lr, batch) in log space, relative to the cell's best, minus 1."""
    distance = np.hypot(np.log(grid.lr[cell] / lr), np.log(grid.batch[cell] / batch))
    return float(grid.loss[cell][np.argmin(distance)] / grid.loss[cell].min() - 1.0)


def leave_one_cell_out(grid: Grid, options: dict[str, str]) -> list[tuple[float, ...]]:
    """(N, D, loss given up, predicted / best run's LR, predicted / best run's batch) of every cell
    predicted from the others."""
    cells = np.unique(np.column_stack([grid.N, grid.D]), axis=0)
    out = []
    for n_params, tokens in cells:
        cell = (grid.N == n_params) & (grid.D == tokens)
        rest = grid.take(~cell)
        lr = fitting.fit("lr_opt", **rest, bootstrap=0, **options).predict(N=n_params, D=tokens).value
        batch = fitting.fit("batch_opt", **rest, bootstrap=0, **options).predict(N=n_params, D=tokens).value
        best = np.argmin(np.where(cell, grid.loss, np.inf))
        out.append(
            (n_params, tokens, given_up(grid, cell, lr, batch), lr / grid.lr[best], batch / grid.batch[best])
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None)
    args = parser.parse_args()
    path = args.data or default_path()
    if not path.exists():
        raise SystemExit(f"no Step Law grid at {path}: set HYPERLAW_SHARED_DATA or pass --data")
    grid = load(path)
    summary = {}
    for name, options in FITTERS.items():
        scores = leave_one_cell_out(grid, options)
        for n_params, tokens, lost, lr_ratio, batch_ratio in scores:
            print(
                f"{name:8s} N={n_params:.3g} D={tokens:.3g}: {lost:.3%} above the cell's best "
                f"(LR {lr_ratio:.2f}x, batch {batch_ratio:.2f}x the best run's)"
            )
        losses = np.array([s[2] for s in scores])
        summary[name] = (float(losses.mean()), float(losses.max()))
        print(f"{name}: mean {losses.mean():.3%}, worst {losses.max():.3%} over {losses.size} cells")
    (mean_d, worst_d), (mean_r, worst_r) = summary["default"], summary["recipe"]
    print(
        f"steplaw: ratio={mean_d / mean_r:.3f} (default mean {mean_d:.3%} worst {worst_d:.3%} / "
        f"recipe mean {mean_r:.3%} worst {worst_r:.3%})"
    )


if __name__ == "__main__":
    main()
