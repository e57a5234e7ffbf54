"""Where a GET /v1/predict request's time goes, against a bare route, in one process.

bench.api_predict measures requests/s over real sockets; this one calls both apps in-process through
httpx's ASGI transport (no sockets, no uvicorn), the same 2000 distinct queries on the same study
(the Chinchilla points with a 200-replicate fit), and profiles ours with cProfile. Each function's
own time is charged to the layer of the file it lives in (the law's evaluation in fitting/, our
routes and middleware in app/, pydantic, FastAPI/Starlette, SQLAlchemy, the client, the rest), so
the gap to the bare route reads as a sum of named costs. Run: python -m bench.predict_profile
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import tempfile
import time

import httpx

from bench.api_predict import _prepare, _queries, make_bare

# Layers, first match wins: a substring of the function's file path.
LAYERS = (
    ("law evaluation (fitting/, numpy, scipy)", ("/fitting/", "/numpy/", "/scipy/")),
    ("prediction assembly (app/predictions.py, app/law_kinds/)", ("/app/predictions.py", "/app/law_kinds/")),
    (
        "our middleware (guard, rate limit, metrics)",
        ("/app/api/guard.py", "/app/api/ratelimit.py", "/app/api/metrics.py"),
    ),
    ("our route and dependencies (app/api/)", ("/app/api/", "/app/")),
    ("database and cache (SQLAlchemy, sqlite3)", ("/sqlalchemy/", "sqlite3")),
    ("pydantic (validation, serialisation)", ("/pydantic/", "/pydantic_core/")),
    ("FastAPI and Starlette", ("/fastapi/", "/starlette/", "/anyio/")),
    ("the client (httpx)", ("/httpx/", "/httpcore/", "/h11/")),
    ("asyncio and threads", ("/asyncio/", "/threading.py", "/concurrent/")),
)


async def _run(app, queries: list[dict]) -> float:
    """Seconds to answer every query in order, after 100 warm-up requests."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for params in queries[:100]:
            assert (await client.get("/v1/predict", params=params)).status_code == 200
        started = time.perf_counter()
        for params in queries:
            await client.get("/v1/predict", params=params)
        return time.perf_counter() - started


def _layer(filename: str) -> str:
    for name, needles in LAYERS:
        if any(needle in filename for needle in needles):
            return name
    return "other (builtins, json, stdlib)"


def main() -> None:
    from app.main import create_app
    from app.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        study_id = _prepare(url)
        queries = _queries(study_id)
        ours, bare = create_app(Settings(database_url=url)), make_bare()
        ours_s = min(asyncio.run(_run(ours, queries)) for _ in range(3))
        bare_s = min(asyncio.run(_run(bare, queries)) for _ in range(3))
        profiler = cProfile.Profile()
        profiler.enable()
        profiled_s = asyncio.run(_run(ours, queries))
        profiler.disable()
        ours.state.database.dispose()
    stats = pstats.Stats(profiler)
    layers: dict[str, float] = {}
    heaviest: dict[str, list[tuple[float, str]]] = {}
    for (filename, line, name), (_cc, _nc, own, _cum, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        layer = _layer(filename)
        layers[layer] = layers.get(layer, 0.0) + own
        heaviest.setdefault(layer, []).append((own, f"{filename.rsplit('/', 1)[-1]}:{line}({name})"))
    total = sum(layers.values())
    n = len(queries)
    print(
        f"in-process, {n} requests: ours {1e6 * ours_s / n:.0f} us/request, bare {1e6 * bare_s / n:.0f} us/request"
    )
    print(
        f"profiled run: {1e6 * profiled_s / n:.0f} us/request (cProfile overhead included); own time by layer:"
    )
    for name, seconds in sorted(layers.items(), key=lambda item: -item[1]):
        print(f"  {100 * seconds / total:5.1f}%  {1e6 * seconds / n:6.0f} us  {name}")
        for own, where in sorted(heaviest[name], reverse=True)[:3]:
            print(f"           {1e6 * own / n:6.0f} us  {where}")
    print(
        f"predict_profile: ratio={bare_s / ours_s:.2f} (ours {n / ours_s:.0f} req/s / bare {n / bare_s:.0f} req/s, in-process)"
    )


if __name__ == "__main__":
    main()
