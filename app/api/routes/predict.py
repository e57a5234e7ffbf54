"""GET /v1/predict: the loss a model of N parameters trained on D tokens will reach, with
its 95% interval, from the study's latest fit.

Predictions come from a cached, restored fit (`fitting.Fit.from_dict`), never a refit:
the study's latest fit id is remembered for a few seconds (and forgotten at once when
this process finishes a fit of that study), restored fits are kept by id.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from app import fits, studies
from app.api.deps import ReadAccess
from app.api.schemas import Interval, PredictPublic
from app.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["predict"])

# Warn beyond this factor in compute past the largest fitted run (the rule of thumb:
# extrapolating two orders of magnitude is where published laws start to disagree).
EXTRAPOLATION_WARNING = 100.0


class Predictor:
    """Latest-fit lookup and restored fits, cached per process."""

    def __init__(self, database, *, size: int = 256, ttl_s: float = 2.0) -> None:
        self.database, self.size, self.ttl_s = database, size, ttl_s
        self._latest: dict[tuple[str, str | None], tuple[float, int, int, str]] = {}
        self._fits: OrderedDict[int, object] = OrderedDict()
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._latest.clear()
            self._fits.clear()

    def forget_study(self, study_id: int) -> None:
        with self._lock:
            for key in [k for k, v in self._latest.items() if v[1] == study_id]:
                del self._latest[key]

    def cached(self, study_ref: str, law: str | None) -> tuple[int, int, object] | None:
        """The answer of `latest` when it is fresh in memory, else None (never touches the database)."""
        hit = self._latest.get((study_ref, law))
        if hit is None or time.monotonic() - hit[0] > self.ttl_s:
            return None
        restored = self._fits.get(hit[2])
        return None if restored is None else (hit[1], hit[2], restored)

    def latest(self, study_ref: str, law: str | None) -> tuple[int, int, object]:
        """(study id, fit id, restored fitting.Fit) of the study's latest finished fit."""
        key = (study_ref, law)
        hit = self._latest.get(key)
        if hit is None or time.monotonic() - hit[0] > self.ttl_s:
            with self.database.transaction(immediate=False) as session:
                study = studies.find_study(session=session, ref=study_ref)
                fit = fits.latest_fit(session=session, study_id=study.id, law=law)
                if fit is None:
                    raise InvalidInput(
                        f"study {study.name!r} has no finished fit{f' of law {law}' if law else ''}: "
                        f"POST /v1/studies/{study.id}/fits first",
                        field="study",
                    )
                hit = (time.monotonic(), study.id, fit.id, fit.law)
                restored = self._restore(fit.id, fit.result)
            with self._lock:
                self._latest[key] = hit
            return hit[1], hit[2], restored
        return hit[1], hit[2], self._restore(hit[2], None)

    def _restore(self, fit_id: int, result: dict | None):
        with self._lock:
            if fit_id in self._fits:
                self._fits.move_to_end(fit_id)
                return self._fits[fit_id]
        if result is None:
            with self.database.transaction(immediate=False) as session:
                result = fits.get_fit(session=session, fit_id=fit_id).result
        import fitting

        restored = fitting.Fit.from_dict(result)
        with self._lock:
            self._fits[fit_id] = restored
            while len(self._fits) > self.size:
                self._fits.popitem(last=False)
        return restored


def _exact(value: float) -> Interval:
    return Interval(value=value, lo=value, hi=value)


def _finite(x: float) -> float | None:
    return None if x != x else float(x)  # NaN (no bootstrap draws) → null


@router.get("/predict", response_model=PredictPublic, dependencies=[ReadAccess])
async def predict(
    request: Request,
    study: str = Query(..., description="Study id or name."),
    n_params: float = Query(..., gt=0, description="Parameters N (non-embedding, as the study's runs count them)."),
    tokens: float = Query(..., gt=0, description="Training tokens D."),
    law: str | None = Query(None, description="Use the latest fit of this law (default: the latest fit)."),
) -> PredictPublic:
    """Predicted final loss with its 95% bootstrap interval, the compute 6·N·D, and the fit used."""
    # async with a synchronous cache hit: the common case needs no threadpool hop; a miss
    # reads the database in the threadpool.
    predictor: Predictor = request.app.state.predictor
    hit = predictor.cached(study, law)
    study_id, fit_id, fit = hit if hit is not None else await run_in_threadpool(predictor.latest, study, law)
    compute = 6.0 * n_params * tokens  # C ≈ 6ND training FLOPs (Kaplan et al. 2020, §2.1)
    inputs = {fit.variable: {"N": n_params, "D": tokens, "C": compute}.get(fit.variable, compute)} if fit.variable \
        else {"N": n_params, "D": tokens}
    try:
        estimate = fit.predict(level=0.95, **inputs)
    except ValueError as error:
        raise InvalidInput(str(error), field="n_params") from error
    warnings = list(fit.warnings)
    ranges = fit.input_ranges
    if "N" in ranges and "D" in ranges:
        largest = 6.0 * ranges["N"][1] * ranges["D"][1]
        if compute > EXTRAPOLATION_WARNING * largest:
            warnings.append(
                f"compute {compute:.3g} is {compute / largest:.0f}x beyond the largest fitted run ({largest:.3g}): "
                "the interval does not cover the law's own error at that scale"
            )
    answer = PredictPublic(
        study=study_id,
        n_params=n_params,
        tokens=tokens,
        loss=Interval(value=float(estimate.value), lo=_finite(estimate.lo), hi=_finite(estimate.hi)),
        compute=_exact(compute),
        tokens_per_param=_exact(tokens / n_params),
        fit_id=fit_id,
        law=fit.law,
        fit_ids={"loss": fit_id},
        warnings=warnings,
    )
    # Already validated: send it as is rather than validating it again through response_model.
    return Response(answer.model_dump_json(), media_type="application/json")
