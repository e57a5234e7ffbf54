"""Answers that used to be 500s, invalid JSON or silently incomplete, over real HTTP on both engines:
integers beyond int64 in ids, offsets and run_ids are 422s; /plan with extreme floats is a 422 or a
plan whose every number is finite; fits name the run_ids that are no run of the study and are listed
in pages; /v1/predict never answers a non-finite number, locates its 422s in the query, and warns
below the fitted range and when a fit no longer covers the study's runs."""

from __future__ import annotations

import json
import math

import pytest

from app.settings import Settings
from tests.integration.server import ServerThread, inline_fit

BIG = 2**64  # beyond the 64-bit integers both databases store
ID32 = 2**31  # beyond PostgreSQL's INTEGER ids


def loss_rows(ns=(1e7, 3e7, 1e8, 3e8), ds=(1e9, 3e9, 1e10)) -> list[dict]:
    # L = 1.7 + 400/N^0.34 + 410/D^0.28 on a grid.
    return [{"N": n, "D": d, "loss": 1.7 + 400 / n**0.34 + 410 / d**0.28} for n in ns for d in ds]


@pytest.fixture(scope="module")
def server(db_url):
    with ServerThread(Settings(database_url=db_url, fit_inline_max_bootstrap=100)) as running:
        yield running


def _strict_json(text: str):
    """The body parsed as strict JSON: Infinity and NaN are not JSON."""

    def refuse(constant: str):
        raise AssertionError(f"{constant} in the body: not valid JSON")

    return json.loads(text, parse_constant=refuse)


def _imported_study(api, name: str = "imported", rows: list[dict] | None = None) -> int:
    study = api.post("/v1/studies", json={"name": name}).json()["id"]
    assert api.post(f"/v1/studies/{study}/import", json=rows or loss_rows()).status_code == 201
    return study


def test_integers_beyond_int64_are_422_not_500(api):
    study = api.post("/v1/studies", json={"name": "s"}).json()["id"]
    for path in (
        f"/v1/studies/{BIG}",
        f"/v1/studies/{ID32}",
        f"/v1/studies?offset={BIG}",
        f"/v1/fits/{BIG}",
        f"/v1/fits/{ID32}",
        f"/v1/studies/{BIG}/fits",
        f"/v1/studies/{study}/fits?offset={BIG}",
        f"/v1/runs/{BIG}",
    ):
        response = api.get(path)
        assert response.status_code == 422, (path, response.text)
        assert "2147483647" in response.text or "9223372036854775807" in response.text
    # A route without bounds on its id: SQLite finds no such run, PostgreSQL cannot compare it.
    assert api.get(f"/v1/runs/{ID32}").status_code in (404, 422)
    posted = api.post(f"/v1/studies/{BIG}/plan", json={"budget_flops": 1e15, "n_params": 1e8, "tokens": 2e9})
    assert posted.status_code == 422
    for huge in (BIG, ID32):
        fit = api.post(f"/v1/studies/{study}/fits", json={"law": "chinchilla", "run_ids": [1, huge]})
        assert fit.status_code == 422 and fit.json()["detail"][0]["loc"] == ["body", "run_ids", 1]
    # A study named by a huge number is no study: 404, as for any name.
    for huge in (BIG, ID32):
        predict = api.get("/v1/predict", params={"study": str(huge), "n_params": 1e9, "tokens": 1e10})
        assert predict.status_code == 404


def test_fits_name_missing_run_ids_and_are_listed_in_pages(api):
    study = _imported_study(api)
    other = _imported_study(api, "other")
    ids = [r["id"] for r in api.get("/v1/runs", params={"study": study, "limit": 100}).json()["items"]]
    foreign = api.get("/v1/runs", params={"study": other, "limit": 1}).json()["items"][0]["id"]
    missing = api.post(
        f"/v1/studies/{study}/fits",
        json={"law": "chinchilla", "bootstrap": 0, "run_ids": [*ids, 99999, foreign]},
    )
    assert missing.status_code == 422, missing.text
    error = missing.json()["detail"][0]
    assert error["loc"] == ["body", "run_ids"]
    assert (
        "2 of them are no run of study" in error["msg"]
        and "99999" in error["msg"]
        and str(foreign) in error["msg"]
    )

    for seed in range(3):
        inline_fit(api, study, {"law": "chinchilla", "run_ids": ids, "seed": seed}, bootstrap=0)
    page = api.get(f"/v1/studies/{study}/fits", params={"limit": 2}).json()
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (3, 2, 0, 2)
    rest = api.get(f"/v1/studies/{study}/fits", params={"limit": 2, "offset": 2}).json()
    assert [f["seed"] for f in page["items"] + rest["items"]] == [0, 1, 2]
    assert api.get(f"/v1/studies/{study}/fits", params={"limit": 0}).status_code == 422
    assert api.get("/v1/studies/999999/fits").status_code == 404


