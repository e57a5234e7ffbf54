"""The whole loop on a laptop, for `hyperlaw demo`: a study, real proxy runs on `pystdlib` trained by
the local worker pool, the loss law and the LR law fitted as the service fits them, a prediction for
a model 10x larger than the largest proxy, and the HTML report.

Each step is one function over the app's own owners (studies, runs, fits, predictions, reports),
so the demo shows exactly what the service does; app/cli/demo.py only prints. Two designs:

    DESIGNS["full"]   6 models x 3 token counts for the loss law, LR sweeps of 8 values at each model
    DESIGNS["quick"]  4 models x 3 token counts, LR sweeps of 6 values at 3 models (DeepSeek form,
                      which needs 3 sweeps of 6 runs; the Step Law form needs 4)

The loss grid trains every size at one LR; the sweeps share that LR's run at their (N, D), so both
laws read some of the same runs. The loss law is fitted on the grid, the LR law on the sweeps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select

from app import fits, predictions, runs, studies
from app.db import Database, upgrade
from app.db.tables import Run, Study
from app.errors import InvalidInput
from app.settings import Settings, load_settings
from app.specs import accounting, validate_spec

TARGET_SCALE = 10.0  # the prediction is for a model this many times the largest proxy (N and D)
LOSS_LAW = "auto"  # the N, D form with the smallest held-out error (fitting.fit)
LR_LAW = "lr_opt"


Shape = tuple[int, int]  # (n_layer, d_model)


@dataclass(frozen=True)
class DemoDesign:
    """The runs a demo trains: a loss grid (shapes x tokens at base_lr) and LR sweeps at fixed tokens."""

    name: str
    shapes: tuple[Shape, ...]
    tokens: tuple[int, ...]
    sweep_shapes: tuple[Shape, ...]
    sweep_tokens: int
    lrs: tuple[float, ...]
    base_lr: float
    lr_form: str
    bootstrap: int
    # 2 heads, 64-byte sequences, 8 sequences a step: tiny byte-level models that leave the unigram
    # plateau within their first hundred steps on one CPU thread.
    n_head: int = 2
    seq_len: int = 64
    batch_tokens: int = 512
    # Runs within 6% of a sweep's best log loss model its bowl: short proxy runs are noisy next to
    # the bowl's depth (bench.lr_transfer found 2% too narrow for them).
    window: float = 0.06

    def spec(self, shape: Shape, tokens: int, lr: float) -> dict[str, Any]:
        """One run: warmup over 30% of its tokens, cosine to zero, one eval at the end (its loss)."""
        n_layer, d_model = shape
        return {
            "n_layer": n_layer,
            "d_model": d_model,
            "n_head": self.n_head,
            "seq_len": self.seq_len,
            "tokens": tokens,
            "batch_tokens": self.batch_tokens,
            "lr": lr,
            "warmup_tokens": round(0.3 * tokens),
            "schedule": "cosine",
            "min_lr_ratio": 0.0,
            "data": "pystdlib",
            "tied_embeddings": False,
            "eval_every_tokens": tokens,
            "eval_tokens": 16_384,
            "device": "cpu",
            "seed": 0,
        }

    def runs(self) -> tuple[list[dict[str, Any]], list[int], list[int]]:
        """(specs, indices of the loss grid's runs, indices of the LR sweeps' runs); a run in both is
        trained once."""
        specs: list[dict[str, Any]] = []
        index: dict[tuple[Shape, int, float], int] = {}

        def add(shape: Shape, tokens: int, lr: float) -> int:
            key = (shape, tokens, lr)
            if key not in index:
                index[key] = len(specs)
                specs.append(self.spec(shape, tokens, lr))
            return index[key]

        grid = [add(shape, t, self.base_lr) for shape in self.shapes for t in self.tokens]
        sweeps = [add(shape, self.sweep_tokens, lr) for shape in self.sweep_shapes for lr in self.lrs]
        return specs, grid, sweeps

    def describe(self) -> str:
        specs, _, _ = self.runs()

        def shapes(chosen: tuple[Shape, ...]) -> str:
            return ", ".join(f"{d}x{n}" for n, d in chosen)

        return (
            f"{len(specs)} runs. Loss grid: {len(self.shapes)} models (width x layers: "
            f"{shapes(self.shapes)}) x {'/'.join(f'{t // 1024}k' for t in self.tokens)} tokens at "
            f"LR {self.base_lr:g}. LR sweeps: {len(self.lrs)} LRs ({self.lrs[0]:g} .. {self.lrs[-1]:g}) "
            f"at {shapes(self.sweep_shapes)}, {self.sweep_tokens // 1024}k tokens."
        )


def _lrs(lo: float, count: int) -> tuple[float, ...]:
    """`count` LRs doubling from `lo`."""
    return tuple(lo * 2.0**i for i in range(count))


# One-layer models leave the plateau within the quick design's 64-256 steps; two-layer ones need the
# full design's longer runs. The LR grids bracket each sweep's optimum (0.01-0.04 at these sizes).
DESIGNS: dict[str, DemoDesign] = {
    "quick": DemoDesign(
        name="quick",
        shapes=((1, 8), (1, 16), (1, 32), (1, 64)),
        tokens=(32_768, 65_536, 131_072),
        sweep_shapes=((1, 8), (1, 16), (1, 32)),
        sweep_tokens=65_536,
        lrs=_lrs(0.0025, 6),
        base_lr=0.01,
        lr_form="deepseek",
        bootstrap=200,
    ),
    "full": DemoDesign(
        name="full",
        shapes=((1, 8), (1, 16), (1, 32), (2, 32), (2, 64), (2, 96)),
        tokens=(65_536, 131_072, 262_144),
        sweep_shapes=((1, 8), (1, 16), (1, 32), (2, 32), (2, 64), (2, 96)),
        sweep_tokens=131_072,
        lrs=_lrs(0.00125, 8),
        base_lr=0.01,
        lr_form="deepseek",
        bootstrap=1000,
    ),
}


# ------------------------------------------------------------------------------ the study


@dataclass
class DemoStudy:
    """The study the demo made and the ids of its runs, by the law they feed."""

    id: int
    name: str
    run_ids: list[int]
    loss_run_ids: list[int]
    lr_run_ids: list[int]


def open_folder(folder: Path, database_url: str | None = None) -> tuple[Settings, Database]:
    """The demo's settings (a SQLite file and checkpoints in `folder` unless a URL is given), with the
    database migrated."""
    folder.mkdir(parents=True, exist_ok=True)
    url = database_url or f"sqlite:///{(folder / 'hyperlaw.db').resolve()}"
    settings = load_settings(
        database_url=url,
        checkpoint_dir=folder / "checkpoints",
        heartbeat_interval_s=2.0,
        worker_poll_s=0.2,
    )
    upgrade(settings.database_url)
    return settings, Database(settings.database_url)


def create_study(database: Database, design: DemoDesign) -> DemoStudy:
    """A new study named after the design (demo-quick, demo-quick-2, ...) with every run queued."""
    specs, grid, sweeps = design.runs()
    with database.transaction() as session:
        taken = set(session.scalars(select(Study.name)))
        name = next(
            n
            for n in (f"demo-{design.name}" + (f"-{i}" if i > 1 else "") for i in range(1, 10_000))
            if n not in taken
        )
        study = studies.create_study(
            session=session,
            name=name,
            description=f"hyperlaw demo ({design.name}): {design.describe()}",
            data="pystdlib",
            defaults={"seq_len": design.seq_len, "data": "pystdlib"},
        )
        queued, _ = runs.submit_runs(session=session, study=study, specs=specs)
        ids = [r.id for r in queued]
        return DemoStudy(study.id, name, ids, [ids[i] for i in grid], [ids[i] for i in sweeps])


def largest_proxy(design: DemoDesign) -> tuple[float, float]:
    """(N, D) of the largest run, N as the laws count it (non-embedding parameters)."""
    specs, _, _ = design.runs()
    best = max(specs, key=lambda s: accounting(validate_spec(s))["flops"])
    counts = accounting(validate_spec(best))
    return counts["n_params_non_embedding"], float(best["tokens"])


# ------------------------------------------------------------------------------ training


@dataclass(frozen=True)
class Progress:
    """How far the study's runs are: counts by status and the share of their tokens trained."""

    total: int
    by_status: dict[str, int]
    tokens_done: float
    tokens_total: float

    @property
    def finished(self) -> int:
        return sum(self.by_status.get(s, 0) for s in runs.TERMINAL)

    @property
    def unsuccessful(self) -> int:
        return self.finished - self.by_status.get("done", 0)


