"""Request and response bodies (XCreate in, XPublic out), each with an OpenAPI example."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass as pydantic_dataclass

from app import plan

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


# Free text is stored and served back on every read of its study, so it is bounded here. A run spec
# has some 25 fields; 16 kB of JSON is far more than any real one needs.
MAX_DESCRIPTION = 10_000
MAX_DATA = 1_000
MAX_SPEC_CHARS = 16_384
# The largest id the databases store (ids are INTEGER columns: 32-bit in PostgreSQL) and the largest
# offset (64-bit). Larger ones are a 422, never a query that overflows.
MAX_ID = 2**31 - 1
MAX_OFFSET = 2**63 - 1
RunId = Annotated[int, Field(ge=1, le=MAX_ID)]


def _small_spec(value: dict[str, Any]) -> dict[str, Any]:
    size = len(json.dumps(value, default=str))
    if size > MAX_SPEC_CHARS:
        raise ValueError(
            f"these spec fields take {size} characters as JSON, more than {MAX_SPEC_CHARS}: "
            "a run spec needs far fewer"
        )
    return value


SpecFields = Annotated[dict[str, Any], AfterValidator(_small_spec)]
# Training runs queued into a study holding imported losses would be fitted together with them.
MIX_IMPORTED = (
    "Queue these training runs even though the study holds imported runs (409 otherwise): they will "
    "be fitted together."
)


class Page(BaseModel):
    total: int = Field(description="Items that match the query, across every page.")
    limit: int = Field(description="Most items one page holds (the request's limit).")
    offset: int = Field(description="Items skipped before this page.")


# ------------------------------------------------------------------------------ studies


class StudyCreate(BaseModel):
    model_config = _example(
        {"name": "tiny-gpt", "data": "synthetic:markov", "defaults": {"seq_len": 64, "schedule": "cosine"}}
    )
    name: str = Field(min_length=1, max_length=200, description="The study's name, unique in the service.")
    description: str = Field("", max_length=MAX_DESCRIPTION, description="Free text: what the study is for.")
    data: str = Field(
        "synthetic:markov", max_length=200, description="Data source every run of the study trains on."
    )
    architecture: str = Field("gpt", max_length=100, description="The model family its runs train (gpt).")
    defaults: SpecFields = Field(default_factory=dict, description="RunSpec fields runs start from.")
    parametrization: Literal["sp", "mup"] | None = Field(
        None,
        description="sp (standard) or mup (Yang et al. 2022: the LR tuned at base_d_model transfers across "
        "width, and the LR law is fitted against tokens). Default: defaults.parametrization, else sp. "
        "Runs inherit it; a run naming another is a 422.",
    )
    base_d_model: int | None = Field(
        None,
        ge=1,
        le=MAX_ID,
        description="mup only: the width the LR is tuned at, shared by every run. Default: the smallest "
        "d_model of the study's first submitted runs.",
    )


class StudyPublic(BaseModel):
    model_config = _example(
        {
            "id": 1,
            "name": "tiny-gpt",
            "description": "",
            "kind": "proxy",
            "data": "synthetic:markov",
            "architecture": "gpt",
            "defaults": {},
            "parametrization": "sp",
            "base_d_model": None,
            "created_at": "2026-01-01T00:00:00Z",
        }
    )
    id: int = Field(description="The study's id.")
    name: str = Field(description="The study's name, unique in the service.")
    description: str = Field(description="Free text: what the study is for.")
    kind: str = Field(
        description="proxy (runs trained by the workers) or imported (losses measured elsewhere)."
    )
    data: str = Field(description="Data source every run of the study trains on.")
    architecture: str = Field(description="The model family its runs train.")
    defaults: dict[str, Any] = Field(description="RunSpec fields runs start from.")
    parametrization: str = Field(description="sp or mup: the parametrization every run of the study uses.")
    base_d_model: int | None = Field(
        description="mup: the width the LR is tuned at (null until the first runs set it, or under sp)."
    )
    created_at: datetime = Field(description="When the study was created (UTC).")


class StudyList(Page):
    model_config = _example(
        {
            "items": [StudyPublic.model_config["json_schema_extra"]["examples"][0]],
            "total": 1,
            "limit": 100,
            "offset": 0,
        }
    )
    items: list[StudyPublic] = Field(description="This page's studies.")


class Created(BaseModel):
    model_config = _example({"id": 1})
    id: int = Field(description="The new resource's id.")


# ------------------------------------------------------------------------------ runs


class RunCreate(BaseModel):
    model_config = _example({"spec": EXAMPLE_SPEC})
    spec: SpecFields = Field(description="trainer.RunSpec fields; the study's defaults fill the rest.")
    mix_imported: bool = Field(False, strict=True, description=MIX_IMPORTED)


class Around(BaseModel):
    """An axis of 2k+1 log-spaced values centre·factor^i, i = -k..k (k points each side of the centre)."""

    model_config = _example({"centre": 0.003, "k": 2, "factor": 2.0})
    centre: float = Field(gt=0, description="The middle value, e.g. a prior guess of the optimum.")
    k: int = Field(2, ge=0, le=20, description="Points on each side of the centre.")
    factor: float = Field(2.0, gt=1, le=100, description="Ratio between neighbouring values.")


class Grid(BaseModel):
    """Axes multiplied together; an empty axis keeps the base value. `lr_around` and
    `batch_tokens_around` replace the explicit `lr` and `batch_tokens` lists."""

    shapes: list[dict[str, int]] = Field(default_factory=list, description="n_layer/d_model/n_head sets.")
    tokens: list[int] = Field(default_factory=list, description="Training tokens D of a run.")
    lr: list[float] = Field(default_factory=list, description="Peak learning rates.")
    batch_tokens: list[int] = Field(default_factory=list, description="Tokens per optimizer step.")
    seed: list[int] = Field(default_factory=list, description="Random seeds: repeats of every other point.")
    lr_around: Around | None = Field(None, description="LRs centre·factor^i, i = -k..k (instead of `lr`).")
    batch_tokens_around: Around | None = Field(
        None,
        description="Batch sizes centre·factor^i, i = -k..k, rounded to whole sequences of seq_len "
        "(at least one), duplicates removed (instead of `batch_tokens`).",
    )

    @field_validator("lr_around", "batch_tokens_around")
    @classmethod
    def _not_both(cls, value: Around | None, info: ValidationInfo) -> Around | None:
        listed = info.field_name.removesuffix("_around")
        if value is not None and info.data.get(listed):
            raise ValueError(f"give {listed} or {info.field_name}, not both")
        return value

    def size(self) -> int:
        """Runs the grid expands to; an upper bound when batch_tokens_around rounds values together."""
        size = 1
        for axis in (self.shapes, self.tokens, self.lr, self.batch_tokens, self.seed):
            size *= max(1, len(axis))
        for around in (self.lr_around, self.batch_tokens_around):
            size *= 2 * around.k + 1 if around else 1
        return size


class IsoFlop(BaseModel):
    compute: list[float] = Field(min_length=1, description="Budgets C in FLOPs (6·N·D).")
    shapes: list[dict[str, int]] = Field(
        min_length=1,
        description="n_layer/d_model/n_head sets; each trains at every budget on the tokens that spend it.",
    )

    def size(self) -> int:
        return len(self.compute) * len(self.shapes)


class SweepCreate(BaseModel):
    model_config = _example(
        {
            "base": EXAMPLE_SPEC,
            "grid": {
                "shapes": [
                    {"n_layer": 1, "d_model": 32, "n_head": 2},
                    {"n_layer": 2, "d_model": 64, "n_head": 2},
                ],
                "tokens": [131072, 262144],
                "lr": [0.001, 0.003],
            },
        }
    )
    base: SpecFields = Field(default_factory=dict, description="Spec fields shared by every run.")
    grid: Grid | None = Field(None, description="Axes of spec values multiplied together (or isoflop).")
    isoflop: IsoFlop | None = Field(None, description="Every shape at every compute budget (or grid).")
    mix_imported: bool = Field(False, strict=True, description=MIX_IMPORTED)

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
    ids: list[int] = Field(description="The ids of every run of the request, in order.")
    count: int = Field(description="How many runs the request holds.")
    created: bool = Field(
        description="False when an earlier request with the same Idempotency-Key made them."
    )


class RunPublic(BaseModel):
    model_config = _example(
        {
            "id": 1,
            "study_id": 1,
            "status": "running",
            "spec": EXAMPLE_SPEC,
            "n_params": 120000.0,
            "n_params_non_embedding": 98000.0,
            "tokens": 262144.0,
            "flops": 1.6e11,
            "flops_6nd": 1.5e11,
            "lr": 0.003,
            "batch_tokens": 4096.0,
            "loss": None,
            "final_train_loss": None,
            "final_eval_loss": None,
            "steps": None,
            "tokens_per_s": None,
            "error": None,
            "attempts": 1,
            "worker_id": "host:123",
            "heartbeat_at": "2026-01-01T00:00:05Z",
            "progress": 0.25,
            "created_at": "2026-01-01T00:00:00Z",
            "started_at": "2026-01-01T00:00:01Z",
            "finished_at": None,
            "group_key": None,
        }
    )
    id: int = Field(description="The run's id.")
    study_id: int = Field(description="The study it belongs to.")
    status: str = Field(
        description="queued, running, done, failed, diverged or cancelled; imported runs are done."
    )
    spec: dict[str, Any] | None = Field(
        description="The full run spec (study defaults merged in); null for imported runs."
    )
    n_params: float | None = Field(description="Parameters, embeddings included.")
    n_params_non_embedding: float | None = Field(description="Non-embedding parameters (the laws' N).")
    tokens: float | None = Field(description="Training tokens D.")
    flops: float | None = Field(description="Training FLOPs, counted exactly (or as given on import).")
    flops_6nd: float | None = Field(description="The 6·N·D approximation of the training FLOPs.")
    lr: float | None = Field(description="Peak learning rate.")
    batch_tokens: float | None = Field(description="Tokens per optimizer step.")
    loss: float | None = Field(
        description="The loss the laws are fitted to (final eval loss, else train loss)."
    )
    final_train_loss: float | None = Field(description="Training loss at the end of the run.")
    final_eval_loss: float | None = Field(description="Held-out loss at the end of the run.")
    steps: int | None = Field(description="Optimizer steps taken.")
    tokens_per_s: float | None = Field(description="Training throughput.")
    error: str | None = Field(description="Why the run failed, diverged or was cancelled.")
    attempts: int = Field(description="Times a worker claimed it (a lost worker's run is claimed again).")
    worker_id: str | None = Field(description="The worker that claimed it last (host:pid).")
    heartbeat_at: datetime | None = Field(description="The running worker's last sign of life (UTC).")
    progress: float | None = Field(None, description="Share of the run's tokens trained so far.")
    created_at: datetime = Field(description="When it was queued or imported (UTC).")
    started_at: datetime | None = Field(description="When a worker last started it (UTC).")
    finished_at: datetime | None = Field(description="When it finished (UTC).")
    group_key: str | None = Field(
        None,
        description="The run an imported row was measured on (checkpoints of one run share it; a loss "
        "fit's bootstrap resamples them together); null for a run of its own.",
    )

    @classmethod
    def of(cls, run) -> RunPublic:
        public = cls.model_validate(run)
        if run.status == "done":
            public.progress = 1.0
        elif run.progress_tokens is not None and run.tokens:
            public.progress = min(1.0, run.progress_tokens / run.tokens)
        return public


class RunList(Page):
    model_config = _example(
        {
            "items": [RunPublic.model_config["json_schema_extra"]["examples"][0]],
            "total": 1,
            "limit": 100,
            "offset": 0,
        }
    )
    items: list[RunPublic] = Field(description="This page's runs.")


class CurvePointPublic(BaseModel):
    model_config = _example(
        {
            "step": 10,
            "tokens": 40960.0,
            "train_loss": 3.2,
            "eval_loss": 3.25,
            "lr": 0.003,
            "noise_scale": 512.0,
            "wall_time": 1.5,
        }
    )
    step: int = Field(description="Optimizer step.")
    tokens: float = Field(description="Tokens trained on up to this step.")
    train_loss: float | None = Field(description="Training loss at this step.")
    eval_loss: float | None = Field(description="Held-out loss, at the steps that evaluate.")
    lr: float | None = Field(description="Learning rate at this step (after the schedule).")
    noise_scale: float | None = Field(description="Gradient noise scale B_simple in tokens, where measured.")
    wall_time: float | None = Field(description="Seconds since the run started.")


class Curve(BaseModel):
    run_id: int = Field(description="The run.")
    status: str = Field(description="The run's status now.")
    points: list[CurvePointPublic] = Field(description="The curve's points, by step.")
    next_step: int | None = Field(
        None, description="More points follow: pass this as from_step for the next page."
    )
    downsampled_from: int | None = Field(
        None, description="With max_points: how many points the range held before downsampling."
    )


class RunsCancel(BaseModel):
    """Which of the study's queued and running runs to cancel: all of them when nothing is given;
    one sweep's or plan's by the Idempotency-Key it was submitted with, or by the run ids its
    submission answered (first_id..last_id); the filters combine."""

    model_config = _example({"first_id": 12, "last_id": 76})
    idempotency_key: str | None = Field(
        None, min_length=1, max_length=200, description="Only runs submitted with this Idempotency-Key."
    )
    first_id: int | None = Field(None, ge=1, description="Only runs with this id or a later one.")
    last_id: int | None = Field(None, ge=1, description="Only runs with this id or an earlier one.")

    @model_validator(mode="after")
    def _in_order(self) -> RunsCancel:
        if self.first_id is not None and self.last_id is not None and self.first_id > self.last_id:
            raise ValueError(f"first_id {self.first_id} is after last_id {self.last_id}")
        return self


class Cancelled(BaseModel):
    model_config = _example({"study_id": 1, "count": 3, "ids": [12, 13, 14]})
    study_id: int = Field(description="The study whose runs were cancelled.")
    count: int = Field(description="Runs cancelled by this request (finished runs are left as they are).")
    ids: list[int] = Field(description="Their ids: they were queued or running, now cancelled.")


class Imported(BaseModel):
    model_config = _example({"count": 240, "ids": [1, 2]})
    count: int = Field(description="Runs imported.")
    ids: list[int] = Field(description="Their ids, in the order of the rows.")
    first_id: int | None = Field(None, description="The first new run's id.")
    last_id: int | None = Field(None, description="The last new run's id.")
    ids_complete: bool = Field(True, description="False when `ids` lists only the first 10,000 ids.")


# ------------------------------------------------------------------------------ tokens


TokenScope = Literal["read", "write", "admin"]
TOKEN_SCOPE = "read, write (may also read) or admin (may also write, and manage tokens)."


class TokenCreate(BaseModel):
    model_config = _example({"scope": "write", "name": "ci", "expires_in": "30d"})
    scope: TokenScope = Field(description=TOKEN_SCOPE)
    name: str = Field("", max_length=200, description="A note saying whose token this is.")
    expires_in: str | None = Field(
        None,
        max_length=20,
        description="Lifetime: a whole number and s, m, h, d or w (e.g. 30d); null: until revoked.",
    )


class TokenPublic(BaseModel):
    model_config = _example(
        {
            "prefix": "3f9a0c2b71de",
            "scope": "write",
            "name": "ci",
            "state": "active",
            "created_at": "2026-01-01T00:00:00Z",
            "expires_at": "2026-01-31T00:00:00Z",
            "revoked_at": None,
        }
    )
    prefix: str = Field(description="What finds the token (hl_<prefix>_...); never the secret.")
    scope: str = Field(description=TOKEN_SCOPE)
    name: str = Field(description="A note saying whose token this is.")
    state: Literal["active", "expired", "revoked"] = Field(description="Whether the token still works.")
    created_at: datetime = Field(description="When the token was created (UTC).")
    expires_at: datetime | None = Field(description="When it stops working (UTC); null: until revoked.")
    revoked_at: datetime | None = Field(description="When it was revoked (UTC); null: not revoked.")


class TokenCreated(TokenPublic):
    model_config = _example(
        {
            **TokenPublic.model_config["json_schema_extra"]["examples"][0],
            "token": "hl_3f9a0c2b71de_Wm1yc2VjcmV0LW9mLTQzLWNoYXJhY3RlcnMtaGVyZS0",
        }
    )
    token: str = Field(description="The token itself: shown this once, only its hash is stored.")


class TokenList(Page):
    model_config = _example(
        {
            "items": [TokenPublic.model_config["json_schema_extra"]["examples"][0]],
            "total": 1,
            "limit": 100,
            "offset": 0,
        }
    )
    items: list[TokenPublic] = Field(description="This page's tokens, oldest first.")


# ------------------------------------------------------------------------------ plan


class PlanCreate(BaseModel):
    """A budget (FLOPs, or GPU-hours at a throughput) and the target the proxy runs should predict for."""

    model_config = _example(
        {
            "budget_flops": 1e15,
            "n_params": 1e8,
            "tokens": 2e9,
            "seq_len": 64,
            "data": "synthetic:markov",
            "submit": False,
        }
    )
    budget_flops: float | None = Field(None, gt=0, description="Proxy budget in training FLOPs.")
    gpu_hours: float | None = Field(
        None, gt=0, description="Proxy budget in GPU-hours (instead of budget_flops)."
    )
    flops_per_gpu_s: float = Field(
        4e14,
        gt=0,
        description="Sustained training FLOP/s per GPU: 4e14 is 40% MFU of an H100's dense bf16 peak (989 TFLOP/s).",
    )
    n_params: float = Field(gt=0, description="The target's non-embedding parameters (the laws' N).")
    tokens: float = Field(gt=0, description="The target's training tokens.")
    seq_len: int | None = Field(None, ge=1, description="Default: the study's defaults, else 256.")
    vocab_size: int | None = Field(
        None, ge=2, description="Default: the study's defaults, else the data's own."
    )
    data: str | None = Field(
        None, max_length=MAX_DATA, description="Default: the study's data (or its defaults')."
    )
    parametrization: Literal["sp", "mup"] | None = Field(
        None,
        description="Default: the study's. mup: the LR × batch grids train one shape at the base width and "
        "spend their compute on tokens and batch sizes (μP transfers the LR across width).",
    )
    base_d_model: int | None = Field(
        None,
        ge=1,
        le=MAX_ID,
        description="mup: the base width (default: the study's, else the width of the smallest grid's shape).",
    )
    mix_imported: bool = Field(False, strict=True, description=MIX_IMPORTED)
    isoflop_budgets: int = Field(4, ge=3, le=10, description="IsoFLOP budgets (loss law).")
    shapes_per_budget: int = Field(5, ge=3, le=9, description="Model shapes on each IsoFLOP budget.")
    hparam_scales: int = Field(3, ge=3, le=6, description="Compute scales of the LR × batch grids.")
    lr_k: int = Field(
        2, ge=1, le=4, description="LRs each side of the prior: 2·lr_k+1 per grid, factor 2 apart."
    )
    batch_k: int = Field(
        1, ge=0, le=3, description="Batch sizes each side of the prior: 2·batch_k+1, factor 2."
    )
    submit: bool = Field(
        False,
        strict=True,  # true or false: a 0 or "no" is a client's mistake, not a dry run
        description="Queue the planned runs (honours Idempotency-Key and the sweep cap).",
    )

    @model_validator(mode="after")
    def _one_budget(self) -> PlanCreate:
        if (self.budget_flops is None) == (self.gpu_hours is None):
            raise ValueError("give the budget as budget_flops or as gpu_hours, one of the two")
        return self


@pydantic_dataclass(
    frozen=True,
    config=_example(
        {
            "budget": {"flops": 1e15, "gpu_hours": 0.000694, "flops_per_gpu_s": 4e14},
            "target": {"n_params": 1e8, "tokens": 2e9, "flops": 1.2e18},
            "scale": 0.0144,
            "isoflop": [
                {
                    "budget_flops": 1.35e12,
                    "n_params_optimal": 1.06e5,
                    "runs": [
                        {
                            "part": "isoflop",
                            "group": 0,
                            "spec": EXAMPLE_SPEC,
                            "n_params": 98688.0,
                            "flops": 1.35e12,
                            "flops_6nd": 1.25e12,
                            "gpu_hours": 9.4e-7,
                        }
                    ],
                }
            ],
            "hparams": [
                {
                    "flops_per_run": 1.35e12,
                    "n_params_optimal": 1.06e5,
                    "lr_centre": 0.0095,
                    "batch_tokens_centre": 2688,
                    "lr": [0.0024, 0.0047, 0.0095, 0.019, 0.038],
                    "batch_tokens": [1344, 2688, 5440],
                    "runs": [],
                }
            ],
            "parts": {
                "isoflop": {"runs": 20, "flops": 5.7e14, "gpu_hours": 0.0004, "share": 0.57},
                "hparams": {"runs": 45, "flops": 4.3e14, "gpu_hours": 0.0003, "share": 0.43},
            },
            "total": {"runs": 65, "flops": 1e15, "gpu_hours": 0.000694, "share": 0.9998},
            "largest_proxy_flops": 8.5e13,
            "extrapolation": 14000.0,
            "warnings": ["the target's compute is 1.4e+04x the largest proxy's (more than 10000x): ..."],
            "ids": None,
            "created": None,
            "parametrization": "sp",
            "notes": [],
        }
    ),
)
class PlanPublic(plan.Plan):
    """The keys of `hyperlaw plan --json`: the plan, with the queued runs' ids once submitted."""

    # The fields and their descriptions are app.plan.Plan's: one set of types, inside and out.

    @classmethod
    def of(cls, planned: plan.Plan) -> PlanPublic:
        return cls(**{f.name: getattr(planned, f.name) for f in dataclasses.fields(planned)})


