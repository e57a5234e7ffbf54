"""Do loss intervals hold when the law is extrapolated? Leave-largest-out on published ladders.

For every published ladder in the shared reference data, fit the loss law on the smaller runs and
predict the held-out larger ones, in two protocols: the largest model sizes held out (every run of
them), and the largest token counts held out. For each held-out run: is the observed loss inside the
95% prediction interval, and inside the 95% parameter interval; how wide is each (relative to the
predicted loss); how far off is the point prediction. Printed per dataset and pooled; the last line:

    extrapolation: pooled prediction coverage=… median width=… mean error=…

Data: HYPERLAW_SHARED_DATA (default ../shared/data beside the repository). The held-out share and
the laws are fixed below; nothing is tuned to a dataset.

    python -m bench.extrapolation [--bootstrap 200] [--law chinchilla] [--datasets chinchilla,gadre]
                                  [--protocol quarter|tenfold]

`--protocol tenfold` asks the question users bring, "my runs up to N: what will a model ten times
larger reach?": fit on the runs of models at most a tenth of the ladder's largest (every token count
of them), predict every run of a larger model (up to 10x and beyond the largest fitted), at least
three fitted sizes; ladders spanning less than that are skipped. The default `quarter` is the
protocol above, fixed before any number was seen.

`--datasets gadre_evals` scores Gadre et al.'s runs on their seven other validation sets: ladders
that no choice in the method was made on, a check of the calibration outside the data it was
developed on (not in the default list).

Before the last line, the pooled held-out runs are broken down by tokens per parameter (D/N below
1, 1 to 20, 20 and above: fewer tokens than parameters, up to Chinchilla's compute-optimal ratio,
beyond it). The breakdown is a report only: no fit or interval uses it. Then what any interval
around these point predictions could reach: the pooled median width of an oracle that knows each
fit's held-out errors and gives every run of the fit one width, just wide enough to cover
ORACLE_COVERAGE of them; and of one that knows each run's own error (twice it).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import fitting

LEVEL = 0.95
# Hold out the largest quarter of the distinct values of N (or D), at least one value, while
# keeping at least three distinct values to fit on.
HELD_SHARE = 0.25
MIN_FITTED_VALUES = 3
# The report's tokens-per-parameter bands: one token per parameter, and Hoffmann et al. 2022's
# compute-optimal ~20.
RATIO_BANDS = ((0.0, 1.0, "D/N < 1"), (1.0, 20.0, "1 <= D/N < 20"), (20.0, math.inf, "D/N >= 20"))
# The oracle widths' coverage of each fit's held-out runs: the benchmark's pooled coverage target.
ORACLE_COVERAGE = 0.90


@dataclass(frozen=True)
class Ladder:
    """One published ladder: runs (or checkpoints, with their run as group) with N, D and loss."""

    dataset: str
    name: str
    N: np.ndarray
    D: np.ndarray
    loss: np.ndarray
    group: np.ndarray | None = None


@dataclass
class Tally:
    """Held-out runs of one dataset (or all): coverage, widths and errors of both intervals."""

    covered: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    widths: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[float] = field(default_factory=list)
    count: int = 0
    failed: list[str] = field(default_factory=list)
    # Per held-out run, the oracle width of its fit (fit_oracle_widths).
    oracle_widths: list[float] = field(default_factory=list)

    def add(self, observed: float, estimates: dict[str, fitting.Estimate]) -> None:
        self.count += 1
        point = next(iter(estimates.values())).value
        self.errors.append(abs(point / observed - 1.0))
        for kind, estimate in estimates.items():
            self.covered[kind] += int(estimate.lo <= observed <= estimate.hi)
            self.widths[kind].append((estimate.hi - estimate.lo) / estimate.value)

    def line(self, label: str) -> str:
        parts = [f"{label}: {self.count} held-out runs"]
        for kind in ("prediction", "parameter"):
            if self.widths.get(kind):
                parts.append(
                    f"{kind} coverage={self.covered[kind] / self.count:.2f} "
                    f"median width={np.median(self.widths[kind]):.2%}"
                )
        if self.errors:
            parts.append(f"mean error={np.mean(self.errors):.2%}")
        if self.failed:
            parts.append(f"failed fits: {', '.join(self.failed)}")
        return "; ".join(parts)


def fit_oracle_widths(errors: list[float]) -> list[float]:
    """One fit's oracle width for each of its held-out runs: the narrowest width, the same for all of
    them and centred on the point predictions, that covers ORACLE_COVERAGE of their relative errors."""
    if not errors:
        return []
    return [2.0 * float(np.quantile(errors, ORACLE_COVERAGE))] * len(errors)


def shared_folder() -> Path:
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    folder = Path(os.environ.get("HYPERLAW_SHARED_DATA", default))
    if not folder.is_dir():
        raise SystemExit(f"no shared reference data at {folder}: set HYPERLAW_SHARED_DATA to its folder")
    return folder


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def chinchilla(folder: Path) -> Iterator[Ladder]:
    """Hoffmann et al. 2022's points as Epoch AI extracted them, their 5 outliers left out."""
    rows = [
        r
        for r in _csv(folder / "chinchilla_epoch" / "chinchilla_fig4_points.csv")
        if r["epoch_outlier_excluded"] == "0"
    ]
    yield _ladder("chinchilla", "epoch", rows, "N_params", "D_tokens", "loss")


