"""`hyperlaw worker`: a pool that trains queued runs, one local process (or one Ray task) per run."""

from __future__ import annotations

import typer

from app.cli.options import DatabaseUrlOption


def worker(
    concurrency: int = typer.Option(1, "--concurrency", "-k", min=1, help="Runs trained at once."),
    database_url: DatabaseUrlOption = None,
    backend: str = typer.Option(
        "local", "--backend", help="'local' processes, or 'ray' tasks on a Ray cluster."
    ),
    ray_address: str = typer.Option(
        None,
        "--ray-address",
        help="Ray cluster to join with --backend ray ('auto', 'ray://head:10001'); default: start a local one.",
    ),
    exit_when_idle: bool = typer.Option(False, "--exit-when-idle", help="Stop once the queue is empty."),
    worker_id: str = typer.Option(None, "--worker-id", help="Name recorded on claimed runs."),
) -> None:
    """Claim queued runs and train them until stopped (SIGTERM: checkpoint and release)."""
    import logging

    from app.cli.fit import settings_or_fail
    from app.worker.pool import BACKENDS, Pool

    if backend not in BACKENDS:
        raise typer.BadParameter(
            f"backend {backend!r} is unknown: use one of {', '.join(BACKENDS)}", param_hint="--backend"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings_or_fail(database_url=database_url)
    try:
        pool = Pool(
            settings, concurrency=concurrency, worker_id=worker_id, backend=backend, ray_address=ray_address
        )
    except (RuntimeError, ConnectionError) as error:  # Ray missing, or its cluster unreachable
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    _say_if_the_device_differs(settings.worker_device, pool.gpus, backend)
    pool.install_signal_handlers()
    pool.run(exit_when_idle=exit_when_idle)


def _say_if_the_device_differs(device: str, gpus: list[str], backend: str) -> None:
    """Log when HYPERLAW_WORKER_DEVICE, which the API checks submissions against, does not describe
    this machine: runs it admits might not train here, or runs this machine could train are refused."""
    import logging

    log = logging.getLogger("app.cli.worker")
    if backend != "local":
        return
    if device == "cuda" and not gpus:
        log.warning(
            "HYPERLAW_WORKER_DEVICE is cuda but this machine shows no GPU: runs asking for cuda will fail"
        )
    elif device == "cpu" and gpus:
        log.warning(
            "this machine has %d GPU(s) but HYPERLAW_WORKER_DEVICE is cpu: the API refuses runs asking for "
            "cuda and bounds runs by CPU limits; set HYPERLAW_WORKER_DEVICE=cuda for the API and workers",
            len(gpus),
        )


def register(cli: typer.Typer) -> None:
    """Add the worker command to the CLI."""
    cli.command("worker")(worker)