# ------------------------------------------------------------------------------ fits


def _law_enum(schema: dict[str, Any]) -> None:
    """The OpenAPI enum of `law`: the laws of the registered kinds, read when the schema is built."""
    from app import law_kinds

    schema["enum"] = list(law_kinds.laws())


class FitCreate(BaseModel):
    model_config = _example({"law": "chinchilla", "bootstrap": 200, "seed": 0})
    law: str = Field(
        "chinchilla",
        description="A loss law; lr_opt / batch_opt (power laws of the best LR and batch size of (N, D) "
        "sweeps); critical_batch (Kaplan's B_crit(L) from the curves of runs at several batch sizes); or "
        "the compute-optimal frontier of Hoffmann et al.'s approach 1 (frontier_envelope: the lower envelope "
        "of the loss curves) or approach 2 (frontier_isoflop: parabolas through IsoFLOP budgets). The "
        "accepted values are those of the registered law kinds (app/law_kinds/).",
        json_schema_extra=_law_enum,
    )
    form: str | None = Field(
        None,
        description="For lr_opt and batch_opt: steplaw (a·N^b·D^c), deepseek (a·C^b), auto (the form with "
        "the smaller leave-one-scale-out error) or tokens (a·D^c, for μP studies, whose LR tuned at the base "
        "width transfers across width); default auto, and tokens for a μP study's lr_opt.",
        examples=["steplaw", "deepseek", "auto", "tokens"],
    )
    window: float | None = Field(
        None,
        gt=0,
        le=0.5,
        description="For lr_opt and batch_opt: runs within this log-loss distance of their sweep's best run "
        "model its bowl (default 0.02, about 2%). Widen it (e.g. 0.06) when run-to-run noise is comparable "
        "to the bowl's depth, as in short proxy runs.",
    )
    runs: Literal["best_per_size", "all"] | None = Field(
        None,
        description="For loss laws: best_per_size (default) fits, of each (N, D), the runs of its best LR/batch "
        "setting (the envelope a loss law describes; seed replicates of that setting all kept); all fits every "
        "run, off-optimum settings included (they lift E and the exponents).",
    )
    bootstrap: int = Field(200, ge=0, le=100_000, description="Bootstrap replicates (resampling runs).")
    seed: int = Field(0, ge=0, description="Seed of the bootstrap's resampling (same seed, same intervals).")
    run_ids: list[RunId] | None = Field(
        None,
        max_length=1_000_000,
        description="Fit these finished runs only (default: all); ids that are no run of the study are a 422.",
    )

    def request(self) -> dict[str, Any]:
        """fits.create_fit's arguments besides the session and study: the law, its bootstrap and seed,
        the runs asked for and the kind's options (form, window, runs; None where not given)."""
        return self.model_dump()