# The validation loss the calibration read on Gadre et al.'s runs; gadre_evals reads the others.
GADRE_DEFAULT_LOSS = "loss_c4_val"


def gadre(folder: Path) -> Iterator[Ladder]:
    """Gadre et al. 2024: per training set, 10M-7B models up to 640 tokens per parameter (C4-val loss)."""
    rows = _csv(folder / "gadre2024_overtraining" / "runs_losses.csv")
    for dataset in sorted({r["train_dataset"] for r in rows}):
        chosen = [r for r in rows if r["train_dataset"] == dataset]
        yield _ladder("gadre", dataset, chosen, "N_params", "D_tokens", GADRE_DEFAULT_LOSS)


def gadre_evals(folder: Path) -> Iterator[Ladder]:
    """Gadre et al. 2024's same runs scored on their seven other validation sets (OpenLM, Paloma's
    C4, code, RefinedWeb, PTB, RedPajama, a German-English set): ladders no calibration choice looked
    at. Not among the default datasets, so the pooled line stays the one recorded."""
    rows = _csv(folder / "gadre2024_overtraining" / "runs_losses.csv")
    columns = [c for c in rows[0] if c.startswith("loss_") and "95" not in c and c != GADRE_DEFAULT_LOSS]
    for column in columns:
        for dataset in sorted({r["train_dataset"] for r in rows}):
            chosen = [r for r in rows if r["train_dataset"] == dataset]
            yield _ladder("gadre_evals", f"{dataset} {column}", chosen, "N_params", "D_tokens", column)


def gemstones(folder: Path) -> Iterator[Ladder]:
    """McLeish et al. 2025: 22 models, the ends of cooldowns from 10 checkpoints each (grouped by run)."""
    path = folder / "gemstones2025" / "wandb_df_for_fitting_cool_end.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    yield Ladder(
        "gemstones",
        "cool_end",
        np.array([r["params_active_precise"] for r in rows], dtype=float),
        np.array([r["tokens"] for r in rows], dtype=float),
        np.array([r["final_loss"] for r in rows], dtype=float),
        np.array([r["run_name"] for r in rows]),
    )


def porian(folder: Path) -> Iterator[Ladder]:
    """Porian et al. 2024: IsoFLOP sweeps of each validation-loss configuration. Under a Kaplan-style
    (fixed long horizon) or constant schedule one run per model size gives the points of every
    budget, read off its curve: those points are grouped by run (config, N); under the Chinchilla
    schedule each budget is a run of its own."""
    rows = _csv(folder / "porian2024_isoflop" / "isoflop_points.csv")
    for config in sorted({r["config_id"] for r in rows if r["loss_source"] == "val"}):
        chosen = [r for r in rows if r["config_id"] == config]
        one_run_per_size = chosen[0]["decay"] in ("kaplan", "const")
        yield _ladder("porian", config, chosen, "N", "D", "loss", group="N" if one_run_per_size else None)


def steplaw(folder: Path) -> Iterator[Ladder]:
    """Li et al. 2025 (Step Law) dense grid: the best run of each (N, D) cell's LR x batch sweep."""
    best: dict[tuple[float, float], float] = {}
    for row in _csv(folder / "steplaw" / "dense_lr_bs_loss.csv"):
        key = (float(row["N"]), float(row["D"]))
        best[key] = min(best.get(key, math.inf), float(row["loss"]))
    keys = sorted(best)
    yield Ladder(
        "steplaw",
        "dense best-of-sweep",
        np.array([k[0] for k in keys]),
        np.array([k[1] for k in keys]),
        np.array([best[k] for k in keys]),
    )


def _ladder(
    dataset: str, name: str, rows: list[dict], n: str, d: str, loss: str, group: str | None = None
) -> Ladder:
    kept = [r for r in rows if r[loss] not in ("", "nan") and float(r[loss]) > 0]
    return Ladder(
        dataset,
        name,
        np.array([float(r[n]) for r in kept]),
        np.array([float(r[d]) for r in kept]),
        np.array([float(r[loss]) for r in kept]),
        np.array([r[group] for r in kept]) if group else None,
    )


DATASETS: dict[str, Callable[[Path], Iterator[Ladder]]] = {
    "chinchilla": chinchilla,
    "gadre": gadre,
    "gadre_evals": gadre_evals,
    "gemstones": gemstones,
    "porian": porian,
    "steplaw": steplaw,
}


