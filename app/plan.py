"""Planning proxy runs: from a compute budget and a target (N, D), the proxy runs that fit the loss law
and the hyperparameter laws, each with its cost. Pure arithmetic over trainer.accounting and the run
spec's validation: no database, no torch.

The plan has two parts, both anchored on the target's compute C_target = 6·N·D:

* IsoFLOP design for the loss law (Hoffmann et al. 2022, approach 2): `isoflop_budgets` budgets
  spaced by BUDGET_RATIO, the largest 1/EXTRAPOLATION_GOAL (1/50) of C_target, each trained by
  `shapes_per_budget` shapes around the compute-optimal size N_opt = sqrt(C / (6·20)), the
  D ≈ 20·N prior of Hoffmann et al. Each run's tokens fill its budget to within one batch, budgets
  counting the trainer's FLOPs (flops_per_token.kaplan × tokens, what a run records as `flops`;
  attention included), not 6·N·D as the isoflop sweep does, so the plan's cost is what its runs record.
* LR × batch grids for the hyperparameter laws at `hparam_scales` compute scales (the largest one
  BUDGET_RATIO below the largest IsoFLOP budget), centred on the DeepSeek LLM 2024 fits.

This ideal plan is scaled down, every budget by the same factor, until it fits the budget; the
warnings say so, and how far the target then lies beyond the largest proxy.

Shapes come from a ladder: n_layer = 1..MAX_LAYERS, d_model = a·n_layer for an aspect ratio
a in ASPECT_RATIOS, head dim 64 when d_model is a multiple of 64 and at least 256, else 32 from
d_model 64 up, else 16. For a wanted N the ladder shape whose non-embedding parameter count
(trainer.accounting) is nearest in log space wins, ties going to aspect ratio 64; a budget's
shapes are the nearest unused ones to N_opt·SHAPE_SPREAD^j, j = 0, ±1, ±2..., so they bracket N_opt.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.errors import InvalidInput
from app.specs import SHAPE_FIELDS, accounting, batches_around, log_around, seq_len_of, validate_spec

# Hoffmann et al. 2022 (Table 3, approach 1-3 agree): compute-optimal training uses about 20 tokens per
# parameter, so C = 6·N·D = 120·N² gives the prior N_opt(C) = sqrt(C / 120).
TOKENS_PER_PARAM = 20.0
# DeepSeek LLM 2024 (§3.1, eq. 1), fitted on C in 1e17..3e20: eta_opt = 0.3118·C^-0.1250 and
# B_opt = 0.2920·C^0.3271 tokens, with C = M·D and M = 72·n_layer·d² + 6·n_layer·l_seq·d, which is
# trainer.accounting's `kaplan` FLOPs per token for the GELU MLP.
LR_PRIOR = (0.3118, -0.1250)
BATCH_PRIOR = (0.2920, 0.3271)
# The fits extrapolate badly to tiny models (below 1e15 FLOPs the LR prior exceeds 1e-2): the
# centre is clipped to LRs AdamW-trained small GPTs use (nanoGPT 6e-4 .. 1e-3; the grid then spans
# factors of AXIS_FACTOR either side).
LR_RANGE = (1e-4, 1e-2)
MAX_BATCH_TOKENS = 1 << 22
# Fewer optimizer steps than this and warmup and decay dominate the final loss.
MIN_STEPS = 50
# Ratio between neighbouring IsoFLOP budgets and hyperparameter scales: 4 budgets span 64x.
BUDGET_RATIO = 4.0
# Ratio between neighbouring shapes' N on one IsoFLOP budget: 5 shapes span 16x around N_opt.
SHAPE_SPREAD = 2.0
# Ratio between neighbouring LRs and batch sizes of a hyperparameter grid.
AXIS_FACTOR = 2.0
# The ideal plan's largest IsoFLOP budget is this far below the target: half the warning threshold,
# since a run's 6·N·D falls below its FLOP count (attention) and its tokens round down. Beyond
# WARN_EXTRAPOLATION the prediction's interval widens, beyond SPECULATIVE_EXTRAPOLATION the laws are
# speculative.
EXTRAPOLATION_GOAL = 50.0
WARN_EXTRAPOLATION = 100.0
SPECULATIVE_EXTRAPOLATION = 1e4
# 40% model-FLOPs utilisation of an H100 SXM's dense bf16 peak (989 TFLOP/s).
DEFAULT_FLOPS_PER_GPU_S = 4e14
ASPECT_RATIOS = (32, 64, 128)
MAX_LAYERS = 48


@dataclass(frozen=True)
class Design:
    """How many runs the plan holds: budgets × shapes, and scales × (2·lr_k+1) LRs × (2·batch_k+1) batches."""

    isoflop_budgets: int = 4
    shapes_per_budget: int = 5
    hparam_scales: int = 3
    lr_k: int = 2
    batch_k: int = 1

    @property
    def grid_size(self) -> int:
        return (2 * self.lr_k + 1) * (2 * self.batch_k + 1)

    def describe(self) -> str:
        return (
            f"{self.isoflop_budgets} IsoFLOP budgets × {self.shapes_per_budget} shapes, {self.hparam_scales} "
            f"scales of {2 * self.lr_k + 1} LRs × {2 * self.batch_k + 1} batch sizes"
        )


@dataclass(frozen=True)
class PlannedRun:
    """One proxy run: its full spec, non-embedding N, FLOPs (trainer count and 6·N·D) and GPU-hours."""

    part: str  # "isoflop" or "hparams"
    group: int  # index of its IsoFLOP budget or hyperparameter scale
    spec: dict[str, Any]
    n_params: float
    flops: float
    flops_6nd: float
    gpu_hours: float


@dataclass(frozen=True)
class IsoflopBudget:
    budget_flops: float
    n_params_optimal: float
    runs: tuple[PlannedRun, ...]


@dataclass(frozen=True)
class HparamScale:
    flops_per_run: float
    n_params_optimal: float
    lr_centre: float
    batch_tokens_centre: int
    lr: tuple[float, ...]
    batch_tokens: tuple[int, ...]
    runs: tuple[PlannedRun, ...]


@dataclass(frozen=True)
class Cost:
    runs: int
    flops: float
    gpu_hours: float
    share: float  # of the budget


@dataclass(frozen=True)
class Plan:
    """A proposed set of proxy runs, their costs and what they leave to extrapolation."""

    budget_flops: float
    budget_gpu_hours: float
    flops_per_gpu_s: float
    target_n_params: float
    target_tokens: float
    target_flops: float  # 6·N·D
    scale: float  # of the ideal plan (largest IsoFLOP budget = target / EXTRAPOLATION_GOAL)
    isoflop: tuple[IsoflopBudget, ...]
    hparams: tuple[HparamScale, ...]
    parts: dict[str, Cost]
    total: Cost
    largest_proxy_flops: float  # 6·N·D of the largest run
    extrapolation: float  # target_flops / largest_proxy_flops
    warnings: tuple[str, ...]

    @property
    def runs(self) -> list[PlannedRun]:
        """Every run, IsoFLOP runs first: the order they are submitted in."""
        return [r for group in (*self.isoflop, *self.hparams) for r in group.runs]

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape shared by the API and `hyperlaw plan --json`."""
        out = dataclasses.asdict(self)
        target = {k: out.pop(f"target_{k}") for k in ("n_params", "tokens", "flops")}
        budget = {
            "flops": out.pop("budget_flops"),
            "gpu_hours": out.pop("budget_gpu_hours"),
            "flops_per_gpu_s": out.pop("flops_per_gpu_s"),
        }
        out["warnings"] = list(self.warnings)
        return {"budget": budget, "target": target, **out}


