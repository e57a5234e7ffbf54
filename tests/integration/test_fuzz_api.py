"""Fuzzing the live API from its own OpenAPI document (schemathesis), over real HTTP on SQLite.

Every operation the document lists is fuzzed twice, with a write token and with none (the admin
operations, /v1/tokens, a third time with an admin token), in both of schemathesis' modes: valid input (positive) and input the schema forbids (negative). Each answer
must pass schemathesis' checks (no 5xx; a documented status code and content type; a body that
conforms to the documented schema) and hold no non-finite number (Infinity or NaN is not JSON).

The database is seeded first (a study of imported runs with a finished fit, a study of queued
runs), and half the cases of an operation with an id in its path (or a `study` in its query) name
one of those, so the id routes answer from real rows rather than 404s only.

What the server is given, and why (nothing else is excluded):
- No run worker, as in every API test: runs are queued, never trained, so no route trains.
- The fit worker thread is replaced by one that computes nothing: a fit larger than the inline
  limit is answered 202 and stays queued (computing it is the worker's job, tested in
  tests/integration/test_fit_recovery.py); a fuzzed 100,000-replicate fit would otherwise hold
  the CPUs for minutes. Inline fits (at most `INLINE_BOOTSTRAP` replicates) run in the request.
- The write rate limit is off, so writes reach their routes instead of all answering 429
  (the limit has its own tests in tests/integration/test_rate_limit.py).

Generation is derandomised (`derandomize=True`, no example database): CI sees the same cases on
every run. The whole file makes some 1,500 requests (in about two minutes on two cores).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

import httpx
import pytest

schemathesis = pytest.importorskip(
    "schemathesis", reason="schemathesis is in the dev extra: pip install -e '.[dev]'"
)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402

from app import tokens  # noqa: E402
from app.main import create_app  # noqa: E402
from app.settings import Settings  # noqa: E402
from tests.integration.helpers import make_study, queue_runs  # noqa: E402
from tests.integration.server import ServerThread, inline_fit, write_client  # noqa: E402

pytestmark = pytest.mark.slow

EXAMPLES = 40  # per operation and token mode: (24 operations x 2 + 3 admin) x 40 = 2,040 cases at most
MIN_CASES = 1000  # the least the whole file must have sent
INLINE_BOOTSTRAP = 10
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
ID_PARAMETERS = {"study_id": "study", "run_id": "run", "fit_id": "fit"}
AUTH_MODES = ("write-token", "anonymous")
ADMIN = "admin-token"


def _operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation in the OpenAPI document (built without a database)."""
    document = create_app(Settings(database_url="sqlite://")).openapi()
    return [(method.upper(), path) for path, item in document["paths"].items() for method in item]


OPERATIONS = _operations()
ADMIN_OPERATIONS = [(method, path) for method, path in OPERATIONS if path.startswith("/v1/tokens")]
SENT: Counter = Counter()  # cases sent, by (METHOD path, auth mode)


class _IdleFitWorker:
    """Stands in for app.worker.fit_jobs.FitWorker: queued fits stay queued (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def _loss_rows() -> list[dict]:
    # L = 1.7 + 400/N^0.34 + 410/D^0.28 on a 4 x 3 grid.
    return [
        {"N": n, "D": d, "loss": 1.7 + 400 / n**0.34 + 410 / d**0.28}
        for n in (1e7, 3e7, 1e8, 3e8)
        for d in (1e9, 3e9, 1e10)
    ]


@pytest.fixture(scope="module")
def fuzz_db_url(tmp_path_factory) -> str:
    """A fresh SQLite database migrated to head (this file fuzzes one engine: the CI budget)."""
    from app.db import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'hyperlaw.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="module")
def target(fuzz_db_url):
    """The running server, a write and an admin token, and the ids the seed created."""
    import app.main
    from app.db import Database

    settings = Settings(
        database_url=fuzz_db_url, fit_inline_max_bootstrap=INLINE_BOOTSTRAP, write_rate_per_minute=0
    )
    monkey = pytest.MonkeyPatch()
    monkey.setattr(app.main, "FitWorker", _IdleFitWorker)
    database = Database(fuzz_db_url)
    try:
        with ServerThread(settings) as server, write_client(server, database) as api:
            token = api.headers["Authorization"].split()[1]
            with database.transaction() as session:
                admin, _ = tokens.create_token(session=session, scope="admin")
            ids = _seed(api, database)
            yield {"url": server.url, "token": token, "admin": admin, "ids": ids}
    finally:
        monkey.undo()
        database.dispose()


def _seed(api: httpx.Client, database) -> dict[str, list[int]]:
    """A study of imported runs with a finished fit, and a study of queued runs (not trained)."""
    imported = api.post("/v1/studies", json={"name": "imported"}).json()["id"]
    assert api.post(f"/v1/studies/{imported}/import", json=_loss_rows()).status_code == 201
    fit = inline_fit(api, imported, {"law": "chinchilla"}, bootstrap=INLINE_BOOTSTRAP)
    trained = make_study(database, name="queued")
    queued = queue_runs(database, trained, 3)
    run_ids = [run["id"] for run in api.get("/v1/runs", params={"study": imported}).json()["items"]]
    return {"study": [imported, trained], "run": run_ids[:3] + queued, "fit": [fit["id"]]}


@pytest.fixture(scope="module")
def schema(target):
    """The API's OpenAPI document as served, loaded by schemathesis."""
    return schemathesis.openapi.from_url(f"{target['url']}/openapi.json")


