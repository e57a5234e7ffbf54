"""Drafting and assembling a plan: from a compute budget and a target (N, D), the proxy runs that fit
the loss law and the hyperparameter laws, each with its cost. Pure arithmetic over the shape ladder,
the priors and the run spec's validation: no database, no torch.

The plan has two parts, both anchored on the target's compute C_target = 6·N·D:

* IsoFLOP design for the loss law (Hoffmann et al. 2022, approach 2): `isoflop_budgets` budgets
  spaced by BUDGET_RATIO, the largest 1/EXTRAPOLATION_GOAL (1/50) of C_target, each trained by
  `shapes_per_budget` ladder shapes around the compute-optimal size N_opt (app/plan/priors.py). Each
  run's tokens fill its budget to within one batch, budgets counting the trainer's FLOPs
  (flops_per_token.kaplan × tokens, what a run records as `flops`; attention included), not 6·N·D as
  the isoflop sweep does, so the plan's cost is what its runs record.
* LR × batch grids for the hyperparameter laws at `hparam_scales` compute scales (the largest one
  BUDGET_RATIO below the largest IsoFLOP budget), centred on the DeepSeek LLM 2024 priors.

This ideal plan is scaled down, every budget by the same factor, until it fits the budget (a
bisection finds the smallest plan that works when the budget is too small); the warnings say so,
and how far the target then lies beyond the largest proxy.

Under μP (a base spec with parametrization "mup") the LR tuned at one width transfers across width
(Yang et al. 2022), so every LR × batch grid trains one small shape at the base width (the study's
base_d_model, else the shape nearest the smallest grid's compute-optimal size) and each grid's
compute goes to tokens instead of model size; the plan's notes say so.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from app.errors import InvalidInput
from app.plan.ladder import LadderShape, at_width, ladder, nearest, shapes_around
from app.plan.priors import compute_optimal_params, prior_batch_tokens, prior_lr
from app.specs import SHAPE_FIELDS, batches_around, log_around, seq_len_of, validate_spec

MAX_BATCH_TOKENS = 1 << 22
# Fewer optimizer steps than this and warmup and decay dominate the final loss.
MIN_STEPS = 50
# Ratio between neighbouring IsoFLOP budgets and hyperparameter scales: 4 budgets span 64x.
BUDGET_RATIO = 4.0
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


def _described(description: str, **options: Any) -> Any:
    """A dataclass field with a description; the API's schema (derived from these classes) shows it."""
    return dataclasses.field(metadata={"description": description}, **options)


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

    part: Literal["isoflop", "hparams"] = _described(
        "The plan's part: isoflop (loss law) or hparams (LR × batch)."
    )
    group: int = _described("Index of the run's IsoFLOP budget or hyperparameter scale.")
    spec: dict[str, Any] = _described("The run's full RunSpec.")
    n_params: float = _described("Non-embedding parameters.")
    flops: float = _described("trainer FLOPs per token × tokens.")
    flops_6nd: float = _described("6·N·D.")
    gpu_hours: float = _described("GPU-hours at the plan's flops_per_gpu_s.")


@dataclass(frozen=True)
class IsoflopBudget:
    """One IsoFLOP budget and the shapes trained on it (the loss law)."""

    budget_flops: float = _described("The budget C in trainer FLOPs.")
    n_params_optimal: float = _described("Compute-optimal N under the D = 20·N prior.")
    runs: tuple[PlannedRun, ...] = _described("The shapes trained on it.")


@dataclass(frozen=True)
class HparamScale:
    """One hyperparameter scale: a shape and token count trained at every LR × batch of its grid."""

    flops_per_run: float = _described("Trainer FLOPs of each run of the grid.")
    n_params_optimal: float = _described("Compute-optimal N under the D = 20·N prior.")
    lr_centre: float = _described("The prior's optimal LR: the grid's centre.")
    batch_tokens_centre: int = _described("The prior's optimal batch size in tokens: the centre.")
    lr: tuple[float, ...] = _described("The grid's LRs.")
    batch_tokens: tuple[int, ...] = _described("The grid's batch sizes in tokens.")
    runs: tuple[PlannedRun, ...] = _described("Every LR × batch run of the grid.")