# ------------------------------------------------------------------------------ shapes


@dataclass(frozen=True)
class _Shape:
    n_layer: int
    d_model: int
    n_head: int
    aspect: int
    n_params: float  # non-embedding
    flops_per_token: float  # trainer.accounting's `kaplan` count

    def fields(self) -> dict[str, int]:
        return {"n_layer": self.n_layer, "d_model": self.d_model, "n_head": self.n_head}


def head_dim(d_model: int) -> int:
    """64 for d_model a multiple of 64 from 256 up, 32 from 64 up, else 16 (small GPTs use 16-64)."""
    if d_model >= 256 and d_model % 64 == 0:
        return 64
    return 32 if d_model >= 64 else 16


def ladder(base: Mapping[str, Any]) -> list[_Shape]:
    """Every ladder shape with its counts for the base spec's seq_len, vocabulary and MLP, smallest first."""
    from trainer.accounting import count_params, flops_per_token
    from trainer.spec import RunSpec

    seq_len = seq_len_of(base)
    kept = {k: base[k] for k in ("seq_len", "mlp", "vocab_size", "data", "tied_embeddings") if k in base}
    shapes = []
    for n_layer in range(1, MAX_LAYERS + 1):
        for aspect in ASPECT_RATIOS:
            d_model = aspect * n_layer
            spec = RunSpec(
                **kept,
                n_layer=n_layer,
                d_model=d_model,
                n_head=d_model // head_dim(d_model),
                tokens=seq_len,
                batch_tokens=seq_len,
                lr=1e-3,
            )
            shapes.append(
                _Shape(
                    n_layer,
                    d_model,
                    spec.n_head,
                    aspect,
                    float(count_params(spec).non_embedding),
                    float(flops_per_token(spec).kaplan),
                )
            )
    return sorted(shapes, key=lambda s: s.n_params)