class FitPublic(BaseModel):
    """A stored fit; once done, the same keys as `hyperlaw fit --json` plus its id, status and snapshot.

    lr_opt / batch_opt fits add their form, leave-one-scale-out error and per-sweep optima;
    critical_batch fits their per-target McCandlish fits and, beside each target's B_crit, the
    gradient noise scale B_simple measured near that loss (`noise_scale_check`; B_simple estimates
    B_crit only up to a factor, McCandlish et al. 2018 sec. 2.2).
    """

    model_config = _example(
        {
            "id": 1,
            "study_id": 1,
            "status": "done",
            "law": "chinchilla",
            "bootstrap": 200,
            "replicates_done": 200,
            "progress": 1.0,
            "seed": 0,
            "n_points": 24,
            "data_hash": "9f2c...",
            "params": {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.37},
            "ci95": {"alpha": [0.31, 0.37]},
            "objective": 0.002,
            "warnings": [],
            "error": None,
            "converged": True,
            "n_bootstrap": 200,
            "n_failed_replicates": 0,
            "holdout": None,
            "run_ids": [1, 2],
            "created_at": "2026-01-01T00:00:00Z",
            "finished_at": "2026-01-01T00:00:03Z",
        }
    )
    id: int = Field(description="The fit's id.")
    study_id: int = Field(description="The study whose runs it fits.")
    status: str = Field(description="queued, running, done, failed or cancelled.")
    law: str = Field(description="The law fitted (see FitCreate.law).")
    bootstrap: int = Field(description="Bootstrap replicates asked for.")
    replicates_done: int = Field(0, description="Bootstrap replicates computed so far (while running).")
    progress: float = Field(
        0.0, ge=0, le=1, description="Share of the bootstrap computed, 0..1 (1 once done)."
    )
    seed: int = Field(description="Seed of the bootstrap's resampling.")
    n_points: int | None = Field(description="Runs (or points) the law was fitted to.")
    data_hash: str | None = Field(description="Hash of the fitted data: equal hashes, equal inputs.")
    params: dict[str, float] | None = Field(description="The fitted parameters by name.")
    ci95: dict[str, list[float]] | None = Field(
        description="Each parameter's 95% bootstrap interval [lo, hi]."
    )
    objective: float | None = Field(description="The fit's final objective (Huber loss on log residuals).")
    warnings: list[str] = Field(description="What makes the fit doubtful, in words.")
    error: str | None = Field(description="Why the fit failed.")
    converged: bool | None = Field(None, description="Whether the optimizer converged.")
    n_bootstrap: int | None = Field(None, description="Bootstrap replicates that succeeded.")
    n_failed_replicates: int | None = Field(None, description="Bootstrap replicates that failed.")
    holdout: dict[str, Any] | None = Field(
        None,
        description="Extrapolation check: refits without the largest model sizes and, separately, the largest "
        "token counts; their errors on the runs held out, combined and per direction (`directions`).",
    )
    candidates: dict[str, float | None] | None = Field(
        None,
        description="auto: each candidate loss law's mean held-out error over the directions; lr_opt / "
        "batch_opt form auto: each form's leave-one-scale-out error.",
    )
    candidate_errors: dict[str, dict[str, float]] | None = Field(
        None, description="auto: each candidate loss law's held-out error per direction (N, D)."
    )
    variable: str | None = Field(None, description="Single-input laws: the input x is (N, D or C).")
    input_ranges: dict[str, list[float]] | None = Field(
        None, description="Each input's fitted range [min, max]: beyond it is extrapolation."
    )
    form: str | None = Field(None, description="lr_opt / batch_opt: the power law's form.")
    window: float | None = Field(
        None, description="lr_opt / batch_opt: the bowl window the optima were fitted in."
    )
    loso_error: float | None = Field(None, description="lr_opt / batch_opt: leave-one-scale-out log error.")
    optima: list[dict[str, Any]] | None = Field(None, description="lr_opt / batch_opt: each sweep's optimum.")
    per_target: list[dict[str, Any]] | None = Field(
        None, description="critical_batch: the McCandlish fit (B_crit, S_min, E_min) at each target loss."
    )
    noise_scale_check: list[dict[str, Any]] | None = Field(
        None, description="critical_batch: per target, B_crit beside the median B_simple measured near it."
    )
    context: dict[str, Any] | None = Field(
        None, description="What the fit used beyond its runs: seq_len, model size, loss source."
    )
    run_ids: list[int] = Field(description="The runs fitted.")
    created_at: datetime = Field(description="When the fit was asked for (UTC).")
    finished_at: datetime | None = Field(description="When it finished (UTC).")

    @classmethod
    def of(cls, fit) -> FitPublic:
        from app.fits import progress_of

        public = cls.model_validate(fit)
        public.progress = progress_of(fit)
        result = fit.result or {}
        for key in (
            "converged",
            "n_bootstrap",
            "n_failed_replicates",
            "holdout",
            "candidates",
            "candidate_errors",
            "variable",
            "input_ranges",
            "form",
            "window",
            "loso_error",
            "optima",
            "per_target",
        ):
            setattr(public, key, result.get(key))
        if "context" in result:
            context = dict(result["context"])
            public.noise_scale_check = context.pop("noise_scale", None)
            public.context = context
            if public.input_ranges is None and "input_ranges" in context:
                public.input_ranges = context["input_ranges"]
        return public