def test_predictions_are_finite_located_and_warn(api, server):
    study = _imported_study(api)
    fit = inline_fit(api, study, {"law": "chinchilla"}, bootstrap=20)

    def predict(n_params, tokens):
        return api.get("/v1/predict", params={"study": study, "n_params": n_params, "tokens": tokens})

    for n_params, tokens in ((1e300, 1e300), (1e-300, 1e-300), (1e-300, 1e10), (1e200, 1e10), (1e9, 1e300)):
        response = predict(n_params, tokens)
        assert response.status_code in (200, 422), response.text
        body = _strict_json(response.text)
        if response.status_code == 422:
            assert body["detail"][0]["loc"][0] == "query"
    overflow = predict(1e300, 1e300)
    assert overflow.status_code == 422 and overflow.json()["detail"][0]["loc"] == ["query", "n_params"]

    for name, value in (("n_params", "inf"), ("tokens", "inf"), ("n_params", "nan"), ("tokens", "-1")):
        params = {"study": study, "n_params": 1e9, "tokens": 1e10, name: value}
        response = api.get("/v1/predict", params=params)
        assert response.status_code == 422, response.text
        error = _strict_json(response.text)["detail"][0]
        assert error["loc"] == ["query", name] and "rows" not in error["msg"]
        if value == "inf":
            assert error["msg"] == f"{name} (inf) must be a positive finite number"

    below = predict(1e3, 2e9).json()
    assert any("n_params (1e+03) is below the fitted range (1e+07 to 3e+08)" in w for w in below["warnings"])
    assert not any("below the fitted range" in w for w in predict(1e8, 3e9).json()["warnings"])

    # Runs finished after the fit: the fit still answers, saying it no longer covers them.
    assert not any("stale fit" in w for w in predict(1e8, 3e9).json()["warnings"])
    more = loss_rows(ns=(5e7, 2e8), ds=(2e9, 5e9))
    assert api.post(f"/v1/studies/{study}/import", json=more).status_code == 201
    server.app.state.predictor.clear()  # the study's latest fits are cached for a few seconds
    stale = [w for w in predict(1e8, 3e9).json()["warnings"] if "stale fit" in w]
    assert len(stale) == 1
    assert (
        f"loss fit {fit['id']} rests on 12 of the 16 runs a chinchilla fit would use now (4 not in it)"
        in stale[0]
    )
    inline_fit(api, study, {"law": "chinchilla"}, bootstrap=0)
    server.app.state.predictor.clear()
    assert not any("stale fit" in w for w in predict(1e8, 3e9).json()["warnings"])


@pytest.mark.parametrize(
    "change",
    [
        {"budget_flops": 5e-324},
        {"budget_flops": 1e308},
        {"gpu_hours": 5e-324, "budget_flops": None},
        {"gpu_hours": 1e308, "budget_flops": None},
        {"flops_per_gpu_s": 5e-324},
        {"flops_per_gpu_s": 1e308},
        {"n_params": 5e-324},
        {"n_params": 1e308},
        {"tokens": 1e308},
        {"n_params": 1e308, "tokens": 1e308},
    ],
)
def test_plans_with_extreme_numbers_are_422_never_500(api, change):
    study = api.post("/v1/studies", json={"name": "s"}).json()["id"]
    body = {"budget_flops": 1e15, "n_params": 1e8, "tokens": 2e9, **change}
    response = api.post(f"/v1/studies/{study}/plan", json={k: v for k, v in body.items() if v is not None})
    assert response.status_code == 422, response.text
    field = next(iter(k for k, v in change.items() if v is not None))
    assert _strict_json(response.text)["detail"][0]["loc"] == ["body", field]


def test_a_plan_at_the_edges_of_its_inputs_has_only_finite_numbers(api):
    study = api.post("/v1/studies", json={"name": "s"}).json()["id"]
    for loose in (0, 1, "true", None):  # `submit` is true or false, never coerced
        body = {"budget_flops": 1e15, "n_params": 1e8, "tokens": 2e9, "submit": loose}
        response = api.post(f"/v1/studies/{study}/plan", json=body)
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "submit"]
    for body in (
        {"budget_flops": 1e15, "flops_per_gpu_s": 1e3},
        {"gpu_hours": 1e-3, "flops_per_gpu_s": 1e20},
        {"budget_flops": 1e30, "n_params": 1e15, "tokens": 1e18},
    ):
        response = api.post(f"/v1/studies/{study}/plan", json={"n_params": 1e8, "tokens": 2e9, **body})
        assert response.status_code in (200, 422), response.text
        if response.status_code == 200:
            numbers = _numbers(_strict_json(response.text))
            assert numbers and all(n is not None and math.isfinite(n) for n in numbers["gpu_hours"])


def _numbers(value, key: str = "", out: dict | None = None) -> dict[str, list]:
    """Every value under a key named gpu_hours, anywhere in the answer."""
    out = {"gpu_hours": []} if out is None else out
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "gpu_hours":
                out["gpu_hours"].append(v)
            else:
                _numbers(v, k, out)
    elif isinstance(value, list):
        for item in value:
            _numbers(item, key, out)
    return out
