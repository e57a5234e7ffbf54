"""`fit()`: the one entry point that validates runs, finds the global minimum, checks
extrapolation on held-out large runs and attaches bootstrap intervals."""

from __future__ import annotations

from typing import Any

import numpy as np

from fitting import _validate as check
from fitting.bootstrap import Progress, bootstrap_fit
from fitting.cuts import group_codes, independent_units
from fitting.extrapolation import estimate_error_model
from fitting.flops import training_compute
from fitting.holdout import DEFAULT_SHARE, Selection, holdout_check, select
from fitting.laws import AUTO_CANDIDATES, LOSS_LAWS, Law
from fitting.laws.base import Array
from fitting.objective import DEFAULT_DELTA
from fitting.optimum import HPARAM_LAWS, fit_optimum_law
from fitting.result import Fit, OptimumFit
from fitting.search import global_search

DEFAULT_HOLDOUT_FRACTION = DEFAULT_SHARE
# Share of bootstrap replicates on a bound above which an interval is reported as truncated.
_BOUND_SHARE_WARNING = 0.02


def known_laws() -> tuple[str, ...]:
    """Names accepted by fit()."""
    return (*LOSS_LAWS, "auto")


def candidate_laws(law: str) -> list[Law]:
    """The law forms fit(law) fits: every form of AUTO_CANDIDATES for "auto", else the one named."""
    return [LOSS_LAWS[name] for name in AUTO_CANDIDATES] if law == "auto" else [LOSS_LAWS[law]]


def fit(
    law: str,
    *,
    loss: Any,
    N: Any = None,
    D: Any = None,
    C: Any = None,
    x: Any = None,
    bootstrap: int = 1000,
    seed: int = 0,
    delta: float = DEFAULT_DELTA,
    holdout_fraction: float = DEFAULT_HOLDOUT_FRACTION,
    group: Any = None,
    progress: Progress | None = None,
    **sweep: Any,
) -> Fit | OptimumFit:
    """Fit a loss law to runs and bootstrap its uncertainty.

    law: "chinchilla", "chinchilla_equal", "kaplan", "power" or "auto" (the N, D form with the
    smallest error extrapolating to the largest model sizes and, separately, to the largest token
    counts). N, D: parameters and training tokens per run; C (training FLOPs) may replace D, then
    D = C / (6N). For "power" give exactly one of N, D, C or x.
    bootstrap: replicates resampling runs with replacement (0 for none); seed makes it deterministic.
    delta: Huber threshold on log-loss residuals (Hoffmann et al. 2022 use 1e-3).
    holdout_fraction: the top share of each input's log range held out, one input at a time, to
    measure extrapolation (fit.holdout, per direction; 0 for no check).
    group: one label per row (e.g. the run id of each checkpoint): the bootstrap resamples whole
    groups and the nested refits count groups, not rows; a row without one (None, NaN) is its own.
    progress: called as progress(replicates done, bootstrap) between batches of bootstrap replicates
    (loss laws); an exception it raises stops the fit and comes out of fit() (e.g. to cancel it).
    law "lr_opt" / "batch_opt" fits the optimum of LR sweeps (lr=, batch=, form=, ...) instead:
    see fitting.optimum.fit_optimum_law.
    """
    if isinstance(law, str) and law in HPARAM_LAWS:
        if group is not None:
            raise ValueError(f"group is for loss laws; law {law!r} resamples its sweeps as groups already")
        return fit_optimum_law(
            law, loss=loss, N=N, D=D, C=C, bootstrap=bootstrap, seed=seed, delta=delta, **sweep
        )
    if sweep:
        raise ValueError(
            f"unexpected argument(s) {sorted(sweep)} for law {law!r}: they belong to 'lr_opt'/'batch_opt'"
        )
    if not isinstance(law, str) or law not in known_laws():
        raise ValueError(
            f"unknown law {law!r}: choose one of {', '.join(known_laws())} "
            f"(or {', '.join(HPARAM_LAWS)} for hyperparameter sweeps)"
        )
    bootstrap = check.non_negative_int("bootstrap", bootstrap)
    seed = check.non_negative_int("seed", seed)
    delta = check.positive_float("delta", delta)
    if not 0.0 <= float(holdout_fraction) < 0.5:
        raise ValueError(
            f"holdout_fraction (the top share of each input's log range held out) must be in [0, 0.5), "
            f"got {holdout_fraction!r}"
        )
    target = np.log(check.as_positive_array("loss", loss))

    laws = candidate_laws(law)
    if law == "power":
        variable, values = _single_input(N=N, D=D, C=C, x=x)
        inputs = {variable: values}
    else:
        inputs = _two_inputs(N=N, D=D, C=C, x=x)
        variable = None
    n_points = check.same_length({**inputs, "loss": target})
    for spec in laws:
        check.enough_points(n_points, spec.n_params, spec.name)
    if variable is None:
        for name, values in inputs.items():
            check.distinct_values(name, values, law)
    groups = group_codes(group, n_points)
    logx = np.log(np.stack(list(inputs.values())))
    ranges = {name: (float(v.min()), float(v.max())) for name, v in inputs.items()}
    names = tuple(inputs)

    share = float(holdout_fraction)
    if len(laws) == 1:
        search = global_search(laws[0], logx, target, delta)
        holdout = holdout_check(laws[0], names, logx, target, delta, search.basins, share, groups)
        selection = Selection(laws[0], search, holdout, {}, {})
    else:
        selection = select(laws, names, logx, target, delta, share or DEFAULT_SHARE, groups)
    return _finish(
        selection,
        logx,
        target,
        delta,
        bootstrap,
        seed,
        ranges,
        variable,
        groups,
        auto=len(laws) > 1,
        holdout_requested=share > 0 or law == "auto",
        progress=progress,
    )


