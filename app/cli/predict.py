"""`hyperlaw predict`: loss, LR, batch size, critical batch size and compute-optimal N, D for a
model of N parameters trained on D tokens, with 95% intervals, from a study's stored fits; with
--batch, the LR at that batch size (square-root rule for Adam, linear for SGD).

The same answer as GET /v1/predict: from a server with --url, else from the database directly
through app.predictions (the route's own code path, without its cache).
"""

from __future__ import annotations

import json
import math
import sys
from typing import Annotated, Any

import typer

from app.cli.fit import fail, reading_database
from app.cli.options import (
    BatchOption,
    DatabaseUrlOption,
    JsonOption,
    OptimizerOption,
    TokenOption,
    UrlOption,
    unknown_optimizer,
)


def from_database(
    database_url: str | None, study: str, n_params: float, tokens: float, transfer: dict[str, Any]
) -> dict[str, Any]:
    """The answer read straight from the database; `transfer`: batch and optimizer, or empty."""
    from app import predictions

    with reading_database(database_url) as database:
        with database.transaction(immediate=False) as session:
            found, stored = predictions.load(session=session, study_ref=study)
        return predictions.answer(found, stored, n_params=n_params, tokens=tokens, **transfer)


def from_server(
    url: str, token: str | None, study: str, n_params: float, tokens: float, transfer: dict[str, Any]
) -> dict[str, Any]:
    """The answer of a running server's GET /v1/predict."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(
            url.rstrip("/") + "/v1/predict",
            params={"study": study, "n_params": n_params, "tokens": tokens, **transfer},
            headers=headers,
            timeout=30,
        )
    except httpx.HTTPError as error:
        fail(f"cannot reach {url}: {error}")
    if response.status_code != 200:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        if isinstance(detail, list):  # validation errors: [{"loc": ..., "msg": ...}]
            detail = "; ".join(str(item.get("msg", item)) for item in detail)
        fail(f"{url} answered {response.status_code}: {detail}")
    return response.json()


def _cell(interval: dict[str, Any] | None, digits: str = ".4g") -> tuple[str, str]:
    if interval is None:
        return "-", "-"
    lo, hi = interval.get("lo"), interval.get("hi")
    bounds = f"{lo:{digits}} .. {hi:{digits}}" if lo is not None and hi is not None else "-"
    return f"{interval['value']:{digits}}", bounds


def print_table(answer: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from app.predictions import prediction_rows

    rows = prediction_rows(answer)
    console = Console()
    table = Table(title=f"study {answer['study']}: N = {answer['n_params']:.4g}, D = {answer['tokens']:.4g}")
    table.add_column("quantity")
    table.add_column("estimate", justify="right")
    table.add_column("95% interval", justify="right")
    for name, interval in rows:
        table.add_row(name, *_cell(interval))
    console.print(table)
    moved = answer.get("lr_at_batch")
    if moved is not None:
        flag = {True: "ABOVE the critical batch size", False: "below the critical batch size"}
        checked = flag.get(moved["above_critical"], "critical batch size unchecked")
        console.print(f"learning rate at batch: {moved['basis']}; {checked}", highlight=False)
    console.print("fits: " + (", ".join(f"{k} {v}" for k, v in answer["fit_ids"].items()) or "none"))
    for warning in answer["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {warning}", markup=True, highlight=False)


def register(cli: typer.Typer) -> None:
    """Add the predict command to the CLI."""

    @cli.command("predict")
    def predict_command(
        study: Annotated[str, typer.Option("--study", help="Study id or name.")],
        n_params: Annotated[
            float, typer.Option("--n-params", help="Parameters N (as the study's runs count them).")
        ],
        tokens: Annotated[float, typer.Option("--tokens", help="Training tokens D.")],
        url: UrlOption = None,
        token: TokenOption = None,
        database_url: DatabaseUrlOption = None,
        batch: BatchOption = None,
        optimizer: OptimizerOption = "adam",
        as_json: JsonOption = False,
    ) -> None:
        """Predict loss, LR, batch size, critical batch size and compute-optimal N, D with 95% intervals."""
        for name, value in (("--n-params", n_params), ("--tokens", tokens), ("--batch", batch)):
            if value is not None and not (math.isfinite(value) and value > 0):
                fail(f"{name} must be a positive number, got {value:g}")
        if (problem := unknown_optimizer(optimizer)) is not None:
            fail(problem)
        transfer = {"batch": batch, "optimizer": optimizer} if batch is not None else {}
        if url:
            answer = from_server(url, token, study, n_params, tokens, transfer)
        else:
            answer = from_database(database_url, study, n_params, tokens, transfer)
        if as_json:
            json.dump(answer, sys.stdout)
            sys.stdout.write("\n")
        else:
            print_table(answer)
