"""Law kinds: one module per family of laws, one registry that every other part reads.

    base.py            the LawKind protocol and the types it passes (Fitted, StoredFit, Query, Plot)
    loss.py            loss laws L(N, D) / L(C): chinchilla, chinchilla_equal, kaplan, power, auto
    optimum.py         lr_opt, batch_opt: power laws of (N, D) sweeps' optimal LR and batch size
    critical_batch.py  critical_batch: Kaplan's B_crit(L) from curves at several batch sizes
    frontier.py        frontier_envelope, frontier_isoflop: Hoffmann et al.'s approaches 1 and 2

The API's `law` values, the fit job (app/fits.py), predictions (app/predictions.py), reports
(app/reports/: each kind draws its own plots) and the CLI all come from `KINDS`. Adding a family
is a module here and one line in `KINDS`; `register` adds one at run time (a plug-in, or a test).
"""

from __future__ import annotations

from app.law_kinds.base import FitRequest, Fitted, KindDefaults, LawKind, Plot, Query, StoredFit, StudyFits
from app.law_kinds.critical_batch import CRITICAL_BATCH
from app.law_kinds.frontier import FRONTIER
from app.law_kinds.loss import LossKind
from app.law_kinds.optimum import BATCH_OPT, LR_OPT

# In prediction order: the critical batch size is a law of the predicted loss, and the frontier
# approaches sit beside the loss law's compute-optimal split.
KINDS: list[LawKind] = [LossKind(), LR_OPT, BATCH_OPT, CRITICAL_BATCH, FRONTIER]


def register(kind: LawKind) -> None:
    """Add a law kind (after the built-in ones); its laws and slots must be new."""
    taken = set(laws()) | set(slots())
    clash = (set(kind.laws) | set(kind.slots)) & taken
    if clash:
        raise ValueError(f"law kind {kind.name!r} reuses the names {sorted(clash)}")
    KINDS.append(kind)


def unregister(kind: LawKind) -> None:
    """Remove a kind added by `register`."""
    KINDS.remove(kind)


def laws() -> tuple[str, ...]:
    """Every law a fit request may name, kind by kind."""
    return tuple(law for kind in KINDS for law in kind.laws)


def slots() -> tuple[str, ...]:
    """Every slot of a study's latest fits, in prediction order."""
    return tuple(slot for kind in KINDS for slot in kind.slots)


def for_law(law: str) -> LawKind | None:
    """The kind that fits (or stores) `law`, None when no kind knows it."""
    for kind in KINDS:
        if law in kind.laws:
            return kind
    return None


def taking_option(option: str) -> tuple[str, ...]:
    """The laws that take `option` (for the message when another law is given it)."""
    return tuple(law for kind in KINDS if option in kind.options for law in kind.laws)


__all__ = [
    "KINDS",
    "FitRequest",
    "Fitted",
    "KindDefaults",
    "LawKind",
    "Plot",
    "Query",
    "StoredFit",
    "StudyFits",
    "for_law",
    "laws",
    "register",
    "slots",
    "taking_option",
    "unregister",
]
