"""hyperlaw.fitting: scaling laws fitted on numpy arrays, with honest bootstrap intervals.

Public API:
    fit(law, *, loss, N=, D=, C=, x=, bootstrap=1000, seed=0, delta=1e-3) -> Fit
        law: "chinchilla", "chinchilla_equal", "kaplan", "power" or "auto".
    Fit: .law .params .ci(level) .draws .objective .predict(level=, N=, D=) .holdout .warnings
         .to_dict() / Fit.from_dict()
    optimal_allocation(fit, compute, flops_per_token=None, level=0.95) -> Allocation
    Estimate / Prediction: value, lo, hi at a level.
    LOSS_LAWS: the law definitions by name.

Pure numerics: imports numpy and scipy only.
"""

from fitting.allocation import Allocation, optimal_allocation
from fitting.api import fit, known_laws
from fitting.laws import LOSS_LAWS
from fitting.result import Estimate, Fit, Holdout, Prediction

__all__ = [
    "LOSS_LAWS",
    "Allocation",
    "Estimate",
    "Fit",
    "Holdout",
    "Prediction",
    "fit",
    "known_laws",
    "optimal_allocation",
]