class FitList(Page):
    """One page of a study's fits, oldest first."""

    model_config = _example(
        {
            "items": [FitPublic.model_config["json_schema_extra"]["examples"][0]],
            "total": 1,
            "limit": 100,
            "offset": 0,
        }
    )
    items: list[FitPublic] = Field(description="This page's fits.")


# ------------------------------------------------------------------------------ predict


class Interval(BaseModel):
    value: float = Field(description="The estimate.")
    lo: float | None = Field(description="Lower end of its 95% interval (null: none).")
    hi: float | None = Field(description="Upper end of its 95% interval (null: none).")


class LossInterval(Interval):
    """The predicted loss: lo and hi are the 95% prediction interval (where a new run's loss lands:
    the law's uncertainty, run-to-run scatter and the extrapolation error measured on the study's own
    nested refits); `parameter` is the interval of the law itself (bootstrap over runs)."""

    interval: str = Field("prediction", description="What lo and hi are: the prediction interval.")
    parameter: dict[str, float | None] | None = Field(
        None, description="The parameter interval {lo, hi}: the bootstrap interval of the law alone."
    )


class BatchSize(BaseModel):
    tokens: Interval = Field(description="The optimal batch size in tokens.")
    sequences: Interval | None = Field(description="tokens / the study's seq_len; null when it is unknown.")


