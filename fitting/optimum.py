"""Optimal learning rate and batch size: the optimum of each (N, D) sweep, then power laws of
the optima across scales (Step Law, Li et al. 2025; DeepSeek LLM, Bi et al. 2024).

Step 1, per sweep: a robust (Huber) quadratic of log final loss in the standardised log LR (and
log B when both vary), fitted to the runs near the best one, gives the optimum; resampling the
sweep's runs gives its interval. Where the window holds enough runs (two per parameter) the bowl
is a cubic: LR landscapes rise faster above the optimum than below it, and a symmetric quadratic
over the window then puts the optimum on the low side (on the Step Law grid every cell's quadratic
optimum sat at 0.5-1.1x its best run's LR). Sweeps of 3-5 runs, too few for a bowl with a
bootstrap, are located by the small-sweep rule (fitting.bowl.small_sweep_optimum) and named in a
warning. An optimum beyond the swept range is flagged "edge", not used. All sweeps' bowls and
bootstrap replicates go through one batched solve (fitting.bowl.bowl_optima).
Step 2, across sweeps: least squares of log optimum on log N, log D (or log C). The bootstrap
resamples sweeps and, inside each replicate, takes each sweep's own replicate optimum, so both
the scatter between scales and the noise of every sweep reach the interval.

method="band" is the Step Law authors' recipe instead (their code/fit_tool.py): every run within
`band` (0.25%) of its sweep's best loss is one point of an ordinary least-squares fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fitting import _validate as check
from fitting.bowl import SMALL_SWEEP_BAND, best_on_edge, bowl_fit_runs, bowl_optima
from fitting.flops import training_compute
from fitting.laws.base import Array
from fitting.laws.hparams import OPTIMUM_FORMS, OptimumForm
from fitting.located import SMALL_SWEEP_RULES, located_counts, located_summary
from fitting.log_linear import fit_log_linear, weighted_least_squares
from fitting.objective import DEFAULT_DELTA
from fitting.result import Estimate, OptimumFit, SweepOptimum

HPARAM_LAWS: tuple[str, ...] = ("lr_opt", "batch_opt")
# "tokens" (a power law in D alone) is for μP proxies, whose optimal LR does not move with width; "auto"
# compares the two forms of the standard parametrization.
FORMS: tuple[str, ...] = ("steplaw", "deepseek", "auto", "tokens")
METHODS: tuple[str, ...] = ("quadratic", "band")
# Runs within this log-loss distance (about 2%) of a sweep's best run model the bowl: wide enough
# for a stable curvature on a sqrt(2) grid, narrow enough that the asymmetry of the landscape far
# from the optimum (divergence at high LR) does not pull the minimum.
DEFAULT_WINDOW = 0.02
# The Step Law recipe keeps runs within 0.25% of the best (Li et al. 2025, code/fit_tool.py).
DEFAULT_BAND = 0.0025
# A law on fewer sweep optima than this, or on model sizes spanning less than this ratio, is
# flagged: with 2-3 parameters a handful of optima leaves few degrees of freedom, and a narrow
# range of N makes the N exponent an extrapolation of noise.
FEW_OPTIMA = 6
NARROW_N_SPAN = 4.0
_SAME_SCALE = 1e-3  # groups whose log C differ by less than this are one scale for leave-one-out


@dataclass(frozen=True)
class _Sweeps:
    """Validated sweep runs and their (N, D) groups."""

    N: Array
    D: Array
    C: Array
    lr: Array | None
    batch: Array | None
    loss: Array
    group: Array  # (n,) group index of every run
    n_groups: int


def fit_optimum_law(
    law: str,
    *,
    loss: Any,
    N: Any,
    D: Any,
    lr: Any = None,
    batch: Any = None,
    C: Any = None,
    form: str = "auto",
    method: str = "quadratic",
    window: float = DEFAULT_WINDOW,
    band: float = DEFAULT_BAND,
    bootstrap: int = 1000,
    seed: int = 0,
    delta: float = DEFAULT_DELTA,
) -> OptimumFit:
    """Fit LR_opt or B_opt (tokens) as a power law of scale from raw sweep runs.

    law: "lr_opt" or "batch_opt". Runs sharing (N, D) form one sweep; each needs its lr (for
    "lr_opt") or batch (for "batch_opt") to vary; give both when both were swept. C: training
    FLOPs per run for the DeepSeek form (default 6ND). form: "steplaw", "deepseek" or "auto"
    (smaller leave-one-scale-out error), or "tokens" (a D^c, for μP sweeps: the optimum does not
    depend on N, and sweeps at several widths of one D agree). method: "quadratic" (bowl fit per
    sweep) or "band".
    """
    if law not in HPARAM_LAWS:
        raise ValueError(f"unknown hyperparameter law {law!r}: choose 'lr_opt' or 'batch_opt'")
    if form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(FORMS)}, got {form!r}")
    if method not in METHODS:
        raise ValueError(f"method must be 'quadratic' or 'band', got {method!r}")
    bootstrap = check.non_negative_int("bootstrap", bootstrap)
    seed = check.non_negative_int("seed", seed)
    window = check.positive_float("window", window)
    band = check.positive_float("band", band)
    delta = check.positive_float("delta", delta)
    sweeps = _validate_sweeps(law, loss=loss, N=N, D=D, lr=lr, batch=batch, C=C)
    rng = np.random.default_rng(seed)

    optima, points, small = _optima(sweeps, law, method, window, band, bootstrap, delta, rng)
    warnings = _optimum_warnings(optima) + _small_sweep_warnings(small, optima)
    used = np.unique(points.group)
    forms = _candidate_forms(form)
    needed = sweeps_needed(law, form)
    if used.size < needed:
        raise ValueError(
            f"only {used.size} of {sweeps.n_groups} sweeps have an interior optimum, and the {law} power law "
            f"needs at least {needed}: widen the swept range of the sweeps flagged 'edge' or add sweeps at other scales"
        )
    # Only a law of D alone (the μP tokens form) is judged by its span in D; the compute form (C = 6ND)
    # extrapolates to larger models as the Step Law form does, so both are judged by their span in N.
    tokens_only = all(OPTIMUM_FORMS[law, f].inputs == ("D",) for f in forms)
    warnings += _support_warnings(points, uses_n=not tokens_only)
    errors = {name: _loso_error(OPTIMUM_FORMS[law, name], points) for name in forms}
    chosen = OPTIMUM_FORMS[law, min(errors, key=lambda k: errors[k])]
    if not np.isfinite(errors[chosen.name]) and form == "auto":
        warnings.append(
            "no scale could be held out (too few distinct scales): 'auto' fell back to the first form"
        )

    # Resample whole sweeps; inside a replicate every sweep takes its own replicate optimum.
    fitted = fit_log_linear(
        chosen.design(points.log_inputs(chosen)),
        points.log_value,
        points.weight,
        bootstrap=bootstrap,
        rng=rng,
        replicates=points.draws if points.draws.shape[0] >= bootstrap else None,
        groups=np.searchsorted(used, points.group),
    )
    draws, n_failed = chosen.to_natural(fitted.draws), fitted.n_failed
    if n_failed:
        warnings.append(
            f"{n_failed} of {bootstrap} bootstrap replicates drew too few distinct scales to fit the law "
            "and are left out of the intervals"
        )
    natural = chosen.to_natural(fitted.point)
    inputs_by_name = {"N": sweeps.N, "D": sweeps.D, "C": sweeps.C}
    return OptimumFit(
        law=law,
        form=chosen.name,
        params={name: float(natural[i]) for i, name in enumerate(chosen.param_names)},
        draws=draws,
        inputs=chosen.inputs,
        optima=tuple(optima),
        method=method,
        n_bootstrap=bootstrap,
        n_failed_replicates=n_failed,
        seed=seed,
        loso_error=None if not np.isfinite(errors[chosen.name]) else float(errors[chosen.name]),
        input_ranges={k: (float(v.min()), float(v.max())) for k, v in inputs_by_name.items()},
        candidates={k: float(v) for k, v in errors.items()} if form == "auto" else None,
        warnings=warnings,
        window=window if method == "quadratic" else None,
    )


def _candidate_forms(form: str) -> list[str]:
    """The optimum forms a fit with `form` compares ("auto": both)."""
    return ["steplaw", "deepseek"] if form == "auto" else [form]


def sweeps_needed(law: str, form: str) -> int:
    """Sweeps with an interior optimum that the `law` power law of `form` needs: one more than its
    parameters (the most of either form under "auto"), so a scale can be held out."""
    return max(len(OPTIMUM_FORMS[law, name].param_names) for name in _candidate_forms(form)) + 1


def sweep_optima(
    *,
    loss: Any,
    N: Any,
    D: Any,
    lr: Any = None,
    batch: Any = None,
    C: Any = None,
    window: float = DEFAULT_WINDOW,
    bootstrap: int = 200,
    seed: int = 0,
    delta: float = DEFAULT_DELTA,
) -> list[SweepOptimum]:
    """The optimum LR and/or batch size of every (N, D) sweep with intervals, without a power law."""
    bootstrap = check.non_negative_int("bootstrap", bootstrap)
    seed = check.non_negative_int("seed", seed)
    window = check.positive_float("window", window)
    delta = check.positive_float("delta", delta)
    law = "lr_opt" if lr is not None else "batch_opt"
    sweeps = _validate_sweeps(law, loss=loss, N=N, D=D, lr=lr, batch=batch, C=C)
    rng = np.random.default_rng(seed)
    return _optima(sweeps, law, "quadratic", window, DEFAULT_BAND, bootstrap, delta, rng)[0]


def _validate_sweeps(law: str, *, loss: Any, N: Any, D: Any, lr: Any, batch: Any, C: Any) -> _Sweeps:
    """One ValueError per problem, naming the argument and the fix."""
    swept = "lr" if law == "lr_opt" else "batch"
    if (lr if law == "lr_opt" else batch) is None:
        raise ValueError(f"{law} needs {swept}= (the {swept} of every run) to find the optimum of each sweep")
    if N is None or D is None:
        raise ValueError(
            f"{law} needs N= (parameters) and D= (tokens) of every run to group runs into sweeps"
        )
    arrays, _ = check.positive_arrays(N=N, D=D, lr=lr, batch=batch, C=C, loss=loss)
    _, group = np.unique(np.column_stack([arrays["N"], arrays["D"]]), axis=0, return_inverse=True)
    group = group.ravel()
    varies = [np.unique(arrays[swept][group == g]).size > 1 for g in range(group.max() + 1)]
    if not any(varies):
        raise ValueError(
            f"no (N, D) sweep has more than one value of {swept}: every sweep must vary {swept} to locate its optimum"
        )
    # C = 6ND unless given (DeepSeek's C = M D counts attention in M: pass C= for that).
    compute = arrays["C"] if "C" in arrays else training_compute(arrays["N"], arrays["D"])
    return _Sweeps(
        N=arrays["N"],
        D=arrays["D"],
        C=compute,
        lr=arrays.get("lr"),
        batch=arrays.get("batch"),
        loss=arrays["loss"],
        group=group,
        n_groups=int(group.max() + 1),
    )


@dataclass(frozen=True)
class _Points:
    """Rows of the across-scale regression: one per sweep ("quadratic") or per kept run ("band")."""

    group: Array
    N: Array
    D: Array
    C: Array
    log_value: Array
    weight: Array
    draws: Array  # (R, rows) replicate log optima; NaN where a replicate failed

    def log_inputs(self, form: OptimumForm) -> Array:
        return np.log(np.stack([getattr(self, name) for name in form.inputs]))


def _optima(
    sweeps: _Sweeps,
    law: str,
    method: str,
    window: float,
    band: float,
    bootstrap: int,
    delta: float,
    rng: np.random.Generator,
) -> tuple[list[SweepOptimum], _Points, dict[str, list[SweepOptimum]]]:
    """Per-sweep optima (SweepOptimum records), the regression rows they give, and the sweeps the
    small-sweep rule located, by the way it located them ("vertex", "centre")."""
    swept_name = "lr" if law == "lr_opt" else "batch"
    records: list[SweepOptimum | None] = [None] * sweeps.n_groups
    rows: list[tuple[int, float, float, float, float, Array]] = []
    pending: list[tuple[int, dict[str, Any], list[str], Array, Array]] = []
    for g in range(sweeps.n_groups):
        members = np.flatnonzero(sweeps.group == g)
        swept = [
            (name, values[members])
            for name, values in (("lr", sweeps.lr), ("batch", sweeps.batch))
            if values is not None and np.unique(values[members]).size > 1
        ]
        names = [name for name, _ in swept]
        log_loss = np.log(sweeps.loss[members])
        compute = float(np.exp(np.mean(np.log(sweeps.C[members]))))
        base = {
            "N": float(sweeps.N[members[0]]),
            "D": float(sweeps.D[members[0]]),
            "C": compute,
            "n_runs": int(members.size),
            "best_loss": float(sweeps.loss[members].min()),
        }
        if swept_name not in names:
            records[g] = SweepOptimum(**base, status="not_swept")
            continue
        log_axes = np.log(np.stack([values for _, values in swept]))
        if method == "band":
            record, kept = _band(log_axes, log_loss, names, band)
            records[g] = SweepOptimum(**base, **record, located_by="band")
            for value in log_axes[names.index(swept_name), kept]:
                rows.append((g, base["N"], base["D"], compute, float(value), np.empty(0)))
            continue
        pending.append((g, base, names, log_axes, log_loss))
    # Every sweep's bowl and bootstrap in one batched computation.
    bowls = bowl_optima(
        [(p[3], p[4]) for p in pending], window, bootstrap, delta, rng, small=True, asymmetric=True
    )
    small: dict[str, list[SweepOptimum]] = {rule: [] for rule in SMALL_SWEEP_RULES}
    for (g, base, names, _, _), bowl in zip(pending, bowls, strict=True):
        point, draws = bowl.log_point, bowl.log_draws
        record: dict[str, Any] = {"status": bowl.status, "located_by": bowl.located_by}
        for k, name in enumerate(names):
            if point is None:
                record[name] = None
            elif bowl.log_bounds is not None:  # the small-sweep rule: its bracket is the interval
                lo, hi = np.exp(bowl.log_bounds[:, k])
                record[name] = Estimate(float(np.exp(point[k])), float(lo), float(hi), 1.0)
            else:
                record[name] = Estimate.from_log_draws(point[k], draws[:, k], 0.95)
        records[g] = SweepOptimum(**base, **record)
        if bowl.located_by in small:
            small[bowl.located_by].append(records[g])
        if bowl.status == "found":
            column = names.index(swept_name)
            rows.append((g, base["N"], base["D"], base["C"], float(point[column]), draws[:, column]))
    optima = [r for r in records if r is not None]
    if not rows:
        empty = np.empty(0)
        return optima, _Points(empty, empty, empty, empty, empty, empty, np.empty((0, 0))), small
    rows.sort(key=lambda row: row[0])
    group, n_params, tokens, compute, log_value, draws = zip(*rows, strict=True)
    weight = np.ones(len(rows))
    if method == "band":
        stacked = np.empty((0, len(rows)))
    else:
        stacked = np.stack(draws, axis=1) if bootstrap else np.empty((0, len(rows)))
    return optima, _Points(
        np.asarray(group), np.asarray(n_params), np.asarray(tokens), np.asarray(compute),
        np.asarray(log_value), weight, stacked,
    ), small  # fmt: skip


def _band(log_axes: Array, log_loss: Array, names: list[str], band: float) -> tuple[dict[str, Any], Array]:
    """Runs within `band` of the best loss (Li et al. 2025 recipe); the optimum is their geometric centre."""
    loss = np.exp(log_loss)
    kept = np.abs(loss / loss.min() - 1.0) < band
    record: dict[str, Any] = {"status": "edge" if best_on_edge(log_axes, log_loss) else "found"}
    for k, name in enumerate(names):
        values = log_axes[k, kept]
        record[name] = Estimate(
            float(np.exp(values.mean())), float(np.exp(values.min())), float(np.exp(values.max())), 1.0
        )
    return record, kept


def _optimum_warnings(optima: list[SweepOptimum]) -> list[str]:
    warnings = []
    for status, text in (
        ("edge", "the best runs sit at the edge of the swept range (the optimum lies beyond it)"),
        ("not_convex", "the loss is not bowl-shaped near the best runs"),
        ("too_few_runs", "too few distinct values were swept to fit a bowl"),
        ("not_swept", "the hyperparameter was not varied"),
    ):
        hit = [o for o in optima if o.status == status]
        if hit:
            scales = ", ".join(f"(N={o.N:.3g}, D={o.D:.3g})" for o in hit[:5])
            warnings.append(f"{len(hit)} sweep(s) left out of the power law because {text}: {scales}")
    return warnings


def _small_sweep_warnings(small: dict[str, list[SweepOptimum]], optima: list[SweepOptimum]) -> list[str]:
    """Say which sweeps the small-sweep rule located, and how, and how every optimum the law rests
    on was located (each SweepOptimum states its own method in located_by)."""
    located = small["vertex"] + small["centre"]
    if not located:
        return []
    scales = ", ".join(f"(N={o.N:.3g}, D={o.D:.3g})" for o in located[:5])
    return [
        f"{len(located)} sweep(s) had too few runs for a bowl with a bootstrap (fewer than "
        f"{bowl_fit_runs(1)} on one axis) and were located by the small-sweep rule: {len(small['vertex'])} "
        f"by the vertex of the parabola through the best run and its two neighbours, {len(small['centre'])} by the centre of the "
        f"runs within {SMALL_SWEEP_BAND:.2%} of their best loss; their intervals are the best run's neighbours: "
        f"{scales}. {located_summary(located_counts(optima), 'sweep')}".strip()
    ]


def _support_warnings(points: _Points, *, uses_n: bool = True) -> list[str]:
    """A law that rests on few optima, or on a narrow range of model sizes (of token counts, for a
    law without N), extrapolates poorly."""
    out = []
    n_optima = np.unique(points.group).size
    if n_optima < FEW_OPTIMA:
        out.append(
            f"the power law rests on {n_optima} sweep optima (fewer than {FEW_OPTIMA}): "
            "its exponents and intervals are loosely determined; add sweeps at other scales"
        )
    if not uses_n:
        if points.D.size and points.D.max() / points.D.min() < NARROW_N_SPAN:
            out.append(
                f"the sweep optima span {points.D.max() / points.D.min():.2g}x in D (less than {NARROW_N_SPAN:g}x): "
                "extrapolation to longer training rests on a narrow range; add sweeps at other token counts"
            )
        return out
    if points.N.size and points.N.max() / points.N.min() < NARROW_N_SPAN:
        out.append(
            f"the sweep optima span {points.N.max() / points.N.min():.2g}x in N (less than {NARROW_N_SPAN:g}x): "
            "extrapolation to larger models rests on a narrow range; add sweeps at other model sizes"
        )
    return out


def _loso_error(form: OptimumForm, points: _Points) -> float:
    """Mean absolute log error of each scale's optima predicted by a fit without that scale."""
    log_scale = np.log(points.C)
    order = np.argsort(log_scale)
    labels = np.zeros(log_scale.size, dtype=int)
    labels[order[1:]] = np.cumsum(np.diff(log_scale[order]) > _SAME_SCALE)
    design = form.design(points.log_inputs(form))
    errors = []
    for label in np.unique(labels):
        held = labels == label
        weights = np.where(held, 0.0, points.weight)[None, :]
        beta = weighted_least_squares(design, points.log_value[None, :], weights)[0]
        if np.all(np.isfinite(beta)):
            errors.append(float(np.mean(np.abs(design[held] @ beta - points.log_value[held]))))
    return float(np.mean(errors)) if errors else float("inf")
