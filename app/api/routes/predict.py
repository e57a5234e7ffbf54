"""GET /v1/predict: loss, learning rate, batch size, critical batch size and the compute-optimal
split for a model of N parameters trained on D tokens, each with its 95% interval, from the
study's latest fit of each law (app/predictions.py builds the answer; this route caches).

Predictions come from cached, restored fits (each law kind's `restore`), never a refit: the study's
latest fit id per law is found in one query and remembered for a few seconds (and forgotten at
once when this process finishes a fit of that study); restored fits are kept by id, and so is what
the predictions read of a fit's runs (their parametrizations and batch sizes, fixed with the fit).
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from typing import Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError

from app import fits, law_kinds, predictions
from app.api.deps import ReadAccess
from app.api.schemas import PredictPublic
from app.errors import InvalidInput
from app.predictions import FitRuns, StoredFit, StudyFits

router = APIRouter(prefix="/v1", tags=["predict"])


class Predictor:
    """Latest fit per law of a study, and restored fits by id, cached per process."""

    def __init__(self, database, *, size: int = 256, ttl_s: float = 2.0) -> None:
        self.database, self.size, self.ttl_s = database, size, ttl_s
        self._latest: dict[tuple[str, str | None], tuple[float, StudyFits]] = {}
        self._fits: OrderedDict[int, StoredFit] = OrderedDict()
        self._runs: dict[int, FitRuns] = {}  # by fit id: predictions.latest_fits reads and fills it
        self._stale: dict[tuple, str | None] = {}  # predictions.stale_warnings' verdicts
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._latest.clear()
            self._fits.clear()
            self._runs.clear()
            self._stale.clear()

    def forget_study(self, study_id: int) -> None:
        with self._lock:
            for key in [k for k, v in self._latest.items() if v[1].study_id == study_id]:
                del self._latest[key]

    def cached(self, study_ref: str, law: str | None) -> tuple[StudyFits, dict[str, StoredFit]] | None:
        """The answer of `latest` when it is fresh in memory, else None (never touches the database)."""
        hit = self._latest.get((study_ref, law))
        if hit is None or time.monotonic() - hit[0] > self.ttl_s:
            return None
        stored = {}
        for kind, fit_id in hit[1].fit_ids.items():
            restored = self._fits.get(fit_id)
            if restored is None:
                return None
            stored[kind] = restored
        return hit[1], stored

    def latest(self, study_ref: str, law: str | None) -> tuple[StudyFits, dict[str, StoredFit]]:
        """The study's latest finished fit of every law, restored: one transaction on a miss."""
        key = (study_ref, law)
        hit = self._latest.get(key)
        if hit is not None and time.monotonic() - hit[0] <= self.ttl_s:
            found = hit[1]
            missing = [i for i in found.fit_ids.values() if i not in self._fits]
        else:
            found, missing = None, None
        if found is None or missing:
            with self.database.transaction(immediate=False) as session:
                if found is None:
                    found = self._find(session, study_ref, law)
                for fit_id in found.fit_ids.values():
                    if fit_id not in self._fits:
                        row = fits.get_fit(session=session, fit_id=fit_id)
                        self._keep(predictions.restore(fit_id, row.law, row.result))
            with self._lock:
                self._latest[key] = (time.monotonic(), found)
        with self._lock:
            stored = {}
            for kind, fit_id in found.fit_ids.items():
                self._fits.move_to_end(fit_id)
                stored[kind] = self._fits[fit_id]
        return found, stored

    def _find(self, session, study_ref: str, law: str | None) -> StudyFits:
        """predictions.latest_fits with the FitRuns already read, keeping those it reads."""
        with self._lock:
            memo, stale = dict(self._runs), dict(self._stale)
        found = predictions.latest_fits(
            session=session, study_ref=study_ref, loss_law=law, memo=memo, stale_memo=stale
        )
        with self._lock:
            self._runs.update(memo)
            self._stale.update(stale)
            for kept in (self._runs, self._stale):
                while len(kept) > self.size:
                    del kept[next(iter(kept))]  # the oldest first
        return found

    def _keep(self, stored: StoredFit) -> None:
        with self._lock:
            self._fits[stored.fit_id] = stored
            # Never evict below one study's worth of fits (one per law).
            while len(self._fits) > max(self.size, len(law_kinds.slots())):
                self._fits.popitem(last=False)


@router.get("/predict", response_model=PredictPublic, dependencies=[ReadAccess])
async def predict(
    request: Request,
    study: str = Query(..., description="Study id or name."),
    n_params: float = Query(
        ..., gt=0, description="Parameters N (non-embedding, as the study's runs count them)."
    ),
    tokens: float = Query(..., gt=0, description="Training tokens D."),
    law: str | None = Query(
        None, description="Use the latest loss fit of this law (default: the latest loss fit)."
    ),
    batch: float | None = Query(
        None,
        gt=0,
        description="Your batch size in tokens: the answer adds lr_at_batch, the LR at this batch from the "
        "LR law's optimum at its reference batch (flagged above the critical batch size).",
    ),
    optimizer: Literal["adam", "sgd"] = Query(
        "adam", description="The transfer rule for batch: adam (square root) or sgd (linear)."
    ),
) -> PredictPublic:
    """Loss, LR, batch size, critical batch size and compute-optimal N, D with 95% intervals;
    the fit used for each; with `batch`, the LR at that batch; warnings for extrapolation, stale
    fits, mixed parametrizations and laws not fitted yet."""
    # async with a synchronous cache hit: the common case needs no threadpool hop; a miss
    # reads the database in the threadpool.
    predictor: Predictor = request.app.state.predictor
    try:
        hit = predictor.cached(study, law)
        found, stored = hit if hit is not None else await run_in_threadpool(predictor.latest, study, law)
        answer = predictions.answer(
            found, stored, n_params=n_params, tokens=tokens, batch=batch, optimizer=optimizer
        )
    except InvalidInput as error:  # every input of this route is a query parameter: say so
        field = error.field or "n_params"
        given = request.query_params.get(field)  # as sent: an inf or nan would not be valid JSON
        raise RequestValidationError(
            [{"loc": ("query", field), "msg": str(error), "type": "value_error", "input": given}]
        ) from error
    # Plain floats, strings and None, in PredictPublic's shape (the tests check it against the model):
    # sent as is rather than validated again through response_model, which would double the cost.
    return Response(json.dumps(answer), media_type="application/json")