@dataclass(frozen=True)
class Cost:
    """What a part of the plan (or all of it) costs."""

    runs: int = _described("Runs.")
    flops: float = _described("Their trainer FLOPs.")
    gpu_hours: float = _described("Their GPU-hours at flops_per_gpu_s.")
    share: float = _described("Share of the budget.")


@dataclass(frozen=True)
class Budget:
    """The proxy budget in FLOPs, and in GPU-hours at flops_per_gpu_s."""

    flops: float = _described("The proxy budget in training FLOPs.")
    gpu_hours: float = _described("The same in GPU-hours.")
    flops_per_gpu_s: float = _described("Sustained training FLOP/s per GPU assumed.")


@dataclass(frozen=True)
class Target:
    """The model the proxies predict for: non-embedding parameters, tokens and 6·N·D."""

    n_params: float = _described("The target's non-embedding parameters N.")
    tokens: float = _described("The target's training tokens D.")
    flops: float = _described("6·N·D of the target.")


@dataclass(frozen=True)
class Plan:
    """A proposed set of proxy runs, their costs and what they leave to extrapolation; once
    submitted, the queued runs' ids. The JSON of the API and of `hyperlaw plan --json`."""

    budget: Budget = _described("The proxy budget.")
    target: Target = _described("The model the proxies predict for.")
    scale: float = _described(
        "Share of the ideal plan (largest IsoFLOP budget 1/50 of the target's compute)."
    )
    isoflop: tuple[IsoflopBudget, ...] = _described("The IsoFLOP budgets (the loss law).")
    hparams: tuple[HparamScale, ...] = _described("The LR × batch grids (the hyperparameter laws).")
    parts: dict[str, Cost] = _described("What each part costs.")
    total: Cost = _described("What the whole plan costs.")
    largest_proxy_flops: float = _described("6·N·D of the largest proxy run.")
    extrapolation: float = _described("The target's 6·N·D over the largest proxy's.")
    warnings: tuple[str, ...] = _described("What the plan leaves doubtful: extrapolation, budget.")
    ids: tuple[int, ...] | None = _described("The queued runs, in plan order (submit=true).", default=None)
    created: bool | None = _described(
        "False when an earlier request with the same key queued them.", default=None
    )
    parametrization: str = _described(
        "sp, or mup: the LR × batch grids train one shape at the base width (the LR transfers across width).",
        default="sp",
    )
    notes: tuple[str, ...] = _described(
        "How the plan is laid out, where it departs from the default.", default=()
    )

    @property
    def runs(self) -> list[PlannedRun]:
        """Every run, IsoFLOP runs first: the order they are submitted in."""
        return [r for group in (*self.isoflop, *self.hparams) for r in group.runs]

    @property
    def budget_flops(self) -> float:
        """The budget in FLOPs."""
        return self.budget.flops

    @property
    def target_flops(self) -> float:
        """6·N·D of the target."""
        return self.target.flops

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape shared by the API and `hyperlaw plan --json`."""
        return dataclasses.asdict(self)


# ------------------------------------------------------------------------------ drafting

_Draft = tuple[tuple[IsoflopBudget, ...], tuple[HparamScale, ...]]


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


def _draft(
    top: float,
    *,
    shapes: list[LadderShape],
    design: Design,
    base: Mapping[str, Any],
    flops_per_gpu_s: float,
) -> _Draft:
    """The groups and runs for a largest IsoFLOP budget `top`, or _Infeasible saying why not.

    Counts come from the ladder shapes (trainer.accounting's); a run's spec holds the fields the plan
    chooses over `base`, which `_assemble` checks and completes with RunSpec's defaults.
    """
    seq_len = seq_len_of(base)
    max_seqs = MAX_BATCH_TOKENS // seq_len
    hparam_flops = _hparam_flops(top, design)
    base_shape = _mup_shape(shapes, base, hparam_flops[0])
    if base_shape is not None:  # every run's LR is the LR at this width (the trainer scales it)
        base = {**base, "base_d_model": base_shape.d_model}

    def run(
        part: Literal["isoflop", "hparams"],
        group: int,
        shape: LadderShape,
        tokens: int,
        batch: int,
        lr: float,
    ) -> PlannedRun:
        flops = shape.flops_per_token * tokens
        return PlannedRun(
            part=part,
            group=group,
            spec={**base, **shape.fields(), "tokens": tokens, "batch_tokens": batch, "lr": lr},
            n_params=shape.n_params,
            flops=flops,
            flops_6nd=6.0 * shape.n_params * tokens,
            gpu_hours=flops / flops_per_gpu_s / 3600.0,
        )

    iso: list[IsoflopBudget] = []
    for group, budget in enumerate(_isoflop_budgets(top, design)):
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
        runs: list[PlannedRun] = []
        for shape in chosen:
            sequences = budget / shape.flops_per_token / seq_len
            most = min(max_seqs, math.floor(sequences / MIN_STEPS))
            if most < 1:
                raise _Infeasible(
                    f"a {shape.n_params:.3g}-parameter shape gets fewer than {MIN_STEPS} steps of one sequence "
                    f"on the IsoFLOP budget of {budget:.3g} FLOPs"
                )
            batch = min(prior_seqs, most) * seq_len
            runs.append(
                run("isoflop", group, shape, math.floor(sequences * seq_len / batch) * batch, batch, lr)
            )
        iso.append(IsoflopBudget(budget_flops=budget, n_params_optimal=n_opt, runs=tuple(runs)))
    hp: list[HparamScale] = []
    used: set[LadderShape] = set()
    for group, flops in enumerate(hparam_flops):
        n_opt = compute_optimal_params(flops)
        shape = base_shape or nearest(shapes, n_opt, used)
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
        lrs = log_around(lr, design.lr_k, AXIS_FACTOR)
        hp.append(
            HparamScale(
                flops_per_run=flops,
                n_params_optimal=n_opt,
                lr_centre=lr,
                batch_tokens_centre=max(seq_len, round(centre / seq_len) * seq_len),
                lr=tuple(lrs),
                batch_tokens=tuple(batches),
                runs=tuple(run("hparams", group, shape, tokens, b, x) for x in lrs for b in batches),
            )
        )
    return tuple(iso), tuple(hp)


def _mup_shape(shapes: list[LadderShape], base: Mapping[str, Any], flops: float) -> LadderShape | None:
    """Under μP, the one shape every LR × batch grid trains: at the base spec's base_d_model when it
    has one, else the ladder shape nearest the compute-optimal size of the smallest grid's `flops`
    (its width becomes the base width). None under sp: each grid takes its own shape."""
    if base.get("parametrization") != "mup":
        return None
    n_opt = compute_optimal_params(flops)
    width = base.get("base_d_model")
    return nearest(shapes, n_opt, set()) if width is None else at_width(shapes, base, width, n_opt)


def _feasible(draft: Callable[[float], _Draft], top: float) -> bool:
    try:
        draft(top)
    except _Infeasible as error:
        if not error.too_small:
            raise InvalidInput(str(error), field="n_params") from error
        return False
    return True


def _smallest_top(draft: Callable[[float], _Draft], start: float) -> float:
    """The smallest largest-IsoFLOP-budget whose plan works (bisection in log space; `start` fails)."""
    hi = start * 2
    while not _feasible(draft, hi):
        hi *= 2
        if hi > start * 2**200:
            raise InvalidInput("no budget makes this plan work: ask for fewer runs", field="budget_flops")
    lo = start
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if _feasible(draft, mid) else (mid, hi)
    return hi


def _reason(draft: Callable[[float], _Draft], top: float) -> str:
    try:
        draft(top)
    except _Infeasible as error:
        return str(error)
    return "it leaves no room"


def _round_up(value: float) -> float:
    """Up to two significant digits."""
    unit = 10.0 ** (math.floor(math.log10(value)) - 1)
    return math.ceil(value / unit - 1e-9) * unit


# ------------------------------------------------------------------------------ the plan


def base_spec(defaults: Mapping[str, Any], **given: Any) -> dict[str, Any]:
    """A study's defaults overlaid with the given spec fields (seq_len, vocab_size, data) that are not None."""
    return {**defaults, **{k: v for k, v in given.items() if v is not None}}


# What the plan's inputs may be: wide enough for any real target and cluster (a 1e15-parameter model
# on 1e18 tokens is 6e33 FLOPs, some 1e8 times the largest published training run), narrow enough that
# the arithmetic on them (6·N·D, budget / throughput, logarithms of ratios) stays finite and non-zero.
INPUT_BOUNDS = {
    "n_params": (1.0, 1e15),
    "tokens": (1.0, 1e18),
    "budget_flops": (1.0, 1e30),
    "gpu_hours": (1e-12, 1e12),
    "flops_per_gpu_s": (1e3, 1e20),
}


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
    draft = functools.partial(
        _draft, shapes=ladder(base), design=design, base=base, flops_per_gpu_s=flops_per_gpu_s
    )
    target = Target(n_params=n_params, tokens=tokens, flops=6.0 * n_params * tokens)
    ideal_top = target.flops / EXTRAPOLATION_GOAL
    ideal_cost = _nominal_cost(ideal_top, design)
    scale = min(1.0, budget_flops / ideal_cost)
    if not _feasible(draft, ideal_top * scale):
        smallest = _smallest_top(draft, ideal_top * scale) / ideal_top
        if scale < 1.0 or budget_flops < smallest * ideal_cost:
            need = _round_up(smallest * ideal_cost)
            hours = need / flops_per_gpu_s / 3600.0
            raise InvalidInput(
                f"a budget of {budget_flops:.3g} FLOPs is too small for a minimal plan ({design.describe()}): "
                f"{_reason(draft, ideal_top * scale)}; the smallest budget that works is {need:.2g} FLOPs "
                f"({hours:.3g} GPU-hours at {flops_per_gpu_s:.3g} FLOP/s)",
                field=budget_field,
            )
        scale = smallest  # a tiny target: the smallest workable plan, above the ideal one
    budget = Budget(
        flops=budget_flops, gpu_hours=budget_flops / flops_per_gpu_s / 3600.0, flops_per_gpu_s=flops_per_gpu_s
    )
    return _assemble(draft(ideal_top * scale), budget=budget, target=target, scale=scale)


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
        low, high = INPUT_BOUNDS[name]
        if value is not None and not (math.isfinite(value) and value > 0):
            raise InvalidInput(f"{name} ({value!r}) must be a positive number", field=name)
        if value is not None and not low <= value <= high:
            raise InvalidInput(f"{name} ({value:.3g}) must lie between {low:g} and {high:g}", field=name)
    if gpu_hours is not None and gpu_hours * 3600.0 * flops_per_gpu_s > INPUT_BOUNDS["budget_flops"][1]:
        raise InvalidInput(
            f"gpu_hours ({gpu_hours:.3g}) at {flops_per_gpu_s:.3g} FLOP/s is more than "
            f"{INPUT_BOUNDS['budget_flops'][1]:g} FLOPs: lower one of them",
            field="gpu_hours",
        )
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


def _assemble(draft: _Draft, *, budget: Budget, target: Target, scale: float) -> Plan:
    """The plan from its draft: each run's spec checked and completed, the costs and the warnings."""

    def checked(run: PlannedRun) -> PlannedRun:
        return dataclasses.replace(run, spec=validate_spec(run.spec).to_dict())

    iso = tuple(dataclasses.replace(g, runs=tuple(map(checked, g.runs))) for g in draft[0])
    hp = tuple(dataclasses.replace(g, runs=tuple(map(checked, g.runs))) for g in draft[1])

    def cost(runs: list[PlannedRun]) -> Cost:
        flops = sum(r.flops for r in runs)
        return Cost(
            runs=len(runs),
            flops=flops,
            gpu_hours=flops / budget.flops_per_gpu_s / 3600.0,
            share=flops / budget.flops,
        )

    parts = {
        "isoflop": cost([r for g in iso for r in g.runs]),
        "hparams": cost([r for g in hp for r in g.runs]),
    }
    every = [r for g in (*iso, *hp) for r in g.runs]
    total = cost(every)
    assert total.flops <= budget.flops * (1 + 1e-9), "a plan never exceeds its budget"
    largest = max(r.flops_6nd for r in every)
    extrapolation = target.flops / largest
    return Plan(
        budget=budget,
        target=target,
        scale=scale,
        isoflop=iso,
        hparams=hp,
        parts=parts,
        total=total,
        largest_proxy_flops=largest,
        extrapolation=extrapolation,
        warnings=_warnings(scale, total, target, extrapolation),
        **_parametrization(hp),
    )


def _parametrization(hp: tuple[HparamScale, ...]) -> dict[str, Any]:
    """The plan's parametrization and, under μP, notes on how its grids are laid out and why."""
    spec = hp[0].runs[0].spec
    if spec.get("parametrization") != "mup":
        return {}
    width = spec["base_d_model"]
    shape = f"{spec['n_layer']}×{spec['d_model']}/{spec['n_head']}, N={hp[0].runs[0].n_params:.3g}"
    tokens = ", ".join(f"{group.runs[0].spec['tokens']:.3g}" for group in hp)
    return {
        "parametrization": "mup",
        "notes": (
            f"μP: the LR × batch grids all train one shape at the base width d_model={width} ({shape}) and "
            f"spend their compute on token counts ({tokens}) and batch sizes, not on model sizes: μP transfers "
            "the LR tuned at the base width across width, so the study's LR law is fitted against tokens",
            f"μP: every run's lr is the LR at the base width d_model={width}; the trainer scales it per layer "
            "for the IsoFLOP shapes of other widths",
            _multiplier_note(spec.get("output_multiplier")),
        ),
    }


def _multiplier_note(multiplier: float | None) -> str:
    """What the plan's runs use for μP's output multiplier alpha_output, and whether it was tuned."""
    if multiplier is not None and multiplier != 1.0:
        return (
            f"μP: every run's logits use output_multiplier {multiplier:g} (alpha_output, at the base width): "
            "keep it for every run of the study, as the LR law rests on it"
        )
    return (
        "μP: output_multiplier (alpha_output) is 1, the default, not tuned: Tensor Programs V tunes it with the LR "
        "at the base width (an LR sweep at each of 1, 2, 4, 8); a tuned value goes in the study's defaults, so "
        "that every run keeps it"
    )


def _warnings(scale: float, total: Cost, target: Target, extrapolation: float) -> tuple[str, ...]:
    """How the plan departs from the ideal one, and how far its target lies beyond the largest proxy."""
    warnings = []
    if scale < 1.0:
        warnings.append(
            f"scaled down: the budget affords {scale:.3g} of a plan whose largest IsoFLOP budget is 1/"
            f"{EXTRAPOLATION_GOAL:g} of the target's compute, so every budget shrank by that factor"
        )
    elif scale > 1.0:
        warnings.append(
            f"the target ({target.flops:.3g} FLOPs) is small: the smallest workable plan costs {total.flops:.3g} "
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
    return tuple(warnings)