class ComputeOptimal(BaseModel):
    n_params: Interval = Field(description="Compute-optimal parameters N_opt.")
    tokens: Interval = Field(description="Compute-optimal training tokens D_opt.")


class FrontierOptimum(ComputeOptimal):
    fit_id: int | None = Field(None, description="The fit that gave it (approach 3: the loss fit).")
    loss: Interval | None = Field(
        None,
        description="Approach 2: L_opt, the loss at the compute-optimal split for this compute, from the "
        "L_opt(C) law fitted through the IsoFLOP budgets' minima (null for the other approaches).",
    )


class Approaches(BaseModel):
    """N_opt, D_opt for the query's compute by each of Hoffmann et al.'s three approaches (null: not fitted)."""

    approach_1: FrontierOptimum | None = Field(None, description="From the loss curves' lower envelope.")
    approach_2: FrontierOptimum | None = Field(None, description="From parabolas through IsoFLOP budgets.")
    approach_3: FrontierOptimum | None = Field(None, description="From the fitted loss law L(N, D).")


class BatchTokens(BaseModel):
    tokens: float = Field(description="The batch size in tokens.")
    sequences: float | None = Field(description="tokens / the study's seq_len; null when it is unknown.")


class LRAtBatch(Interval):
    """The learning rate at the query's batch size, carried from the LR law's optimum at its reference
    batch by a transfer rule; lo and hi are the LR law's 95% interval moved by the same rule (widened
    over the reference batch's interval when that is the predicted B_opt)."""

    batch: BatchTokens = Field(description="The query's batch size.")
    reference: Literal["batch_opt", "fixed"] = Field(
        description="The batch the LR law's optimum was measured at: batch_opt, the predicted optimal batch "
        "(the LR law's sweeps varied LR and batch together); fixed, the one batch all its runs were trained at."
    )
    reference_batch: BatchTokens = Field(description="That reference batch size.")
    lr_opt: float = Field(description="The predicted optimal LR, at the reference batch.")
    optimizer: Literal["adam", "sgd"] = Field(description="The optimizer whose rule was used.")
    rule: Literal["sqrt", "linear"] = Field(
        description="lr = lr_opt (B / B_ref)^0.5 for Adam (Malladi et al. 2022), (B / B_ref)^1 for SGD "
        "(Goyal et al. 2017); both hold below the critical batch size only."
    )
    factor: float = Field(description="lr / lr_opt.")
    b_crit: float | None = Field(
        description="The critical batch size (tokens) checked against, from the critical_batch law at the "
        "predicted loss; null when the study has none (the rule's range is then unchecked)."
    )
    above_critical: bool | None = Field(
        description="True when the batch or the reference batch is above b_crit (the rule does not hold "
        "there and the LR is likely too high); null when unchecked. A warning says why."
    )
    basis: str = Field(description="The computation in words.")