def _nearest(shapes: list[_Shape], n_params: float, used: set[_Shape]) -> _Shape:
    free = [s for s in shapes if s not in used]
    return min(free, key=lambda s: (abs(math.log(s.n_params / n_params)), abs(math.log2(s.aspect / 64))))


def shapes_around(shapes: list[_Shape], n_params: float, count: int) -> list[_Shape]:
    """`count` distinct ladder shapes nearest to n_params·SHAPE_SPREAD^j, j = 0, -1, +1, -2, ..., by size."""
    offsets = sorted(range(-(count // 2), count - count // 2), key=lambda j: (abs(j), j))
    used: set[_Shape] = set()
    for j in offsets:
        used.add(_nearest(shapes, n_params * SHAPE_SPREAD**j, used))
    return sorted(used, key=lambda s: s.n_params)


# ------------------------------------------------------------------------------ priors


def compute_optimal_params(flops: float) -> float:
    """N_opt(C) = sqrt(C / (6·20)): C = 6·N·D with D = 20·N (Hoffmann et al. 2022)."""
    return math.sqrt(flops / (6.0 * TOKENS_PER_PARAM))


def prior_lr(flops: float) -> float:
    """DeepSeek LLM 2024's eta_opt(C), clipped to LR_RANGE."""
    lo, hi = LR_RANGE
    return min(hi, max(lo, LR_PRIOR[0] * flops ** LR_PRIOR[1]))


def prior_batch_tokens(flops: float) -> float:
    """DeepSeek LLM 2024's B_opt(C) in tokens (unrounded, unclipped)."""
    return BATCH_PRIOR[0] * flops ** BATCH_PRIOR[1]


# ------------------------------------------------------------------------------ design


@dataclass(frozen=True)
class _DraftRun:
    shape: _Shape
    tokens: int
    batch_tokens: int
    lr: float


@dataclass(frozen=True)
class _DraftBudget:
    """One IsoFLOP budget's runs before their specs are validated."""

    budget: float
    n_opt: float
    runs: list[_DraftRun]


@dataclass(frozen=True)
class _DraftScale:
    """One hyperparameter scale: a shape and token count, trained at every LR × batch of the grid."""

    flops: float
    n_opt: float
    shape: _Shape
    tokens: int
    lr_centre: float
    batch_centre: int
    lrs: list[float]
    batches: list[int]


@dataclass(frozen=True)
class _Draft:
    iso: list[_DraftBudget]
    hp: list[_DraftScale]


class _Infeasible(Exception):
    def __init__(self, message: str, *, too_small: bool = True) -> None:
        super().__init__(message)
        self.too_small = too_small


def _isoflop_budgets(top: float, design: Design) -> list[float]:
    return [top / BUDGET_RATIO ** (design.isoflop_budgets - 1 - i) for i in range(design.isoflop_budgets)]


def _hparam_flops(top: float, design: Design) -> list[float]:
    # The largest scale one BUDGET_RATIO below the largest IsoFLOP budget: each grid holds many runs.
    return [top / BUDGET_RATIO ** (design.hparam_scales - i) for i in range(design.hparam_scales)]


def _nominal_cost(top: float, design: Design) -> float:
    """What the plan may spend for a largest IsoFLOP budget `top` (the runs round down from it)."""
    return design.shapes_per_budget * sum(_isoflop_budgets(top, design)) + design.grid_size * sum(
        _hparam_flops(top, design)
    )


def _draft(shapes: list[_Shape], top: float, design: Design, seq_len: int) -> _Draft:
    """The runs for a largest IsoFLOP budget `top`, or _Infeasible saying why not."""
    max_seqs = MAX_BATCH_TOKENS // seq_len
    iso: list[_DraftBudget] = []
    for budget in _isoflop_budgets(top, design):
        n_opt = compute_optimal_params(budget)
        chosen = shapes_around(shapes, n_opt, design.shapes_per_budget)
        if chosen[0].n_params > n_opt:
            raise _Infeasible(
                f"the smallest IsoFLOP budget ({budget:.3g} FLOPs) is compute-optimal at N ≈ {n_opt:.3g}, "
                f"below the smallest shape ({chosen[0].n_params:.3g} non-embedding parameters)"
            )
        if chosen[-1].n_params < n_opt:
            raise _Infeasible(
                f"the largest IsoFLOP budget ({budget:.3g} FLOPs) is compute-optimal at N ≈ {n_opt:.3g}, beyond "
                f"the largest shape ({chosen[-1].n_params:.3g}): lower the budget or the target",
                too_small=False,
            )
        lr, prior_seqs = prior_lr(budget), max(1, round(prior_batch_tokens(budget) / seq_len))
        runs: list[_DraftRun] = []
        for shape in chosen:
            sequences = budget / shape.flops_per_token / seq_len
            most = min(max_seqs, math.floor(sequences / MIN_STEPS))
            if most < 1:
                raise _Infeasible(
                    f"a {shape.n_params:.3g}-parameter shape gets fewer than {MIN_STEPS} steps of one sequence "
                    f"on the IsoFLOP budget of {budget:.3g} FLOPs"
                )
            batch = min(prior_seqs, most) * seq_len
            runs.append(_DraftRun(shape, math.floor(sequences * seq_len / batch) * batch, batch, lr))
        iso.append(_DraftBudget(budget, n_opt, runs))
    hp: list[_DraftScale] = []
    used: set[_Shape] = set()
    for flops in _hparam_flops(top, design):
        n_opt = compute_optimal_params(flops)
        shape = _nearest(shapes, n_opt, used)
        used.add(shape)
        tokens = math.floor(flops / shape.flops_per_token / seq_len) * seq_len
        most = min(max_seqs, math.floor(tokens / seq_len / MIN_STEPS))
        needed = round(AXIS_FACTOR ** (2 * design.batch_k))
        if most < needed:
            raise _Infeasible(
                f"the smallest hyperparameter scale ({flops:.3g} FLOPs a run) leaves fewer than {MIN_STEPS} steps "
                f"for its largest batch"
            )
        centre = prior_batch_tokens(flops)
        batches = batches_around(centre, design.batch_k, AXIS_FACTOR, seq_len=seq_len)
        if batches[-1] > most * seq_len:  # shift the grid down so its largest batch keeps MIN_STEPS steps
            centre = most * seq_len / AXIS_FACTOR**design.batch_k
            batches = sorted(
                {
                    min(b, most * seq_len)
                    for b in batches_around(centre, design.batch_k, AXIS_FACTOR, seq_len=seq_len)
                }
            )
        lr = prior_lr(flops)
        batch_centre = max(seq_len, round(centre / seq_len) * seq_len)
        hp.append(
            _DraftScale(
                flops,
                n_opt,
                shape,
                tokens,
                lr,
                batch_centre,
                log_around(lr, design.lr_k, AXIS_FACTOR),
                batches,
            )
        )
    return _Draft(iso=iso, hp=hp)


def _feasible(shapes: list[_Shape], top: float, design: Design, seq_len: int) -> bool:
    try:
        _draft(shapes, top, design, seq_len)
    except _Infeasible as error:
        if not error.too_small:
            raise InvalidInput(str(error), field="n_params") from error
        return False
    return True


def _smallest_top(shapes: list[_Shape], start: float, design: Design, seq_len: int) -> float:
    """The smallest largest-IsoFLOP-budget whose plan works (bisection in log space; `start` fails)."""
    hi = start * 2
    while not _feasible(shapes, hi, design, seq_len):
        hi *= 2
        if hi > start * 2**200:
            raise InvalidInput("no budget makes this plan work: ask for fewer runs", field="budget_flops")
    lo = start
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if _feasible(shapes, mid, design, seq_len) else (mid, hi)
    return hi


def _round_up(value: float) -> float:
    """Up to two significant digits."""
    unit = 10.0 ** (math.floor(math.log10(value)) - 1)
    return math.ceil(value / unit - 1e-9) * unit


# ------------------------------------------------------------------------------ the plan


def base_spec(defaults: Mapping[str, Any], **given: Any) -> dict[str, Any]:
    """A study's defaults overlaid with the given spec fields (seq_len, vocab_size, data) that are not None."""
    return {**defaults, **{k: v for k, v in given.items() if v is not None}}


def plan_runs(
    *,
    base: Mapping[str, Any],
    n_params: float,
    tokens: float,
    budget_flops: float | None = None,
    gpu_hours: float | None = None,
    flops_per_gpu_s: float = DEFAULT_FLOPS_PER_GPU_S,
    design: Design = Design(),
) -> Plan:
    """Proxy runs for a target of `n_params` (non-embedding) parameters trained on `tokens` tokens, within
    a budget of `budget_flops`, or `gpu_hours` at `flops_per_gpu_s` per GPU.

    `base` holds the spec fields every run shares (the study's defaults: seq_len, data, mlp...).
    Raises InvalidInput naming the field: a budget too small for the design says the smallest that works.
    """
    budget_field = "budget_flops" if budget_flops is not None else "gpu_hours"
    _check_inputs(n_params, tokens, budget_flops, gpu_hours, flops_per_gpu_s, design)
    if budget_flops is None:
        budget_flops = gpu_hours * 3600.0 * flops_per_gpu_s
    base = {k: v for k, v in base.items() if k not in ("tokens", "batch_tokens", "lr", *SHAPE_FIELDS)}
    seq_len = seq_len_of(base)
    validate_spec(
        {
            **base,
            "n_layer": 1,
            "d_model": 32,
            "n_head": 2,
            "tokens": seq_len,
            "batch_tokens": seq_len,
            "lr": 1e-3,
        }
    )  # a bad study default is named before anything else
    shapes = ladder(base)
    target_flops = 6.0 * n_params * tokens
    ideal_top = target_flops / EXTRAPOLATION_GOAL
    ideal_cost = _nominal_cost(ideal_top, design)
    scale = min(1.0, budget_flops / ideal_cost)
    if not _feasible(shapes, ideal_top * scale, design, seq_len):
        smallest = _smallest_top(shapes, ideal_top * scale, design, seq_len) / ideal_top
        if scale < 1.0 or budget_flops < smallest * ideal_cost:
            need = _round_up(smallest * ideal_cost)
            hours = need / flops_per_gpu_s / 3600.0
            reason = _reason(shapes, ideal_top * scale, design, seq_len)
            raise InvalidInput(
                f"a budget of {budget_flops:.3g} FLOPs is too small for a minimal plan ({design.describe()}): "
                f"{reason}; the smallest budget that works is {need:.2g} FLOPs ({hours:.3g} GPU-hours at "
                f"{flops_per_gpu_s:.3g} FLOP/s)",
                field=budget_field,
            )
        scale = smallest  # a tiny target: the smallest workable plan, above the ideal one
    draft = _draft(shapes, ideal_top * scale, design, seq_len)
    return _assemble(draft, base, budget_flops, flops_per_gpu_s, n_params, tokens, target_flops, scale)


def _reason(shapes: list[_Shape], top: float, design: Design, seq_len: int) -> str:
    try:
        _draft(shapes, top, design, seq_len)
    except _Infeasible as error:
        return str(error)
    return "it leaves no room"


def _check_inputs(
    n_params: float,
    tokens: float,
    budget_flops: float | None,
    gpu_hours: float | None,
    flops_per_gpu_s: float,
    design: Design,
) -> None:
    if (budget_flops is None) == (gpu_hours is None):
        raise InvalidInput(
            "give the budget as budget_flops or as gpu_hours, one of the two", field="budget_flops"
        )
    for name, value in (
        ("n_params", n_params),
        ("tokens", tokens),
        ("budget_flops", budget_flops),
        ("gpu_hours", gpu_hours),
        ("flops_per_gpu_s", flops_per_gpu_s),
    ):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise InvalidInput(f"{name} ({value!r}) must be a positive number", field=name)
    if design.isoflop_budgets < 3:  # fitting.isoflop_frontier needs three budgets
        raise InvalidInput("isoflop_budgets must be at least 3", field="isoflop_budgets")
    if design.shapes_per_budget < 3:  # a parabola in log N needs three points
        raise InvalidInput("shapes_per_budget must be at least 3", field="shapes_per_budget")
    if design.hparam_scales < 3:
        raise InvalidInput(
            "hparam_scales must be at least 3 to fit a law across scales", field="hparam_scales"
        )
    if design.lr_k < 1:
        raise InvalidInput("lr_k must be at least 1 (three LRs) to locate an optimum", field="lr_k")
    if design.batch_k < 0:
        raise InvalidInput("batch_k must be at least 0", field="batch_k")


def _run(
    part: str, group: int, draft: _DraftRun, base: Mapping[str, Any], flops_per_gpu_s: float
) -> PlannedRun:
    fields = {"tokens": int(draft.tokens), "batch_tokens": int(draft.batch_tokens), "lr": draft.lr}
    spec = validate_spec({**base, **draft.shape.fields(), **fields})
    counts = accounting(spec)
    return PlannedRun(
        part=part,
        group=group,
        spec=spec.to_dict(),
        n_params=counts["n_params_non_embedding"],
        flops=counts["flops"],
        flops_6nd=counts["flops_6nd"],
        gpu_hours=counts["flops"] / flops_per_gpu_s / 3600.0,
    )


def _assemble(
    draft: _Draft,
    base: Mapping[str, Any],
    budget_flops: float,
    flops_per_gpu_s: float,
    n_params: float,
    tokens: float,
    target_flops: float,
    scale: float,
) -> Plan:
    def run(part: str, group: int, draft_run: _DraftRun) -> PlannedRun:
        return _run(part, group, draft_run, base, flops_per_gpu_s)

    iso = tuple(
        IsoflopBudget(b.budget, b.n_opt, tuple(run("isoflop", i, r) for r in b.runs))
        for i, b in enumerate(draft.iso)
    )
    hp = tuple(
        HparamScale(
            flops_per_run=g.flops,
            n_params_optimal=g.n_opt,
            lr_centre=g.lr_centre,
            batch_tokens_centre=g.batch_centre,
            lr=tuple(g.lrs),
            batch_tokens=tuple(g.batches),
            runs=tuple(
                run("hparams", i, _DraftRun(g.shape, g.tokens, b, x)) for x in g.lrs for b in g.batches
            ),
        )
        for i, g in enumerate(draft.hp)
    )

    def cost(runs: list[PlannedRun]) -> Cost:
        flops = sum(r.flops for r in runs)
        return Cost(
            runs=len(runs),
            flops=flops,
            gpu_hours=flops / flops_per_gpu_s / 3600.0,
            share=flops / budget_flops,
        )

    parts = {
        "isoflop": cost([r for g in iso for r in g.runs]),
        "hparams": cost([r for g in hp for r in g.runs]),
    }
    every = [r for g in (*iso, *hp) for r in g.runs]
    total = cost(every)
    assert total.flops <= budget_flops * (1 + 1e-9), "a plan never exceeds its budget"
    largest = max(r.flops_6nd for r in every)
    extrapolation = target_flops / largest
    warnings = []
    if scale < 1.0:
        warnings.append(
            f"scaled down: the budget affords {scale:.3g} of a plan whose largest IsoFLOP budget is 1/"
            f"{EXTRAPOLATION_GOAL:g} of the target's compute, so every budget shrank by that factor"
        )
    elif scale > 1.0:
        warnings.append(
            f"the target ({target_flops:.3g} FLOPs) is small: the smallest workable plan costs {total.flops:.3g} "
            f"FLOPs and its largest proxy is {1 / extrapolation:.3g}x the target's compute; train the target directly"
        )
    elif total.share < 0.99:
        warnings.append(
            f"the plan uses {100 * total.share:.3g}% of the budget: its largest IsoFLOP budget already sits at 1/"
            f"{EXTRAPOLATION_GOAL:g} of the target's compute"
        )
    if extrapolation > SPECULATIVE_EXTRAPOLATION:
        warnings.append(
            f"the target's compute is {extrapolation:.3g}x the largest proxy's (more than {SPECULATIVE_EXTRAPOLATION:g}x):"
            " the laws become speculative that far out; raise the budget or lower the target"
        )
    elif extrapolation > WARN_EXTRAPOLATION:
        warnings.append(
            f"the target's compute is {extrapolation:.3g}x the largest proxy's (more than {WARN_EXTRAPOLATION:g}x):"
            " expect wide prediction intervals"
        )
    return Plan(
        budget_flops=budget_flops,
        budget_gpu_hours=budget_flops / flops_per_gpu_s / 3600.0,
        flops_per_gpu_s=flops_per_gpu_s,
        target_n_params=n_params,
        target_tokens=tokens,
        target_flops=target_flops,
        scale=scale,
        isoflop=iso,
        hparams=hp,
        parts=parts,
        total=total,
        largest_proxy_flops=largest,
        extrapolation=extrapolation,
        warnings=tuple(warnings),
    )
