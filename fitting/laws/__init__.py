"""Law forms, one module per family; LOSS_LAWS maps the name of each law fit() takes to its definition
(the sweep bowls, optimum forms, Kaplan's step law and the B_crit relations are imported from their modules)."""

from fitting.laws.base import Law
from fitting.laws.chinchilla import CHINCHILLA, CHINCHILLA_EQUAL
from fitting.laws.kaplan import KAPLAN
from fitting.laws.power import POWER

LOSS_LAWS: dict[str, Law] = {law.name: law for law in (CHINCHILLA, CHINCHILLA_EQUAL, KAPLAN, POWER)}

# The forms `fit("auto", ...)` compares when both N and D are given.
AUTO_CANDIDATES: tuple[str, ...] = ("chinchilla", "chinchilla_equal", "kaplan")

__all__ = ["AUTO_CANDIDATES", "CHINCHILLA", "CHINCHILLA_EQUAL", "KAPLAN", "LOSS_LAWS", "POWER", "Law"]
