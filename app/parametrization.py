"""A study's parametrization ("sp" or "mup", Yang et al. 2022) and what its runs inherit from it.

Under μP the learning rate tuned at one width (the base width) transfers across width, so every run
of a mup study must share one base_d_model; a run that says otherwise is refused rather than fitted
with the others. Pure (no SQL): app/studies.py records the fields, app/runs.py applies them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.errors import InvalidInput
from app.specs import integral
from trainer.spec import PARAMETRIZATIONS

FIELDS = ("parametrization", "base_d_model")


def describe(parametrization: str | None, base_d_model: int | None) -> str:
    """A study's parametrization in words, as its reports, its dashboard page and `study show` say it:
    "sp", or "mup (base width d_model=64; the LR law is fitted against tokens)"."""
    name = parametrization or "sp"
    if name != "mup":
        return name
    width = (
        f"base width d_model={base_d_model}"
        if base_d_model
        else "base width: the smallest d_model of its first runs"
    )
    return f"mup ({width}; the LR law is fitted against tokens)"


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def study_fields(
    *, parametrization: str | None, base_d_model: int | None, defaults: Mapping[str, Any]
) -> tuple[str, int | None]:
    """A new study's (parametrization, base_d_model): the values given, else its defaults', else "sp"
    and none. InvalidInput for an unknown name, the two spellings disagreeing, a base width under
    sp, or a base width that is not a positive integer. A mup study without a base width takes its
    first runs' smallest d_model (`inherit`)."""
    given = integral({k: defaults[k] for k in FIELDS if k in defaults})
    for name, value in (("parametrization", parametrization), ("base_d_model", base_d_model)):
        if value is not None and name in given and given[name] != value:
            raise InvalidInput(
                f"{name} ({value!r}) and defaults.{name} ({given[name]!r}) differ: give the study's "
                f"{name} once, as {name}",
                field=name,
            )
    name = parametrization if parametrization is not None else given.get("parametrization", "sp")
    base = base_d_model if base_d_model is not None else given.get("base_d_model")
    if name not in PARAMETRIZATIONS:
        raise InvalidInput(
            f"parametrization {name!r} is unknown: use one of {', '.join(PARAMETRIZATIONS)}",
            field="parametrization",
        )
    if base is not None and name != "mup":
        raise InvalidInput(
            f"base_d_model ({base!r}) applies to parametrization 'mup' only: leave it out or set "
            "parametrization to 'mup'",
            field="base_d_model",
        )
    if base is not None and not _positive_int(base):
        raise InvalidInput(
            f"base_d_model ({base!r}) must be a positive integer: the width the learning rate is tuned at",
            field="base_d_model",
        )
    return name, base


def inherit(
    specs: Sequence[Mapping[str, Any]],
    *,
    defaults: Mapping[str, Any],
    parametrization: str,
    base_d_model: int | None,
    study: str,
) -> tuple[list[dict[str, Any]], int | None]:
    """The specs with the study's parametrization (and, under mup, its base width) filled in, and
    the base width they share.

    A spec naming another parametrization or base width than the study's is an InvalidInput naming
    both (`study` says which study, e.g. "study 3 ('tiny')"). A mup study without a base width takes
    the one its specs give (they must agree), else their smallest d_model: the width an LR sweep is
    run at, from which the LR transfers to the wider runs.
    """
    for index, spec in enumerate(specs):
        where = f"run {index} of the submission: " if len(specs) > 1 else ""
        given = spec.get("parametrization")
        if given is not None and given != parametrization:
            raise InvalidInput(
                f"{where}parametrization {given!r} contradicts {study}, whose parametrization is "
                f"{parametrization!r}: leave parametrization out (runs inherit the study's) or submit "
                f"the run to a {given!r} study",
                field="parametrization",
            )
        base = integral({"base_d_model": spec.get("base_d_model")})["base_d_model"]
        if base is None:
            continue
        if parametrization != "mup":
            raise InvalidInput(
                f"{where}base_d_model ({base!r}) applies to 'mup' runs and {study} is {parametrization!r}: "
                "leave base_d_model out, or submit the run to a 'mup' study",
                field="base_d_model",
            )
        if base_d_model is not None and base != base_d_model:
            raise InvalidInput(
                f"{where}base_d_model ({base!r}) contradicts {study}, whose base_d_model is {base_d_model}: "
                "leave base_d_model out (runs inherit the study's; the LR transfers from that width)",
                field="base_d_model",
            )
    if parametrization != "mup":
        return [{**spec, "parametrization": parametrization} for spec in specs], None
    base = base_d_model if base_d_model is not None else _shared_base(specs, defaults, study)
    filled = {"parametrization": "mup", **({"base_d_model": base} if base is not None else {})}
    return [{**spec, **filled} for spec in specs], base


def _shared_base(specs: Sequence[Mapping[str, Any]], defaults: Mapping[str, Any], study: str) -> int | None:
    """The base width of a mup study's first runs: the one they name, else their smallest d_model
    (None when no spec has a usable d_model: validation names that field next)."""
    named = {integral({"b": s["base_d_model"]})["b"] for s in specs if s.get("base_d_model") is not None}
    if len(named) > 1:
        raise InvalidInput(
            f"the runs name base_d_model {', '.join(str(b) for b in sorted(named, key=str))}: the runs of "
            f"{study} share one base width (the LR is tuned there); give one or leave it out",
            field="base_d_model",
        )
    if named:
        return named.pop()
    widths = [integral({**defaults, **spec}).get("d_model") for spec in specs]
    usable = [w for w in widths if _positive_int(w)]
    return min(usable) if usable else None
