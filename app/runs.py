"""Runs: owner of the `runs` table (the queue's columns are written by app/worker/queue.py).

A run is one proxy training job, or one measurement imported from elsewhere (born
`done`). Submissions are validated against the trainer's RunSpec (app/specs.py) before
anything is written, and are idempotent per (study, Idempotency-Key); a plan's runs
(app/plan) are submitted here too. Functions take the session as a keyword and never commit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import imports, plan, studies
from app.db.tables import Run, Study, utcnow
from app.errors import Conflict, InvalidInput, NotFound
from app.parametrization import inherit
from app.specs import Capacity, accounting, check_data, validate_spec
from trainer.spec import RunSpec

STATUSES = ("queued", "running", "done", "failed", "diverged", "cancelled")
TERMINAL = ("done", "failed", "diverged", "cancelled")


# ---------------------------------------------------------------------------- writes


def _row_for(study: Study, spec: RunSpec) -> Run:
    return Run(
        study_id=study.id,
        status="queued",
        spec=spec.to_dict(),
        tokens=float(spec.tokens),
        lr=spec.lr,
        batch_tokens=spec.batch_tokens,
        **accounting(spec),
    )


# Studies created before a study's data was a full source name stored "synthetic" for the default chain.
_LEGACY_DATA = {"synthetic": "synthetic:markov"}


def spec_defaults(study: Study) -> dict[str, Any]:
    """What a run of `study` starts from: the study's data source, overlaid by its defaults (the
    spec overlays both), and the study's parametrization with, under mup, its base width. A study's
    `data` is what its runs train on unless a run says otherwise; its parametrization is not
    overridden (app.parametrization.inherit refuses a run that contradicts it)."""
    data = _LEGACY_DATA.get(study.data, study.data)
    parametrization = {"parametrization": study.parametrization or "sp"}
    if study.base_d_model is not None:
        parametrization["base_d_model"] = study.base_d_model
    return {**({"data": data} if data else {}), **dict(study.defaults or {}), **parametrization}


def study_label(study: Study) -> str:
    """How a message names a study: "study 3 ('tiny-gpt')"."""
    return f"study {study.id} ({study.name!r})"


def holds_imported(*, session: Session, study: Study) -> bool:
    """Whether the study holds measurements made elsewhere (an imported study, or imported rows)."""
    if study.kind == "imported":
        return True
    query = select(Run.id).where(Run.study_id == study.id, Run.spec.is_(None)).limit(1)
    return session.scalar(query) is not None


def _refuse_mixing(session: Session, study: Study) -> None:
    if holds_imported(session=session, study=study):
        raise Conflict(
            f"study {study.id} ({study.name!r}) holds imported runs (losses measured elsewhere): runs "
            "trained here would be fitted together with them; create a study for them, or send "
            '"mix_imported": true to queue them here anyway'
        )


def submit_runs(
    *,
    session: Session,
    study: Study,
    specs: Sequence[Mapping[str, Any]],
    idempotency_key: str | None = None,
    cap: int | None = None,
    data_roots: Sequence[Path] | None = None,
    capacity: Capacity | None = None,
    mix_imported: bool = False,
) -> tuple[list[Run], bool]:
    """Queue one run per spec; returns (runs, created).

    Each spec overlays the study's data and defaults (`spec_defaults`). Every spec is validated
    before anything is written, its data path against `data_roots` when given (the service's
    Settings.data_roots; app.specs.validate_spec), and against what the pool can run when
    `capacity` is given. A study holding imported runs takes training runs only with
    `mix_imported` (Conflict otherwise). With an idempotency key, a
    second submission of the same runs returns the first one's (created=False), and one of other
    runs is a Conflict naming the key; the unique index on (study, key, index) settles a race
    between two identical requests.
    """
    if cap is not None and len(specs) > cap:
        raise InvalidInput(
            f"the sweep has {len(specs)} runs, more than the cap of {cap}: split it", field="sweep"
        )
    if not specs:
        raise InvalidInput("the submission holds no runs", field="sweep")
    defaults = spec_defaults(study)
    # Runs inherit the study's parametrization; a mup study without a base width takes these runs'.
    specs, base_width = inherit(
        specs,
        defaults=defaults,
        parametrization=study.parametrization or "sp",
        base_d_model=study.base_d_model,
        study=study_label(study),
    )
    checked = [validate_spec(spec, defaults=defaults, data_roots=data_roots) for spec in specs]
    if capacity is not None:
        for spec in checked:
            capacity.check(spec)
    rows = [_row_for(study, spec) for spec in checked]
    if idempotency_key:
        existing = _runs_for_key(session, study.id, idempotency_key)
        if existing:
            return _replayed(existing, rows, idempotency_key), False
    if not mix_imported:
        _refuse_mixing(session, study)
    if base_width is not None:
        studies.record_base_width(session=session, study=study, base_d_model=base_width)
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
        return _replayed(existing, rows, idempotency_key), False
    return rows, True


def _replayed(existing: list[Run], rows: list[Run], key: str) -> list[Run]:
    """The runs an earlier submission with `key` made, when this one asks for the same runs;
    Conflict otherwise (a key names one request, so a different body under it is a client's error)."""
    if [run.spec for run in existing] != [row.spec for row in rows]:
        raise Conflict(
            f"Idempotency-Key {key!r} was used for a different submission ({len(existing)} runs with other "
            f"specs): send a new key for a new request"
        )
    return existing


def submit_plan(
    *,
    session: Session,
    study: Study,
    n_params: float,
    tokens: float,
    budget_flops: float | None = None,
    gpu_hours: float | None = None,
    flops_per_gpu_s: float = plan.DEFAULT_FLOPS_PER_GPU_S,
    seq_len: int | None = None,
    vocab_size: int | None = None,
    data: str | None = None,
    parametrization: str | None = None,
    base_d_model: int | None = None,
    design: plan.Design,
    dry_run: bool = False,
    idempotency_key: str | None = None,
    cap: int | None = None,
    data_roots: Sequence[Path] | None = None,
    capacity: Capacity | None = None,
    mix_imported: bool = False,
) -> plan.Plan:
    """Plan proxy runs for the study's target (app/plan, from the study's defaults overlaid with
    seq_len, vocab_size and data) and queue them all, as `submit_runs` does; the plan returned
    carries their ids and `created`. With dry_run the plan is only proposed: nothing is written.
    The data path is checked against `data_roots` first, when given, dry run or not.

    The plan follows the study's parametrization (a mup study's LR grids train at its base width);
    `parametrization` and `base_d_model` override it for a proposal, and queueing runs that
    contradict the study is refused as for any submission.
    """
    base = plan.base_spec(spec_defaults(study), seq_len=seq_len, vocab_size=vocab_size, data=data)
    if parametrization is not None and parametrization != base.get("parametrization"):
        base["parametrization"] = parametrization
        base.pop("base_d_model", None)  # the study's base width belongs to its own parametrization
    if base_d_model is not None:
        base["base_d_model"] = base_d_model
    if data_roots is not None:
        check_data(base.get("data"), data_roots)
    planned = plan.plan_runs(
        base=base,
        n_params=n_params,
        tokens=tokens,
        budget_flops=budget_flops,
        gpu_hours=gpu_hours,
        flops_per_gpu_s=flops_per_gpu_s,
        design=design,
    )
    if dry_run:
        return planned
    queued, created = submit_runs(
        session=session,
        study=study,
        specs=[r.spec for r in planned.runs],
        idempotency_key=idempotency_key,
        cap=cap,
        data_roots=data_roots,
        capacity=capacity,
        mix_imported=mix_imported,
    )
    return dataclasses.replace(planned, ids=tuple(r.id for r in queued), created=created)


def _runs_for_key(session: Session, study_id: int, key: str) -> list[Run]:
    query = (
        select(Run).where(Run.study_id == study_id, Run.idempotency_key == key).order_by(Run.submission_index)
    )
    return list(session.scalars(query))


IMPORT_FIELDS = imports.FIELDS


def import_runs(*, session: Session, study: Study, rows: Iterable[Mapping[str, Any]]) -> list[Run]:
    """Add measurements trained elsewhere as finished runs (mappings with IMPORT_FIELDS keys), in
    bulk through app.imports, and return them. Each row needs `loss` and two of `n_params`,
    `tokens`, `flops` (the third follows from C = 6·N·D, Kaplan et al. 2020); a bad row is an
    InvalidInput naming it ("row 2") and nothing is written. Large imports go to
    app.imports.import_runs directly, which does not load the runs back."""
    made = imports.import_runs(session=session, study=study, source=imports.mapping_source(rows))
    query = select(Run).where(Run.study_id == study.id)
    if len(made.ids) == made.count:
        query = query.where(Run.id.in_(made.ids))
    else:
        query = query.where(Run.id.between(made.first_id, made.last_id))
    return list(session.scalars(query.order_by(Run.id)))


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


# Run ids sent as one IN list at most; beyond, a study's rows are read and filtered in Python (SQLite
# binds at most 32,766 variables in one statement). Every query by a list of run ids keeps to it.
MAX_IN_IDS = 10_000


@dataclasses.dataclass(frozen=True, slots=True)
class FitRun:
    """What the laws read of a finished run: its id, size, tokens, loss, setting and group (the run
    its row is a checkpoint of). A plain row, not an ORM object: a fit may read 10^6 runs, and an
    ORM object of the whole row costs about 1.8 KB."""

    id: int
    n_params: float
    n_params_non_embedding: float | None
    tokens: float
    flops: float | None
    loss: float
    lr: float | None
    batch_tokens: float | None
    group_key: str | None
    spec: dict[str, Any] | None


_FIT_COLUMNS = tuple(getattr(Run, field.name) for field in dataclasses.fields(FitRun))


def fittable_runs(*, session: Session, study_id: int, run_ids: Sequence[int] | None = None) -> list[FitRun]:
    """Finished runs of a study with a loss, a size and a token count: what a law is fitted on, in
    id order.

    Use `n_for_laws(run)` for the N of a law.
    """
    query = select(*_FIT_COLUMNS).where(
        Run.study_id == study_id,
        Run.status == "done",
        Run.loss.is_not(None),
        Run.n_params.is_not(None),
        Run.tokens.is_not(None),
    )
    if run_ids is None:
        return [FitRun(*row) for row in session.execute(query.order_by(Run.id))]
    wanted = set(run_ids)
    if len(wanted) <= MAX_IN_IDS:
        rows = session.execute(query.where(Run.id.in_(sorted(wanted))).order_by(Run.id))
        return [FitRun(*row) for row in rows]
    # One bound variable per id would pass SQLite's limit (32,766): read the study's runs, keep these.
    return [FitRun(*row) for row in session.execute(query.order_by(Run.id)) if row[0] in wanted]


def n_for_laws(run: Run | FitRun) -> float:
    """The N the laws are fitted on: non-embedding parameters when known (Kaplan et al.
    2020, §2.1: embeddings distort small-model laws), else the count given on import."""
    return run.n_params_non_embedding if run.n_params_non_embedding is not None else run.n_params


def counts_by_status(*, session: Session) -> dict[str, int]:
    counts = dict(session.execute(select(Run.status, func.count()).group_by(Run.status)).all())
    return {status: counts.get(status, 0) for status in STATUSES}
