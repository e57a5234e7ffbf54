"""Chaos: kill the worker (SIGKILL to its whole process group) at random moments mid-training, and
the API process mid-fit; nothing may be lost, duplicated or changed.

Runs: a few tiny proxy runs are queued into a fresh SQLite database and trained by a real
`hyperlaw worker` (checkpoint every `--checkpoint-every` steps, every step logged). Each round
waits until the worker trains (a new curve point), waits a random moment more, kills the pool and
its run processes, and starts a new pool, which requeues the dead worker's runs after the
heartbeat timeout and resumes them from their checkpoints. At the end every run must be `done`,
its curve must hold every logged step exactly once, and its final losses must equal those of the
same spec trained without interruption, to 1e-6 (on CPU a resumed run repeats the uninterrupted
one exactly).

Fit: `hyperlaw serve` is killed while it computes a background fit (bootstrap) of the Chinchilla
points; a second server requeues the fit after the heartbeat timeout and completes it; its
parameters must equal those of the same fit computed without interruption.

Run: python -m bench.chaos [--kills 20] [--runs 3] [--steps 3000] [--no-fit]
Prints e.g. `20/20 recovered, 0 points lost, 0 duplicated`; exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench._serve import HYPERLAW_SERVE, start_server

CLI = [sys.executable, "-m", "app.cli"]
CHINCHILLA = (
    Path(__file__).resolve().parents[1] / "app" / "data" / "chinchilla_epoch" / "chinchilla_fig4_points.csv"
)
TOLERANCE = 1e-6


def run_spec(steps: int, checkpoint_every: int, seed: int) -> dict:
    """A tiny proxy run: `steps` optimizer steps of 256 tokens, a checkpoint (and eval) every
    `checkpoint_every` steps, every step logged."""
    return {
        "n_layer": 1,
        "d_model": 16,
        "n_head": 2,
        "seq_len": 32,
        "tokens": steps * 256,
        "batch_tokens": 256,
        "eval_every_tokens": checkpoint_every * 256,
        "eval_tokens": 512,
        "lr": 3e-3,
        "seed": seed,
        "data": "synthetic:markov",
    }


def _environment(db_url: str, folder: Path, heartbeat_timeout_s: float) -> dict[str, str]:
    return {
        **os.environ,
        "HYPERLAW_DATABASE_URL": db_url,
        "HYPERLAW_CHECKPOINT_DIR": str(folder / "checkpoints"),
        "HYPERLAW_HEARTBEAT_INTERVAL_S": "0.2",
        "HYPERLAW_HEARTBEAT_TIMEOUT_S": str(heartbeat_timeout_s),
        "HYPERLAW_WORKER_POLL_S": "0.1",
        # Every kill ends an attempt (the dead worker's heartbeat stops); the bench is about what
        # survives the kills, not about the attempt cap.
        "HYPERLAW_MAX_ATTEMPTS": "1000",
        "HYPERLAW_WRITE_RATE_PER_MINUTE": "0",
    }


def _reference(specs: list[dict], threads: int) -> list[tuple[float, float]]:
    """The final (train, eval) losses of each spec trained once without interruption, with the
    thread count a pool process uses."""
    import torch

    from trainer import train
    from trainer.spec import RunSpec

    torch.set_num_threads(threads)
    results = []
    for values in specs:
        result = train(RunSpec.from_dict(values))
        results.append((result.final_train_loss, result.final_eval_loss))
    return results


class Runs:
    """The bench's view of the database: queue the runs, read progress and the final curves."""

    def __init__(self, db_url: str) -> None:
        from app.db import Database, upgrade

        upgrade(db_url)
        self.database = Database(db_url)

    def queue(self, specs: list[dict]) -> list[int]:
        from app import runs, studies

        with self.database.transaction() as session:
            study = studies.create_study(session=session, name="chaos")
            created, _ = runs.submit_runs(session=session, study=study, specs=specs)
            return [run.id for run in created]

    def points(self) -> int:
        from sqlalchemy import func, select

        from app.db.tables import CurvePoint

        with self.database.transaction(immediate=False) as session:
            return session.scalar(select(func.count()).select_from(CurvePoint)) or 0

    def statuses(self) -> dict[int, str]:
        from sqlalchemy import select

        from app.db.tables import Run

        with self.database.transaction(immediate=False) as session:
            return dict(session.execute(select(Run.id, Run.status)).all())

    def results(self, run_id: int) -> tuple[str, float | None, float | None, int, Counter]:
        """(status, final train loss, final eval loss, attempts, how often each step is stored)."""
        from sqlalchemy import select

        from app.db.tables import CurvePoint, Run

        with self.database.transaction(immediate=False) as session:
            run = session.get(Run, run_id)
            steps = Counter(session.scalars(select(CurvePoint.step).where(CurvePoint.run_id == run_id)))
            return run.status, run.final_train_loss, run.final_eval_loss, run.attempts, steps


