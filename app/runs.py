"""Runs: owner of the `runs` table (the queue's columns are written by app/worker/queue.py).

A run is one proxy training job, or one measurement imported from elsewhere (born
`done`). Submissions are validated against the trainer's RunSpec before anything is
written, and are idempotent per (study, Idempotency-Key). Functions take the session as
a keyword and never commit.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.tables import Run, Study, utcnow
from app.errors import Conflict, InvalidInput, NotFound

STATUSES = ("queued", "running", "done", "failed", "diverged", "cancelled")
TERMINAL = ("done", "failed", "diverged", "cancelled")
SHAPE_FIELDS = ("n_layer", "d_model", "n_head")


# ---------------------------------------------------------------------------- specs


def _run_spec_class():
    # trainer.spec is torch-free by contract, so the API can validate specs without torch.
    from trainer import spec as spec_module

    return spec_module.RunSpec


def validate_spec(spec: Mapping[str, Any], *, defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The study defaults overlaid with `spec`, checked by trainer.RunSpec; a JSON-ready dict.

    Raises InvalidInput naming the field when the trainer refuses the spec.
    """
    merged = {**dict(defaults or {}), **dict(spec)}
    run_spec = _run_spec_class()
    known = {f.name for f in dataclasses.fields(run_spec)}
    unknown = sorted(set(merged) - known)
    if unknown:
        raise InvalidInput(f"unknown run spec field(s) {', '.join(unknown)}", field=unknown[0])
    try:
        checked = run_spec(**merged)
    except TypeError as error:  # a missing required field
        missing = [name for name in known if f"'{name}'" in str(error)]
        raise InvalidInput(f"run spec: {error}", field=missing[0] if missing else None) from error
    except ValueError as error:
        message = str(error)
        field = next(
            (name for name in sorted(known, key=len, reverse=True) if message.startswith(name)), None
        )
        raise InvalidInput(message, field=field) from error
    return json_ready(dataclasses.asdict(checked))


def json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value


def accounting(spec: Mapping[str, Any]) -> dict[str, float]:
    """Parameter and FLOP counts of a validated spec, from trainer.accounting (torch-free)."""
    from trainer.accounting import count_params, flops_per_token

    run_spec = _run_spec_class()(**spec)
    params, flops = count_params(run_spec), flops_per_token(run_spec)
    return {
        "n_params": float(params.total),
        "n_params_non_embedding": float(params.non_embedding),
        "flops": float(flops.kaplan) * run_spec.tokens,
        "flops_6nd": float(flops.six_n) * run_spec.tokens,
    }


def seq_len_of(spec: Mapping[str, Any]) -> int:
    """The spec's seq_len, or RunSpec's default when it is unset or not a positive integer
    (validate_spec names a bad value later)."""
    value = spec.get("seq_len")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return next(f.default for f in dataclasses.fields(_run_spec_class()) if f.name == "seq_len")


def log_around(centre: float, k: int, factor: float) -> list[float]:
    """centre·factor^i for i = -k..k: 2k+1 log-spaced values, ascending (an LR axis around a guess)."""
    return [centre * factor**i for i in range(-k, k + 1)]


def batches_around(centre: float, k: int, factor: float, *, seq_len: int) -> list[int]:
    """`log_around` rounded to whole sequences of `seq_len` tokens (at least one), duplicates removed.

    RunSpec needs batch_tokens to be a multiple of seq_len, so the rounding happens here, once.
    """
    sequences = {max(1, round(value / seq_len)) for value in log_around(centre, k, factor)}
    return [n * seq_len for n in sorted(sequences)]