def _single_input(**given: Any) -> tuple[str, Array]:
    present = {k: v for k, v in given.items() if v is not None}
    if len(present) != 1:
        raise ValueError(
            f"law 'power' fits loss against one input: pass exactly one of N, D, C or x (got {sorted(present) or 'none'})"
        )
    name, values = next(iter(present.items()))
    return name, check.as_positive_array(name, values)


def _two_inputs(N: Any, D: Any, C: Any, x: Any) -> dict[str, Array]:
    if x is not None:
        raise ValueError("x is for law 'power'; laws of N and D take N= and D= (or C=)")
    if N is None:
        raise ValueError("N (parameters per run) is required for laws of N and D")
    n_params = check.as_positive_array("N", N)
    if D is not None and C is not None:
        raise ValueError("give D (tokens) or C (training FLOPs), not both")
    if D is None and C is None:
        raise ValueError(
            "D (training tokens per run) is required; or give C (training FLOPs), then D = C / (6N)"
        )
    if D is not None:
        tokens = check.as_positive_array("D", D)
    else:
        compute = check.as_positive_array("C", C)
        check.same_length({"N": n_params, "C": compute})
        tokens = compute / training_compute(n_params, 1.0)  # D = C / 6N
    return {"N": n_params, "D": tokens}


def _bound_names(law: Law, theta: Array) -> list[tuple[str, str, float]]:
    lower, upper = np.asarray(law.lower), np.asarray(law.upper)
    width = upper - lower
    hits = []
    for i, name in enumerate(law.raw_names):
        if theta[i] <= lower[i] + 1e-6 * width[i]:
            hits.append((name, "lower", float(lower[i])))
        elif theta[i] >= upper[i] - 1e-6 * width[i]:
            hits.append((name, "upper", float(upper[i])))
    return hits


def _finish(
    selection: Selection,
    logx: Array,
    target: Array,
    delta: float,
    bootstrap: int,
    seed: int,
    ranges: dict[str, tuple[float, float]],
    variable: str | None,
    groups: Array | None,
    auto: bool,
    holdout_requested: bool,
    progress: Progress | None = None,
) -> Fit:
    law, search, holdout = selection.law, selection.search, selection.holdout
    warnings: list[str] = []
    n_units = independent_units(np.ones(target.shape[0], dtype=bool), groups)
    if groups is not None and n_units < check.runs_needed(law.n_params):
        warnings.append(
            f"the {target.shape[0]} rows come from {n_units} runs (groups), fewer than the "
            f"{check.runs_needed(law.n_params)} the {law.n_params} parameters need: the intervals rest on too few "
            "independent runs; add runs"
        )
    if holdout is None and holdout_requested:
        warnings.append(
            f"too few runs ({n_units}) to hold the largest model sizes or token counts out and still fit the "
            f"{law.n_params} parameters: the extrapolation error is unknown; add runs"
        )
    if not search.converged:
        warnings.append("the point estimate did not meet the convergence test; treat it with suspicion")
    for name, side, bound in _bound_names(law, search.theta):
        warnings.append(
            f"{name} ended on its {side} bound ({bound:g}): the data does not pin it down, so the fit is not a "
            "trustworthy estimate of this law; add runs over a wider range or choose a simpler law"
        )

    draws = np.empty((0, law.n_params))
    n_failed = 0
    if bootstrap:
        rng = np.random.default_rng(seed)
        replicates = bootstrap_fit(law, logx, target, delta, search.basins, bootstrap, rng, groups, progress)
        draws = law.to_natural(replicates.theta)
        n_failed = replicates.n_failed
        if n_failed:
            warnings.append(
                f"{n_failed} of {bootstrap} bootstrap replicates did not converge and are left out of the intervals"
            )
        lower, upper = np.asarray(law.lower), np.asarray(law.upper)
        on_bound = (replicates.theta <= lower + 1e-6 * (upper - lower)) | (
            replicates.theta >= upper - 1e-6 * (upper - lower)
        )
        for i, name in enumerate(law.raw_names):
            share = float(on_bound[:, i].mean()) if on_bound.shape[0] else 0.0
            if share > _BOUND_SHARE_WARNING:
                warnings.append(
                    f"{share:.0%} of bootstrap replicates put {name} on a bound: its interval is cut off there"
                )

    names = (variable,) if variable else law.inputs
    error_model = estimate_error_model(law, names, logx, target, search.theta, search.basins, delta, groups)
    if error_model.refits == 0:
        warnings.append(
            f"too few runs ({target.shape[0]}) to measure how the law extrapolates (a refit without the largest "
            "runs needs the law's parameters plus two runs): beyond the fitted range the prediction interval is "
            "unbounded; add runs"
        )
    natural = law.to_natural(search.theta)
    return Fit(
        law=law.name,
        params={name: float(natural[i]) for i, name in enumerate(law.param_names)},
        theta=search.theta,
        draws=draws,
        objective=search.objective,
        n_points=int(target.shape[0]),
        converged=search.converged,
        n_bootstrap=bootstrap,
        n_failed_replicates=n_failed,
        delta=delta,
        seed=seed,
        holdout=holdout,
        input_ranges=ranges,
        variable=variable,
        candidates=selection.scores if auto else None,
        candidate_errors=selection.errors if auto else None,
        n_groups=n_units if groups is not None else None,
        warnings=warnings,
        error_model=error_model,
    )
