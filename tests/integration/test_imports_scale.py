"""POST /v1/studies/{id}/import over real HTTP on SQLite and PostgreSQL: bad input is a 4xx naming
what to fix (never a 500, never an echo of the input), the same data twice is a 409 unless
allow_duplicates, limits on bytes and rows are 413s, a row is numbered as `hyperlaw fit --csv`
numbers it, and a large CSV is imported in batches in bounded time."""

from __future__ import annotations

import time

import pytest

from app.settings import Settings
from app.tabular import Columns, TableError, read_runs
from tests.integration.server import ServerThread

CSV = {"Content-Type": "text/csv"}
MAX_ROWS = 50_000


@pytest.fixture(scope="module")
def server(db_url, tmp_path_factory):
    settings = Settings(
        database_url=db_url,
        max_import_rows=MAX_ROWS,
        max_import_json_bytes=4096,
        checkpoint_dir=tmp_path_factory.mktemp("checkpoints"),
    )
    with ServerThread(settings) as running:
        yield running


def _study(api, name="s") -> int:
    return api.post("/v1/studies", json={"name": name}).json()["id"]


def _table(rows: int, start: int = 0) -> bytes:
    lines = [
        f"{1e6 * (1 + (i % 97))},{2e7 * (1 + i % 13)},{3.0 + i * 1e-7}" for i in range(start, start + rows)
    ]
    return ("N,D,loss\n" + "\n".join(lines) + "\n").encode()


def _messages(response) -> str:
    detail = response.json()["detail"]
    return detail if isinstance(detail, str) else " ".join(d["msg"] for d in detail)


def test_a_body_that_is_not_utf8_is_a_422_not_a_500(api):
    study = _study(api)
    latin1 = "N,D,loss\n1e6,2e7,3.1\n1e6,2e7,3.2 \u00e9t\u00e9\n".encode("latin-1")
    as_csv = api.post(f"/v1/studies/{study}/import", content=latin1, headers=CSV)
    assert as_csv.status_code == 422 and "not UTF-8" in _messages(as_csv), as_csv.text
    as_part = api.post(f"/v1/studies/{study}/import", files={"file": ("runs.csv", latin1, "text/csv")})
    assert as_part.status_code == 422 and "not UTF-8" in _messages(as_part), as_part.text
    binary = bytes(range(256)) * 10
    for headers in (CSV, {"Content-Type": "application/json"}):
        response = api.post(f"/v1/studies/{study}/import", content=binary, headers=headers)
        assert response.status_code == 422, response.text
    garbled = api.post(
        f"/v1/studies/{study}/import",
        content=b'--xyz\r\nContent-Disposition: form-data; name="file"\r\n\r\nN,D,loss\n',
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert garbled.status_code == 422 and "cut short" in _messages(garbled)
    no_boundary = api.post(
        f"/v1/studies/{study}/import", content=b"abc", headers={"Content-Type": "multipart/form-data"}
    )
    assert no_boundary.status_code == 422 and "boundary" in _messages(no_boundary)
    assert api.get("/v1/runs", params={"study": study}).json()["total"] == 0


@pytest.mark.parametrize(
    "run, field, words",
    [
        ({"N": "abc", "D": 2e7, "loss": 3.0}, "n_params", "'abc' is not a number"),
        ({"N": [1], "D": 2e7, "loss": 3.0}, "n_params", "[1] is not a number"),
        ({"N": 1e6, "D": 2e7, "loss": 3.0, "lr": "fast"}, "lr", "'fast' is not a number"),
        ({"N": True, "D": 2e7, "loss": 3.0}, "n_params", "is true, not a number"),
        ({"N": 1e6, "D": 2e7, "loss": -1}, "loss", "not a positive finite number"),
        ({"N": 10**400, "D": 2e7, "loss": 3.0}, "n_params", "too large"),
        ({"N": 1e6, "D": 2e7}, "loss", "every run needs its final loss"),
    ],
)
def test_json_values_that_are_not_numbers_are_422s_naming_row_and_field(api, run, field, words):
    study = _study(api)
    good = {"N": 1e6, "D": 2e7, "loss": 3.0}
    response = api.post(f"/v1/studies/{study}/import", json={"runs": [good, good, run]})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field]
    assert error["msg"].startswith("row 3, ") and words in error["msg"], error["msg"]
    assert api.get("/v1/runs", params={"study": study}).json()["total"] == 0  # nothing written


