"""Loss-law families, one module each; LOSS_LAWS maps a law's name to its definition."""

from fitting.laws.base import Law
from fitting.laws.chinchilla import CHINCHILLA, CHINCHILLA_EQUAL
from fitting.laws.kaplan import KAPLAN
from fitting.laws.power import POWER

LOSS_LAWS: dict[str, Law] = {law.name: law for law in (CHINCHILLA, CHINCHILLA_EQUAL, KAPLAN, POWER)}

# The forms `fit("auto", ...)` compares when both N and D are given.
AUTO_CANDIDATES: tuple[str, ...] = ("chinchilla", "chinchilla_equal", "kaplan")

__all__ = ["AUTO_CANDIDATES", "CHINCHILLA", "CHINCHILLA_EQUAL", "KAPLAN", "LOSS_LAWS", "POWER", "Law"]