# Checks on ladders outside the calibration, run only when named in --datasets.
EXTRA_DATASETS = ("gadre_evals",)

# tenfold: fit on models at most this fraction of the ladder's largest, predict the larger ones.
TENFOLD = 0.1


def held_out_tenfold(n_params: np.ndarray) -> np.ndarray | None:
    """Rows of models larger than TENFOLD times the largest; None when fewer than MIN_FITTED_VALUES
    sizes lie at or below it."""
    fitted = n_params <= TENFOLD * n_params.max() * (1.0 + 1e-9)
    if np.unique(n_params[fitted]).size < MIN_FITTED_VALUES:
        return None
    return ~fitted


def held_out(values: np.ndarray) -> np.ndarray | None:
    """Rows whose value is among the largest HELD_SHARE of distinct values; None when too few remain."""
    distinct = np.unique(values)
    count = max(1, int(round(HELD_SHARE * distinct.size)))
    if distinct.size - count < MIN_FITTED_VALUES:
        return None
    return values >= distinct[-count]


def ratio_band(n_params: float, tokens: float) -> str:
    """The RATIO_BANDS label of a run's tokens per parameter."""
    ratio = tokens / n_params
    return next(label for lo, hi, label in RATIO_BANDS if lo <= ratio < hi)


def run_protocol(
    ladder: Ladder,
    axis: str,
    law: str,
    bootstrap: int,
    tally: Tally,
    pooled: Tally,
    bands: dict[str, Tally] | None = None,
) -> None:
    if axis == "tenfold":
        held = held_out_tenfold(ladder.N)
    else:
        held = held_out(ladder.N if axis == "N" else ladder.D)
    if held is None:
        return
    keep = ~held
    label = f"{ladder.dataset}/{ladder.name} largest {axis}"
    group = ladder.group[keep] if ladder.group is not None else None
    try:
        fit = fitting.fit(
            law,
            N=ladder.N[keep],
            D=ladder.D[keep],
            loss=ladder.loss[keep],
            bootstrap=bootstrap,
            seed=0,
            group=group,
        )
    except ValueError as error:
        tally.failed.append(f"{label} ({error})")
        return
    first = len(pooled.errors)
    for n_params, tokens, observed in zip(ladder.N[held], ladder.D[held], ladder.loss[held], strict=True):
        estimates = {kind: _predict(fit, n_params, tokens, kind) for kind in ("prediction", "parameter")}
        tally.add(float(observed), estimates)
        pooled.add(float(observed), estimates)
        if bands is not None:
            bands.setdefault(ratio_band(n_params, tokens), Tally()).add(float(observed), estimates)
    pooled.oracle_widths.extend(fit_oracle_widths(pooled.errors[first:]))


def _predict(fit: fitting.Fit, n_params: float, tokens: float, kind: str) -> fitting.Estimate:
    return fit.predict(level=LEVEL, N=n_params, D=tokens, interval=kind)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--law", default="chinchilla")
    parser.add_argument("--datasets", default=",".join(d for d in DATASETS if d not in EXTRA_DATASETS))
    parser.add_argument("--protocol", choices=("quarter", "tenfold"), default="quarter")
    args = parser.parse_args()
    axes = ("N", "D") if args.protocol == "quarter" else ("tenfold",)
    folder = shared_folder()
    pooled = Tally()
    bands: dict[str, Tally] = {}
    started = time.perf_counter()
    for dataset in args.datasets.split(","):
        tally = Tally()
        for ladder in DATASETS[dataset](folder):
            for axis in axes:
                run_protocol(ladder, axis, args.law, args.bootstrap, tally, pooled, bands)
        print(tally.line(dataset), flush=True)
    print(
        f"({time.perf_counter() - started:.0f} s, law {args.law}, {args.bootstrap} bootstrap replicates, "
        f"protocol {args.protocol})"
    )
    for _, _, label in RATIO_BANDS:
        if label in bands:
            print(bands[label].line(f"pooled, {label}"))
    if pooled.errors:
        print(
            f"oracle: pooled median width={np.median(pooled.oracle_widths):.2%} knowing each fit's errors "
            f"(one width per fit, covering {ORACLE_COVERAGE:.0%} of its held-out runs), "
            f"{np.median(2.0 * np.array(pooled.errors)):.2%} knowing each run's"
        )
    prediction = "prediction" if pooled.widths.get("prediction") else "parameter"
    print(
        f"extrapolation: pooled {prediction} coverage={pooled.covered[prediction] / max(pooled.count, 1):.2f} "
        f"median width={np.median(pooled.widths[prediction]):.2%} mean error={np.mean(pooled.errors):.2%}"
    )


if __name__ == "__main__":
    main()