def test_the_same_data_twice_is_a_409_unless_duplicates_are_allowed(api):
    study, other = _study(api), _study(api, "other")
    table = _table(20)
    first = api.post(f"/v1/studies/{study}/import", content=table, headers=CSV)
    assert first.status_code == 201 and first.json()["count"] == 20
    again = api.post(f"/v1/studies/{study}/import", content=table, headers=CSV)
    assert again.status_code == 409 and "allow_duplicates" in again.text
    as_part = api.post(f"/v1/studies/{study}/import", files={"file": ("again.csv", table, "text/csv")})
    assert as_part.status_code == 409  # the same bytes, however they are sent
    assert api.get("/v1/runs", params={"study": study}).json()["total"] == 20
    meant = api.post(
        f"/v1/studies/{study}/import", params={"allow_duplicates": True}, content=table, headers=CSV
    )
    assert meant.status_code == 201
    assert api.get("/v1/runs", params={"study": study}).json()["total"] == 40
    assert api.post(f"/v1/studies/{other}/import", content=table, headers=CSV).status_code == 201
    assert (
        api.post(f"/v1/studies/{study}/import", content=_table(20, start=1), headers=CSV).status_code == 201
    )
    runs = [{"N": 1e6, "D": 2e7, "loss": 3.0}]
    assert api.post(f"/v1/studies/{study}/import", json=runs).status_code == 201
    assert api.post(f"/v1/studies/{study}/import", json=runs).status_code == 409


def test_rows_are_numbered_as_the_cli_numbers_them(api):
    """A bad cell and a bad value are named by the line `hyperlaw fit --csv` names (app.tabular)."""
    study = _study(api)
    text = "N,D,loss\n1e6,2e7,3.1\n\n1e6,2e7,3.0\n2e6,x,3.0\n"
    with pytest.raises(TableError) as cli:
        read_runs(text, Columns(), source="the CSV")
    response = api.post(f"/v1/studies/{study}/import", content=text.encode(), headers=CSV)
    assert response.status_code == 422
    assert str(cli.value) == _messages(response) == "the CSV line 5, column 'D': 'x' is not a number"
    negative = api.post(
        f"/v1/studies/{study}/import", content=b"N,D,loss\n1e6,2e7,3\n1e6,2e7,-3\n", headers=CSV
    )
    assert _messages(negative) == "the CSV line 3, column 'loss': '-3' is not a positive finite number"


def test_errors_never_echo_large_input(api):
    study = _study(api)
    huge = "9" * 100_000
    for response in (
        api.post(f"/v1/studies/{study}/import", content=f"N,D,loss\n1e6,2e7,x{huge}\n".encode(), headers=CSV),
        api.post(f"/v1/studies/{study}/import", content=f"{huge},D,loss\n1,2,3\n".encode(), headers=CSV),
        api.post(f"/v1/studies/{study}/import", content=b"N,D,loss\n1,2,3\n", headers={"Content-Type": huge}),
    ):
        assert response.status_code == 422, response.text[:300]
        assert len(response.content) < 1500, response.text[:300]


def test_limits_on_rows_and_json_bytes_are_413s_and_write_nothing(api):
    study = _study(api)
    response = api.post(f"/v1/studies/{study}/import", content=_table(MAX_ROWS + 1), headers=CSV)
    assert response.status_code == 413 and "HYPERLAW_MAX_IMPORT_ROWS" in response.text
    big_json = [{"N": 1e6, "D": 2e7 + i, "loss": 3.0} for i in range(200)]
    response = api.post(f"/v1/studies/{study}/import", json=big_json)
    assert response.status_code == 413 and "HYPERLAW_MAX_IMPORT_JSON_BYTES" in response.text
    assert api.get("/v1/runs", params={"study": study}).json()["total"] == 0


