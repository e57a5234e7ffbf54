"""The schema: SQLAlchemy 2.0 typed models, one class per table.

Each table has exactly one owner module in app/ that reads and writes it (named in the
class docstring); everything else goes through that module's functions. Alembic's
revisions in migrations/ must equal these models (a test compares them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import false

# Deterministic constraint names, so migrations can drop and alter what they created.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """A timestamp stored as naive UTC and read back as an aware UTC datetime on both engines."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column: use datetime.now(UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Study(Base):
    """A family of proxy runs sharing data, architecture family and optimizer defaults.

    Owner: app/studies.py.
    """

    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # "proxy": runs trained by the workers; "imported": runs measured elsewhere.
    kind: Mapped[str] = mapped_column(String(20), default="proxy")
    data: Mapped[str] = mapped_column(String(200), default="synthetic")
    architecture: Mapped[str] = mapped_column(String(100), default="gpt")
    # RunSpec fields every run of the study starts from (optimizer, schedule, seq_len, ...).
    defaults: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # "sp" or "mup" (Yang et al. 2022): its runs' parametrization, and under mup the width their LR
    # is tuned at; the LR law of a mup study is fitted against tokens, not width.
    parametrization: Mapped[str] = mapped_column(String(10), default="sp", server_default="sp")
    base_d_model: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Run(Base):
    """One proxy training job (a row is the job) or one imported measurement.

    Owner: app/runs.py; the queue columns (status transitions, worker, heartbeat,
    attempts) are written by app/worker/queue.py, which is part of the runs owner.
    """

    __tablename__ = "runs"
    __table_args__ = (
        # Idempotency by unique index: one submission key creates each of its runs once.
        UniqueConstraint("study_id", "idempotency_key", "submission_index", name="uq_runs_submission"),
        Index("ix_runs_status_id", "status", "id"),
        Index("ix_runs_study_status", "study_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    # queued, running, done, failed, diverged, cancelled; imported runs are born done.
    status: Mapped[str] = mapped_column(String(20), default="queued")
    spec: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    submission_index: Mapped[int | None] = mapped_column(Integer, nullable=True)

    # Size and budget: floats because imported runs reach 1e12 parameters and 1e24 FLOPs.
    n_params: Mapped[float | None] = mapped_column(Float, nullable=True)
    n_params_non_embedding: Mapped[float | None] = mapped_column(Float, nullable=True)
    tokens: Mapped[float | None] = mapped_column(Float, nullable=True)
    flops: Mapped[float | None] = mapped_column(Float, nullable=True, doc="exact count (or given C)")
    flops_6nd: Mapped[float | None] = mapped_column(Float, nullable=True)
    lr: Mapped[float | None] = mapped_column(Float, nullable=True)
    batch_tokens: Mapped[float | None] = mapped_column(Float, nullable=True)

    # Outcome.
    loss: Mapped[float | None] = mapped_column(Float, nullable=True, doc="the loss laws are fitted to")
    final_train_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    final_eval_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    steps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tokens_per_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    # Queue.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(nullable=True)
    checkpoint_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    progress_tokens: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Set by the worker pool holding the run when it shuts down: the run's process reads it at its
    # next curve write, stops at its next checkpoint and gives the run back (the way a local child
    # takes SIGTERM; a Ray task may be on another machine). Cleared when the run is claimed again.
    stop_requested: Mapped[bool] = mapped_column(Boolean, server_default=false())

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The run an imported row was measured on, when rows are checkpoints of runs: a loss fit's
    # bootstrap resamples a group's rows together (None: the row is a run of its own).
    group_key: Mapped[str | None] = mapped_column(String(200), nullable=True)


class CurvePoint(Base):
    """One point of a run's loss curve; (run_id, step) is unique so writes are idempotent.

    Owner: app/curves.py.
    """

    __tablename__ = "curve_points"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    train_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    eval_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    lr: Mapped[float | None] = mapped_column(Float, nullable=True)
    noise_scale: Mapped[float | None] = mapped_column(Float, nullable=True)
    wall_time: Mapped[float | None] = mapped_column(Float, nullable=True)


class Fit(Base):
    """A law fitted on a snapshot of a study's runs, with its bootstrap draws.

    Owner: app/fits.py; its queue columns (status while queued or running, worker_id,
    heartbeat_at, started_at, attempts) are written by app/worker/queue.py, as for runs.
    """

    __tablename__ = "fits"
    __table_args__ = (Index("ix_fits_study_status", "study_id", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    # queued, running, done, failed, cancelled
    status: Mapped[str] = mapped_column(String(20), default="queued")
    law: Mapped[str] = mapped_column(String(50))
    bootstrap: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    run_filter: Mapped[dict[str, Any]] = mapped_column(default=dict)
    run_ids: Mapped[list[Any]] = mapped_column(default=list)
    data_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    n_points: Mapped[int | None] = mapped_column(Integer, nullable=True)
    params: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    ci95: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    objective: Mapped[float | None] = mapped_column(Float, nullable=True)
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    # fitting.Fit.to_dict(): everything needed to predict without refitting.
    result: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A fit is a job of the same queue as runs (app/worker/queue.py writes these columns): claimed
    # by a worker id, held by its heartbeat, requeued when the heartbeat is stale, at most
    # `max_attempts` claims.
    worker_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Bootstrap replicates computed so far by the fit's holder (its progress), written between batches.
    replicates_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ApiToken(Base):
    """A bearer token, stored as its SHA-256 hash; the prefix finds the row.

    Owner: app/tokens.py.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # None: the token lives until revoked.
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