def _start_worker(env: dict[str, str], log) -> subprocess.Popen:
    # Its own session: the pool, its forkserver and every run process share one process group.
    return subprocess.Popen(
        [*CLI, "worker", "--concurrency", env["CHAOS_CONCURRENCY"]],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(30)


def chaos_runs(args: argparse.Namespace, folder: Path) -> bool:
    db_url = f"sqlite:///{folder}/chaos.db"
    env = {**_environment(db_url, folder, args.heartbeat_timeout), "CHAOS_CONCURRENCY": str(args.concurrency)}
    specs = [run_spec(args.steps, args.checkpoint_every, seed) for seed in range(args.runs)]
    threads = max(1, (os.cpu_count() or 1) // args.concurrency)
    started = time.perf_counter()
    reference = _reference(specs, threads)
    print(
        f"reference: {args.runs} runs of {args.steps} steps trained uninterrupted in {time.perf_counter() - started:.1f} s"
    )

    runs = Runs(db_url)
    run_ids = runs.queue(specs)
    rng = random.Random(args.seed)
    kills: list[set[int]] = []  # the runs in training at each kill
    started = time.perf_counter()
    with open(folder / "worker.log", "ab") as log:
        while len(kills) < args.kills:
            worker = _start_worker(env, log)
            before, deadline = runs.points(), time.monotonic() + 120
            while runs.points() == before and time.monotonic() < deadline and worker.poll() is None:
                if all(s == "done" for s in runs.statuses().values()):
                    break
                time.sleep(0.05)
            statuses = runs.statuses()
            if all(s == "done" for s in statuses.values()):
                _kill_group(worker)
                break
            time.sleep(rng.uniform(0, args.max_delay))
            running = {run_id for run_id, status in runs.statuses().items() if status == "running"}
            _kill_group(worker)
            kills.append(running)
            print(f"kill {len(kills)}: runs in training {sorted(running)}, {runs.points()} points stored")
        # The last pool trains what is left, then exits.
        worker = subprocess.Popen(
            [*CLI, "worker", "--concurrency", str(args.concurrency), "--exit-when-idle"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # The dead pool's runs are requeued only after the heartbeat timeout: until then they are
        # `running` and an idle pool would exit, so start again until every run is done.
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                if all(s == "done" for s in runs.statuses().values()):
                    break
                worker = _start_worker(env, log)
            time.sleep(0.2)
        _kill_group(worker)
    elapsed = time.perf_counter() - started

    ok_runs, lost, duplicated, worst = set(), 0, 0, 0.0
    for run_id, (train_ref, eval_ref) in zip(run_ids, reference, strict=True):
        status, train_loss, eval_loss, attempts, steps = runs.results(run_id)
        missing = set(range(1, args.steps + 1)) - set(steps)
        extra = sum(n - 1 for n in steps.values()) + len(set(steps) - set(range(1, args.steps + 1)))
        lost, duplicated = lost + len(missing), duplicated + extra
        error = max(abs(train_loss - train_ref), abs(eval_loss - eval_ref)) if status == "done" else math.inf
        worst = max(worst, error)
        print(
            f"run {run_id}: {status} after {attempts} attempts, {len(steps)} steps stored, final eval loss "
            f"{eval_loss} (uninterrupted {eval_ref:.9f}, difference {error:.1e})"
        )
        if status == "done" and not missing and not extra and error <= TOLERANCE:
            ok_runs.add(run_id)
    recovered = sum(running <= ok_runs for running in kills)
    print(f"{len(kills)} kills in {elapsed:.0f} s; largest final-loss difference {worst:.1e}")
    print(f"{recovered}/{len(kills)} recovered, {lost} points lost, {duplicated} duplicated")
    return recovered == len(kills) == args.kills and lost == 0 and duplicated == 0 and worst <= TOLERANCE


def chaos_fit(args: argparse.Namespace, folder: Path) -> bool:
    """Kill `hyperlaw serve` mid-fit; the next server completes the fit to the uninterrupted result."""
    db_url = f"sqlite:///{folder}/fit.db"
    env = _environment(db_url, folder, heartbeat_timeout_s=args.heartbeat_timeout)
    env["HYPERLAW_FIT_INLINE_MAX_BOOTSTRAP"] = "10"
    subprocess.run([*CLI, "db", "upgrade"], env=env, check=True, capture_output=True)
    token = subprocess.run(
        [*CLI, "token", "create", "--scope", "write"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    body = {"law": "chinchilla", "bootstrap": args.fit_bootstrap, "seed": 0}

    with open(folder / "serve.log", "ab") as log:
        first, api = _start_server(env, token, log)
        try:
            study = api.post("/v1/studies", json={"name": "chinchilla"}).json()["id"]
            imported = api.post(
                f"/v1/studies/{study}/import",
                params={"n_col": "N_params", "d_col": "D_tokens", "loss_col": "loss"},
                content=CHINCHILLA.read_bytes(),
                headers={"Content-Type": "text/csv"},
            )
            assert imported.status_code == 201, imported.text
            accepted = api.post(f"/v1/studies/{study}/fits", json=body)
            assert accepted.status_code == 202, accepted.text
            fit_id = accepted.json()["id"]
            _wait_fit(api, fit_id, {"running"}, 60)
            time.sleep(args.fit_kill_after)
            status = api.get(f"/v1/fits/{fit_id}").json()["status"]
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(30)
        finally:
            api.close()
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)
        print(f"fit {fit_id}: API process killed while the fit was {status}")

        second, api = _start_server(env, token, log)
        try:
            started = time.perf_counter()
            recovered = _wait_fit(api, fit_id, {"done", "failed"}, 600)
            print(
                f"fit {fit_id}: {recovered['status']} by the next server {time.perf_counter() - started:.1f} s after it started"
            )
            again = api.post(f"/v1/studies/{study}/fits", json=body)
            assert again.status_code == 202, again.text
            uninterrupted = _wait_fit(api, again.json()["id"], {"done", "failed"}, 600)
        finally:
            api.close()
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(second.pid, signal.SIGKILL)
    if recovered["status"] != "done" or uninterrupted["status"] != "done":
        print(f"fit failed: {recovered.get('error')} / {uninterrupted.get('error')}")
        return False
    difference = max(
        abs(recovered["params"][name] - value) / max(abs(value), 1e-12)
        for name, value in uninterrupted["params"].items()
        if isinstance(value, int | float)
    )
    names = ", ".join(f"{k} {v:.4f}" for k, v in recovered["params"].items() if isinstance(v, int | float))
    print(f"fit recovered: {names}; largest relative difference from the uninterrupted fit {difference:.1e}")
    return difference <= TOLERANCE


def _start_server(env: dict[str, str], token: str, log):
    import httpx

    server, url = start_server(HYPERLAW_SERVE, env, log=log, new_session=True)
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    return server, api


def _wait_fit(api, fit_id: int, wanted: set[str], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fit = api.get(f"/v1/fits/{fit_id}").json()
        if fit["status"] in wanted:
            return fit
        time.sleep(0.1)
    raise RuntimeError(f"fit {fit_id} never reached {wanted}: last {fit['status']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs of the worker (default 20)")
    parser.add_argument("--runs", type=int, default=3, help="proxy runs trained (default 3)")
    parser.add_argument("--steps", type=int, default=3000, help="optimizer steps per run (default 3000)")
    parser.add_argument("--checkpoint-every", type=int, default=50, help="steps between checkpoints")
    parser.add_argument("--concurrency", type=int, default=1, help="runs the worker trains at once")
    parser.add_argument("--max-delay", type=float, default=1.5, help="most seconds from training to kill")
    parser.add_argument(
        "--heartbeat-timeout", type=float, default=2.0, help="seconds before a dead worker's run is requeued"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--no-fit", action="store_true", help="skip the killed API process mid-fit")
    parser.add_argument("--fit-bootstrap", type=int, default=2000, help="replicates of the killed fit")
    parser.add_argument("--fit-kill-after", type=float, default=1.0, help="seconds into the fit to kill")
    parser.add_argument("--folder", type=Path, default=None, help="keep the databases and logs here")
    args = parser.parse_args(argv)

    folder = args.folder or Path(tempfile.mkdtemp(prefix="hyperlaw-chaos-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"databases and logs in {folder}")
    ok = chaos_runs(args, folder)
    if not args.no_fit:
        ok = chaos_fit(args, folder) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