def test_a_large_csv_is_imported_in_batches(api):
    study = _study(api)
    table = _table(MAX_ROWS)
    started = time.perf_counter()
    response = api.post(f"/v1/studies/{study}/import", content=table, headers=CSV)
    elapsed = time.perf_counter() - started
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["count"] == MAX_ROWS and len(body["ids"]) == 10_000 and body["ids_complete"] is False
    assert body["last_id"] - body["first_id"] + 1 == MAX_ROWS  # one import, nothing between
    assert elapsed < 30, elapsed  # 50,000 rows: a few seconds on 2 cores (an ORM object per row: ~40 s)
    last = api.get(f"/v1/runs/{body['last_id']}").json()
    i = MAX_ROWS - 1
    assert last["status"] == "done" and last["study_id"] == study
    assert last["n_params"] == 1e6 * (1 + i % 97) and last["tokens"] == 2e7 * (1 + i % 13)
    assert last["loss"] == pytest.approx(3.0 + i * 1e-7, rel=1e-12)
    assert last["flops"] == pytest.approx(6 * last["n_params"] * last["tokens"])
    page = api.get("/v1/runs", params={"study": study, "limit": 1000, "offset": 10_000}).json()
    assert page["total"] == MAX_ROWS and page["items"][0]["id"] == body["first_id"] + 10_000


def test_every_column_is_stored_as_given(api):
    """C instead of D (D = C/6N), learning rate and batch size: each value read back as sent."""
    study = _study(api)
    table = b"N,C,L,lr,bs\n1000000,6e+16,3.25,0.000123,\n2e6,1.2e17,3.0,0.5,4096\n"
    params = {"d_col": "unused", "c_col": "C", "loss_col": "L", "lr_col": "lr", "batch_col": "bs"}
    response = api.post(f"/v1/studies/{study}/import", params=params, content=table, headers=CSV)
    assert response.status_code == 201, response.text
    first, second = (api.get(f"/v1/runs/{i}").json() for i in response.json()["ids"])
    assert (first["n_params"], first["flops"], first["loss"], first["lr"]) == (1e6, 6e16, 3.25, 0.000123)
    assert first["tokens"] == pytest.approx(1e10) and first["batch_tokens"] is None
    assert first["flops_6nd"] == pytest.approx(6e16) and first["final_eval_loss"] == 3.25
    assert (second["lr"], second["batch_tokens"], second["spec"]) == (0.5, 4096.0, None)
    assert first["finished_at"] is not None and first["created_at"] == first["finished_at"]


# More runs than each engine binds in one statement: PostgreSQL takes 65,535 parameters, SQLite's
# default build 32,766 variables. Debian's SQLite takes 250,000, so the test lowers its connections'
# limit to the default: every build is tested alike, on a fifth of the runs Debian's limit would need.
PAST_THE_BIND_LIMIT = {"sqlite": 40_000, "postgresql": 70_000}
SQLITE_DEFAULT_VARIABLES = 32_766


@pytest.mark.slow
def test_a_fit_over_more_runs_than_the_database_binds_at_once(database):
    """More runs than the engine binds in one statement (see PAST_THE_BIND_LIMIT): the fit job reads
    its runs back by id without one variable per run, and recovers the law they were drawn from."""
    import sqlite3

    import numpy as np
    from sqlalchemy import event

    from app import fits, imports, studies
    from app.db import Database
    from app.db.tables import Fit
    from app.worker import queue

    limited = Database(database.url)
    if limited.is_sqlite:

        @event.listens_for(limited.engine, "connect")
        def _default_limit(connection, _record) -> None:
            connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, SQLITE_DEFAULT_VARIABLES)

    rng = np.random.default_rng(0)
    count = PAST_THE_BIND_LIMIT["sqlite" if limited.is_sqlite else "postgresql"]
    n_params = 10 ** rng.uniform(7, 9.5, count)
    tokens = n_params * 10 ** rng.uniform(0, 2.5, count)
    loss = (1.8 + 480 / n_params**0.35 + 2100 / tokens**0.37) * rng.lognormal(0, 0.01, count)
    rows = [{"n_params": n, "tokens": d, "loss": v} for n, d, v in zip(n_params, tokens, loss, strict=True)]
    try:
        with limited.transaction() as session:
            study = studies.create_study(session=session, name="many", kind="imported")
            imports.import_runs(session=session, study=study, source=imports.mapping_source(rows))
            fit_id = fits.create_fit(session=session, study_id=study.id, law="chinchilla", bootstrap=0).id
            assert queue.claim(session=session, worker_id="w", jobs=Fit, job_id=fit_id)
        assert fits.run_fit(limited, fit_id, worker_id="w") == "done"
        with limited.transaction() as session:
            fit = fits.get_fit(session=session, fit_id=fit_id)
            assert fit.n_points == count
            assert fit.params["alpha"] == pytest.approx(0.35, abs=0.01)
            assert fit.params["E"] == pytest.approx(1.8, rel=0.02)
    finally:
        limited.dispose()
