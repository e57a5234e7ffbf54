"""Request and response bodies (XCreate in, XPublic out), each with an OpenAPI example."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

EXAMPLE_SPEC = {
    "n_layer": 2,
    "d_model": 64,
    "n_head": 2,
    "seq_len": 64,
    "tokens": 262144,
    "batch_tokens": 4096,
    "lr": 0.003,
    "data": "synthetic:markov",
}


def _example(value: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [value]}, from_attributes=True)


class Page(BaseModel):
    total: int
    limit: int
    offset: int


# ------------------------------------------------------------------------------ studies


class StudyCreate(BaseModel):
    model_config = _example(
        {"name": "tiny-gpt", "data": "synthetic:markov", "defaults": {"seq_len": 64, "schedule": "cosine"}}
    )
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    data: str = Field("synthetic:markov", description="Data source every run of the study trains on.")
    architecture: str = "gpt"
    defaults: dict[str, Any] = Field(default_factory=dict, description="RunSpec fields runs start from.")


class StudyPublic(BaseModel):
    model_config = _example(
        {"id": 1, "name": "tiny-gpt", "description": "", "kind": "proxy", "data": "synthetic:markov",
         "architecture": "gpt", "defaults": {}, "created_at": "2026-01-01T00:00:00Z"}
    )
    id: int
    name: str
    description: str
    kind: str
    data: str
    architecture: str
    defaults: dict[str, Any]
    created_at: datetime


class StudyList(Page):
    model_config = _example({"items": [StudyPublic.model_config["json_schema_extra"]["examples"][0]], "total": 1,
                             "limit": 100, "offset": 0})
    items: list[StudyPublic]


class Created(BaseModel):
    model_config = _example({"id": 1})
    id: int


# ------------------------------------------------------------------------------ runs


class RunCreate(BaseModel):
    model_config = _example({"spec": EXAMPLE_SPEC})
    spec: dict[str, Any] = Field(description="trainer.RunSpec fields; the study's defaults fill the rest.")


class Grid(BaseModel):
    shapes: list[dict[str, int]] = Field(default_factory=list, description="n_layer/d_model/n_head sets.")
    tokens: list[int] = Field(default_factory=list)
    lr: list[float] = Field(default_factory=list)
    batch_tokens: list[int] = Field(default_factory=list)
    seed: list[int] = Field(default_factory=list)

    def size(self) -> int:
        size = 1
        for axis in (self.shapes, self.tokens, self.lr, self.batch_tokens, self.seed):
            size *= max(1, len(axis))
        return size


class IsoFlop(BaseModel):
    compute: list[float] = Field(min_length=1, description="Budgets C in FLOPs (6·N·D).")
    shapes: list[dict[str, int]] = Field(min_length=1)

    def size(self) -> int:
        return len(self.compute) * len(self.shapes)


class SweepCreate(BaseModel):
    model_config = _example(
        {
            "base": EXAMPLE_SPEC,
            "grid": {"shapes": [{"n_layer": 1, "d_model": 32, "n_head": 2}, {"n_layer": 2, "d_model": 64, "n_head": 2}],
                     "tokens": [131072, 262144], "lr": [0.001, 0.003]},
        }
    )
    base: dict[str, Any] = Field(default_factory=dict, description="Spec fields shared by every run.")
    grid: Grid | None = None
    isoflop: IsoFlop | None = None

    @model_validator(mode="after")
    def _one_design(self) -> SweepCreate:
        if (self.grid is None) == (self.isoflop is None):
            raise ValueError("give exactly one of grid or isoflop")
        return self

    def size(self) -> int:
        return self.grid.size() if self.grid else self.isoflop.size()


class Submitted(BaseModel):
    model_config = _example({"id": 1, "ids": [1, 2, 3, 4], "count": 4, "created": True})
    id: int = Field(description="The first run's id.")
    ids: list[int]
    count: int
    created: bool = Field(description="False when an earlier request with the same Idempotency-Key made them.")


class RunPublic(BaseModel):
    model_config = _example(
        {"id": 1, "study_id": 1, "status": "running", "spec": EXAMPLE_SPEC, "n_params": 120000.0,
         "n_params_non_embedding": 98000.0, "tokens": 262144.0, "flops": 1.6e11, "flops_6nd": 1.5e11,
         "lr": 0.003, "batch_tokens": 4096.0, "loss": None, "final_train_loss": None, "final_eval_loss": None,
         "steps": None, "tokens_per_s": None, "error": None, "attempts": 1, "worker_id": "host:123",
         "heartbeat_at": "2026-01-01T00:00:05Z", "progress": 0.25, "created_at": "2026-01-01T00:00:00Z",
         "started_at": "2026-01-01T00:00:01Z", "finished_at": None}
    )
    id: int
    study_id: int
    status: str
    spec: dict[str, Any] | None
    n_params: float | None
    n_params_non_embedding: float | None
    tokens: float | None
    flops: float | None
    flops_6nd: float | None
    lr: float | None
    batch_tokens: float | None
    loss: float | None
    final_train_loss: float | None
    final_eval_loss: float | None
    steps: int | None
    tokens_per_s: float | None
    error: str | None
    attempts: int
    worker_id: str | None
    heartbeat_at: datetime | None
    progress: float | None = Field(None, description="Share of the run's tokens trained so far.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, run) -> RunPublic:
        public = cls.model_validate(run)
        if run.status == "done":
            public.progress = 1.0
        elif run.progress_tokens is not None and run.tokens:
            public.progress = min(1.0, run.progress_tokens / run.tokens)
        return public


class RunList(Page):
    model_config = _example({"items": [RunPublic.model_config["json_schema_extra"]["examples"][0]], "total": 1,
                             "limit": 100, "offset": 0})
    items: list[RunPublic]


class CurvePointPublic(BaseModel):
    model_config = _example(
        {"step": 10, "tokens": 40960.0, "train_loss": 3.2, "eval_loss": 3.25, "lr": 0.003,
         "noise_scale": 512.0, "wall_time": 1.5}
    )
    step: int
    tokens: float
    train_loss: float | None
    eval_loss: float | None
    lr: float | None
    noise_scale: float | None
    wall_time: float | None


class Curve(BaseModel):
    run_id: int
    status: str
    points: list[CurvePointPublic]


class Imported(BaseModel):
    model_config = _example({"count": 240, "ids": [1, 2]})
    count: int
    ids: list[int]


# ------------------------------------------------------------------------------ fits


class FitCreate(BaseModel):
    model_config = _example({"law": "chinchilla", "bootstrap": 200, "seed": 0})
    law: Literal["chinchilla", "chinchilla_equal", "kaplan", "power", "auto"] = "chinchilla"
    bootstrap: int = Field(200, ge=0, le=100_000, description="Bootstrap replicates (resampling runs).")
    seed: int = Field(0, ge=0)
    run_ids: list[int] | None = Field(None, description="Fit these finished runs only (default: all).")


class FitPublic(BaseModel):
    """A stored fit; once done, the same keys as `hyperlaw fit --json` plus its id, status and snapshot."""

    model_config = _example(
        {"id": 1, "study_id": 1, "status": "done", "law": "chinchilla", "bootstrap": 200, "seed": 0,
         "n_points": 24, "data_hash": "9f2c...", "params": {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34,
         "beta": 0.37}, "ci95": {"alpha": [0.31, 0.37]}, "objective": 0.002, "warnings": [], "error": None,
         "converged": True, "n_bootstrap": 200, "n_failed_replicates": 0, "holdout": None,
         "run_ids": [1, 2], "created_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:00:03Z"}
    )
    id: int
    study_id: int
    status: str
    law: str
    bootstrap: int
    seed: int
    n_points: int | None
    data_hash: str | None
    params: dict[str, float] | None
    ci95: dict[str, list[float]] | None
    objective: float | None
    warnings: list[str]
    error: str | None
    converged: bool | None = None
    n_bootstrap: int | None = None
    n_failed_replicates: int | None = None
    holdout: dict[str, Any] | None = None
    candidates: dict[str, float] | None = None
    variable: str | None = None
    input_ranges: dict[str, list[float]] | None = None
    run_ids: list[int]
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, fit) -> FitPublic:
        public = cls.model_validate(fit)
        if fit.result:
            for key in ("converged", "n_bootstrap", "n_failed_replicates", "holdout", "candidates", "variable",
                        "input_ranges"):
                setattr(public, key, fit.result.get(key))
        return public


# ------------------------------------------------------------------------------ predict


class Interval(BaseModel):
    value: float
    lo: float | None
    hi: float | None


class PredictPublic(BaseModel):
    model_config = _example(
        {"study": 1, "n_params": 1e9, "tokens": 2e10, "loss": {"value": 2.31, "lo": 2.27, "hi": 2.36},
         "compute": {"value": 1.2e20, "lo": 1.2e20, "hi": 1.2e20},
         "tokens_per_param": {"value": 20.0, "lo": 20.0, "hi": 20.0}, "fit_id": 3, "law": "chinchilla",
         "fit_ids": {"loss": 3}, "warnings": []}
    )
    study: int
    n_params: float
    tokens: float
    loss: Interval
    compute: Interval
    tokens_per_param: Interval
    fit_id: int
    law: str
    fit_ids: dict[str, int]
    warnings: list[str]