def progress(database: Database, study_id: int) -> Progress:
    """The study's runs' progress, in one short read."""
    with database.transaction(immediate=False) as session:
        rows = session.execute(
            select(Run.status, func.count(), func.sum(Run.tokens), func.sum(Run.progress_tokens))
            .where(Run.study_id == study_id)
            .group_by(Run.status)
        ).all()
    by_status = {status: count for status, count, _, _ in rows}
    total_tokens = sum(tokens or 0.0 for _, _, tokens, _ in rows)
    done_tokens = sum(
        (tokens or 0.0) if status in runs.TERMINAL else (trained or 0.0)
        for status, _, tokens, trained in rows
    )
    return Progress(sum(by_status.values()), by_status, done_tokens, total_tokens)


@contextmanager
def pool_running(settings: Settings, concurrency: int) -> Iterator[threading.Thread]:
    """The local worker pool training queued runs in a thread until the queue is empty; stopped
    (in-flight runs checkpointed and released) when the block ends early."""
    from app.worker.pool import Pool

    pool = Pool(settings, concurrency=concurrency)
    thread = threading.Thread(
        target=pool.run, kwargs={"exit_when_idle": True}, name="hyperlaw-demo-pool", daemon=True
    )
    thread.start()
    try:
        yield thread
    finally:
        pool.stop()
        thread.join(pool.shutdown_grace_s + 10)