def expand_grid(
    base: Mapping[str, Any],
    *,
    shapes: Sequence[Mapping[str, Any]] = (),
    tokens: Sequence[float] = (),
    lr: Sequence[float] = (),
    batch_tokens: Sequence[float] = (),
    seed: Sequence[int] = (),
) -> list[dict[str, Any]]:
    """The product of the given axes applied to `base`; an empty axis keeps the base value."""
    axes: list[list[dict[str, Any]]] = [
        [dict(s) for s in shapes] or [{}],
        [{"tokens": int(t)} for t in tokens] or [{}],
        [{"lr": float(x)} for x in lr] or [{}],
        [{"batch_tokens": int(b)} for b in batch_tokens] or [{}],
        [{"seed": int(s)} for s in seed] or [{}],
    ]
    specs = []
    for combo in itertools.product(*axes):
        spec = dict(base)
        for part in combo:
            spec.update(part)
        specs.append(spec)
    return specs


def expand_isoflop(
    base: Mapping[str, Any], *, compute: Sequence[float], shapes: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """An IsoFLOP design (Hoffmann et al. 2022, approach 2): each budget C × each shape,
    tokens = C / (6·N) rounded down to whole batches, N the non-embedding parameters.

    Shapes whose budget is less than one batch are left out of that budget.
    """
    specs = []
    for budget in compute:
        for shape in shapes:
            spec = {**dict(base), **dict(shape)}
            batch = int(spec.get("batch_tokens") or 1)
            # N is the non-embedding count, Kaplan's and approach 2's convention.
            sized = validate_spec({**spec, "tokens": batch})
            n_params = accounting(sized)["n_params_non_embedding"]
            tokens = math.floor(budget / (6.0 * n_params) / batch) * batch
            if tokens >= batch:
                specs.append({**spec, "tokens": int(tokens)})
    if not specs:
        raise InvalidInput(
            "no shape fits any compute budget with at least one batch: raise compute", field="compute"
        )
    return specs


# ---------------------------------------------------------------------------- writes


def _row_for(study: Study, spec: dict[str, Any]) -> Run:
    return Run(
        study_id=study.id,
        status="queued",
        spec=spec,
        tokens=float(spec["tokens"]),
        lr=spec.get("lr"),
        batch_tokens=spec.get("batch_tokens"),
        **accounting(spec),
    )


def submit_runs(
    *,
    session: Session,
    study: Study,
    specs: Sequence[Mapping[str, Any]],
    idempotency_key: str | None = None,
    cap: int | None = None,
) -> tuple[list[Run], bool]:
    """Queue one run per spec; returns (runs, created).

    Every spec is validated before anything is written. With an idempotency key, a
    second submission returns the first one's runs (created=False); the unique index on
    (study, key, index) settles a race between two identical requests.
    """
    if cap is not None and len(specs) > cap:
        raise InvalidInput(
            f"the sweep has {len(specs)} runs, more than the cap of {cap}: split it", field="sweep"
        )
    if not specs:
        raise InvalidInput("the submission holds no runs", field="sweep")
    if idempotency_key:
        existing = _runs_for_key(session, study.id, idempotency_key)
        if existing:
            return existing, False
    checked = [validate_spec(spec, defaults=study.defaults) for spec in specs]
    rows = [_row_for(study, spec) for spec in checked]
    for index, row in enumerate(rows):
        row.idempotency_key = idempotency_key
        row.submission_index = index if idempotency_key else None
    if not idempotency_key:
        session.add_all(rows)
        session.flush()
        return rows, True
    try:
        with session.begin_nested():
            session.add_all(rows)
            session.flush()
    except IntegrityError:
        existing = _runs_for_key(session, study.id, idempotency_key)
        if not existing:
            raise
        return existing, False
    return rows, True


def _runs_for_key(session: Session, study_id: int, key: str) -> list[Run]:
    query = (
        select(Run).where(Run.study_id == study_id, Run.idempotency_key == key).order_by(Run.submission_index)
    )
    return list(session.scalars(query))


IMPORT_FIELDS = ("n_params", "tokens", "flops", "loss", "lr", "batch_tokens")


def import_runs(*, session: Session, study: Study, rows: Iterable[Mapping[str, Any]]) -> list[Run]:
    """Add measurements trained elsewhere as finished runs.

    Each row needs `loss` and two of `n_params`, `tokens`, `flops` (the third follows
    from C = 6·N·D, Kaplan et al. 2020). Rows are checked before any is written.
    """
    runs = []
    for number, raw in enumerate(rows, start=1):
        row = {k: (None if raw.get(k) in (None, "") else float(raw[k])) for k in IMPORT_FIELDS}
        where = f"row {number}"
        if row["loss"] is None or not math.isfinite(row["loss"]) or row["loss"] <= 0:
            raise InvalidInput(f"{where}: loss must be a positive number", field="loss")
        n, d, c = row["n_params"], row["tokens"], row["flops"]
        if sum(v is not None for v in (n, d, c)) < 2:
            raise InvalidInput(f"{where}: give two of n_params, tokens and flops", field="n_params")
        for name in ("n_params", "tokens", "flops", "lr", "batch_tokens"):
            if row[name] is not None and not (math.isfinite(row[name]) and row[name] > 0):
                raise InvalidInput(f"{where}: {name} must be a positive number", field=name)
        if n is None:
            n = c / (6.0 * d)
        if d is None:
            d = c / (6.0 * n)
        runs.append(
            Run(
                study_id=study.id,
                status="done",
                n_params=n,
                tokens=d,
                flops=c if c is not None else 6.0 * n * d,
                flops_6nd=6.0 * n * d,
                loss=row["loss"],
                final_eval_loss=row["loss"],
                lr=row["lr"],
                batch_tokens=row["batch_tokens"],
                finished_at=utcnow(),
            )
        )
    if not runs:
        raise InvalidInput("the import holds no rows", field="file")
    session.add_all(runs)
    session.flush()
    return runs


def cancel_run(*, session: Session, run_id: int) -> Run:
    """Cancel a queued or running run (a running one stops at its next heartbeat)."""
    run = get_run(session=session, run_id=run_id)
    if run.status in TERMINAL:
        raise Conflict(f"run {run_id} is already {run.status}; only queued or running runs can be cancelled")
    run.status = "cancelled"
    run.finished_at = utcnow()
    return run


# ---------------------------------------------------------------------------- reads


def get_run(*, session: Session, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise NotFound("run", run_id)
    return run


def list_runs(
    *,
    session: Session,
    study_id: int | None = None,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Run], int]:
    """One page of runs (oldest first) matching the filters, and the total that match."""
    where = []
    if study_id is not None:
        where.append(Run.study_id == study_id)
    if status is not None:
        where.append(Run.status == status)
    rows = session.scalars(select(Run).where(*where).order_by(Run.id).limit(limit).offset(offset)).all()
    total = session.scalar(select(func.count()).select_from(Run).where(*where)) or 0
    return list(rows), total


def fittable_runs(*, session: Session, study_id: int, run_ids: Sequence[int] | None = None) -> list[Run]:
    """Finished runs of a study with a loss, a size and a token count: what a law is fitted on.

    Use `law_params(run)` for the N of a law.
    """
    query = select(Run).where(
        Run.study_id == study_id,
        Run.status == "done",
        Run.loss.is_not(None),
        Run.n_params.is_not(None),
        Run.tokens.is_not(None),
    )
    if run_ids is not None:
        query = query.where(Run.id.in_(list(run_ids)))
    return list(session.scalars(query.order_by(Run.id)))


def law_params(run: Run) -> float:
    """The N the laws are fitted on: non-embedding parameters when known (Kaplan et al.
    2020, §2.1: embeddings distort small-model laws), else the count given on import."""
    return run.n_params_non_embedding if run.n_params_non_embedding is not None else run.n_params


def counts_by_status(*, session: Session) -> dict[str, int]:
    counts = dict(session.execute(select(Run.status, func.count()).group_by(Run.status)).all())
    return {status: counts.get(status, 0) for status in STATUSES}