def _strict_json(text: str) -> Any:
    """The body parsed as strict JSON: Infinity and NaN are refused."""

    def refuse(constant: str) -> Any:
        raise AssertionError(f"{constant} in the body: not valid JSON")

    return json.loads(text, parse_constant=refuse)


def _finite(value: Any, where: str = "$") -> None:
    """Every number in a parsed JSON body is finite."""
    if isinstance(value, float):
        assert math.isfinite(value), f"non-finite number at {where}"
    elif isinstance(value, dict):
        for key, item in value.items():
            _finite(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _finite(item, f"{where}[{index}]")


def _case_strategy(operation, ids: dict[str, list[int]]):
    """Cases of `operation` in both modes; half name a seeded id where the operation takes one."""
    path_names = [p.name for p in operation.path_parameters]
    query_names = [p.name for p in operation.query]
    strategies = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategies.append(operation.as_strategy(generation_mode=mode))
        seeded = [name for name in path_names if name in ID_PARAMETERS]
        if seeded:
            name = seeded[0]
            strategies.extend(
                operation.as_strategy(generation_mode=mode, path_parameters={name: value})
                for value in ids[ID_PARAMETERS[name]]
            )
        elif "study" in query_names:
            strategies.extend(
                operation.as_strategy(generation_mode=mode, query={"study": value}) for value in ids["study"]
            )
    base = strategies[0] | strategies[len(strategies) // 2]  # the two unseeded ones
    return st.one_of(base, st.one_of(*strategies)) if len(strategies) > 2 else base


@pytest.mark.parametrize("auth", AUTH_MODES)
@pytest.mark.parametrize("method,path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_fuzz_operation(schema, target, method: str, path: str, auth: str) -> None:
    _fuzz(schema, target, method, path, auth)


@pytest.mark.parametrize("method,path", ADMIN_OPERATIONS, ids=[f"{m} {p}" for m, p in ADMIN_OPERATIONS])
def test_fuzz_admin_operation(schema, target, method: str, path: str) -> None:
    """With a write token these are 403s: an admin token reaches the routes themselves."""
    _fuzz(schema, target, method, path, ADMIN)


def _fuzz(schema, target, method: str, path: str, auth: str) -> None:
    operation = schema[path][method]
    checks = [getattr(schemathesis.checks, name) for name in CHECKS]
    bearer = {"write-token": target["token"], ADMIN: target["admin"]}.get(auth)
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    key = (f"{method} {path}", auth)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=_case_strategy(operation, target["ids"]))
    def fuzz(case) -> None:
        SENT[key] += 1
        if auth == "anonymous":  # a generated Authorization header would make this a token case
            for name in [name for name in (case.headers or {}) if name.lower() == "authorization"]:
                del case.headers[name]
        response = case.call(base_url=target["url"], headers=headers, timeout=60)
        case.validate_response(response, checks=checks, headers=headers)
        if "json" in response.headers.get("content-type", ""):
            _finite(_strict_json(response.text))

    fuzz()
    assert SENT[key] >= 1


def test_fuzz_reached_every_operation_and_enough_cases() -> None:
    """Runs after the fuzzing above (file order): every operation in both modes, >= MIN_CASES in all."""
    expected = {(f"{m} {p}", auth) for m, p in OPERATIONS for auth in AUTH_MODES}
    expected |= {(f"{m} {p}", ADMIN) for m, p in ADMIN_OPERATIONS}
    if not expected <= set(SENT):
        pytest.skip("only part of the fuzzing ran (-k or a failure): the total is not meaningful")
    total = sum(SENT.values())
    print(f"fuzzing sent {total} cases over {len(OPERATIONS)} operations, with and without a token")
    assert total >= MIN_CASES, SENT