def train(
    settings: Settings,
    database: Database,
    study_id: int,
    *,
    concurrency: int = 2,
    on_progress: Callable[[Progress], None] | None = None,
    poll_s: float = 0.5,
) -> Progress:
    """Train the study's queued runs with the local pool, reporting progress every `poll_s`."""
    with pool_running(settings, concurrency) as thread:
        while thread.is_alive():
            if on_progress is not None:
                on_progress(progress(database, study_id))
            thread.join(poll_s)
    final = progress(database, study_id)
    if on_progress is not None:
        on_progress(final)
    return final


# ------------------------------------------------------------------------------ fits


@dataclass
class FitOutcome:
    """One law's fit: its id and status, or why it could not be fitted."""

    law: str
    fit_id: int | None = None
    status: str = "not fitted"
    error: str | None = None
    params: dict[str, float] = field(default_factory=dict)
    ci95: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "done"


def fit_law(
    database: Database,
    settings: Settings,
    study_id: int,
    law: str,
    *,
    run_ids: list[int],
    bootstrap: int,
    seed: int = 0,
    **options: Any,
) -> FitOutcome:
    """Fit `law` to the given runs as POST /v1/studies/{id}/fits does inline: create the fit, hold it,
    compute it in this process. Too few usable runs is an outcome saying so, not an exception."""
    from app.worker import fit_jobs

    started = time.perf_counter()
    try:
        with database.transaction() as session:
            fit_id = fits.create_fit(
                session=session,
                study_id=study_id,
                law=law,
                bootstrap=bootstrap,
                seed=seed,
                run_ids=run_ids,
                **options,
            ).id
            holder = fit_jobs.hold(session=session, fit_id=fit_id)
    except InvalidInput as error:
        return FitOutcome(law, error=str(error))
    status = fit_jobs.run_held(database, settings, fit_id, holder)
    with database.transaction(immediate=False) as session:
        fit = fits.get_fit(session=session, fit_id=fit_id)
        return FitOutcome(
            fit.law,
            fit_id,
            status,
            fit.error,
            dict(fit.params or {}),
            dict(fit.ci95 or {}),
            [str(w) for w in fit.warnings or []],
            time.perf_counter() - started,
        )


def finished_ids(database: Database, run_ids: list[int]) -> list[int]:
    """Those of `run_ids` that finished `done` (a diverged run has no loss for the laws)."""
    with database.transaction(immediate=False) as session:
        return list(session.scalars(select(Run.id).where(Run.id.in_(run_ids), Run.status == "done")))


def fit_laws(
    database: Database, settings: Settings, study: DemoStudy, design: DemoDesign
) -> dict[str, FitOutcome]:
    """The loss law on the loss grid and the LR law on the sweeps."""
    loss = fit_law(
        database,
        settings,
        study.id,
        LOSS_LAW,
        run_ids=finished_ids(database, study.loss_run_ids),
        bootstrap=design.bootstrap,
    )
    lr = fit_law(
        database,
        settings,
        study.id,
        LR_LAW,
        run_ids=finished_ids(database, study.lr_run_ids),
        bootstrap=design.bootstrap,
        form=design.lr_form,
        window=design.window,
    )
    return {"loss": loss, "lr": lr}


# ------------------------------------------------------------------------------ prediction, report


def quiet_numerics() -> Any:
    """numpy's floating-point warnings off: an interval that runs to infinity (a law loosely
    determined by a small design) is reported as unbounded, not as a RuntimeWarning on stderr."""
    return np.errstate(divide="ignore", invalid="ignore", over="ignore")


def predict(database: Database, study_id: int, n_params: float, tokens: float) -> dict[str, Any] | None:
    """The study's answer at (n_params, tokens), as GET /v1/predict gives it; None with no fit at all."""
    with database.transaction(immediate=False) as session:
        try:
            found, stored = predictions.load(session=session, study_ref=study_id)
        except InvalidInput:
            return None
    with quiet_numerics():
        return predictions.answer(found, stored, n_params=n_params, tokens=tokens)


def write_report(database: Database, study_id: int, n_params: float, tokens: float, path: Path) -> int:
    """The study's HTML report, with the prediction at (n_params, tokens), written to `path`; the
    number of plots it embeds."""
    from app.reports import content, render

    with quiet_numerics():
        report = content.study_report(database, study_id, n_params=n_params, tokens=tokens)
        images = [render.draw(section) for section in report.sections]
    path.write_text(render.to_html(report, images), encoding="utf-8")
    return sum(len(drawn) for drawn in images)