class PredictPublic(BaseModel):
    """A prediction at (n_params, tokens); a field whose law is not fitted yet is null, with a warning.

    fit_id and law name the loss fit (kept for older clients); fit_ids names every fit used. A law
    kind registered beyond the built-in ones (app/law_kinds/) adds its own keys.
    """

    model_config = _example(
        {
            "study": 1,
            "n_params": 1e9,
            "tokens": 2e10,
            "loss": {"value": 2.31, "lo": 2.27, "hi": 2.36},
            "lr_opt": {"value": 4.1e-4, "lo": 3.6e-4, "hi": 4.7e-4},
            "batch_size_opt": {
                "tokens": {"value": 2.1e6, "lo": 1.8e6, "hi": 2.5e6},
                "sequences": {"value": 1025.0, "lo": 879.0, "hi": 1221.0},
            },
            "critical_batch_size": {"value": 3.3e6, "lo": 2.2e6, "hi": 5.0e6},
            "lr_at_batch": None,
            "compute": {"value": 1.2e20, "lo": 1.2e20, "hi": 1.2e20},
            "tokens_per_param": {"value": 20.0, "lo": 20.0, "hi": 20.0},
            "compute_optimal": {
                "n_params": {"value": 1.1e9, "lo": 0.8e9, "hi": 1.5e9},
                "tokens": {"value": 1.8e10, "lo": 1.3e10, "hi": 2.5e10},
            },
            "fit_id": 3,
            "law": "chinchilla",
            "fit_ids": {"loss": 3, "lr_opt": 5, "batch_opt": 6, "critical_batch": 7},
            "warnings": [],
        }
    )
    model_config["extra"] = "allow"  # keys of law kinds beyond the built-in ones
    study: int = Field(description="The study whose fits answered.")
    n_params: float = Field(description="The query's parameters N.")
    tokens: float = Field(description="The query's training tokens D.")
    loss: LossInterval | None = Field(description="The predicted loss with both intervals.")
    lr_opt: Interval | None = Field(None, description="The optimal peak learning rate.")
    batch_size_opt: BatchSize | None = Field(None, description="The optimal batch size.")
    critical_batch_size: Interval | None = Field(None, description="B_crit at the predicted loss, in tokens.")
    lr_at_batch: LRAtBatch | None = Field(
        None, description="The LR at the query's batch (tokens), when one was given: null otherwise."
    )
    compute: Interval = Field(description="The query's training compute 6·N·D in FLOPs.")
    tokens_per_param: Interval = Field(description="D / N of the query.")
    compute_optimal: ComputeOptimal | None = Field(
        None, description="N_opt and D_opt for this query's compute 6ND, from the loss fit."
    )
    compute_optimal_approaches: Approaches | None = Field(
        None,
        description="The same split by approaches 1 (loss envelope) and 2 (IsoFLOP) where fitted, beside "
        "approach 3 (the loss fit), so their agreement can be seen; a warning says when they disagree.",
    )
    fit_id: int | None = Field(description="The loss fit used (also in fit_ids).")
    law: str | None = Field(description="The loss fit's law.")
    fit_ids: dict[str, int] = Field(description="Every fit used, by predicted quantity.")
    warnings: list[str] = Field(
        description="What to know before trusting the numbers: extrapolation, stale fits, laws not fitted."
    )
