"""Service settings: one `Settings` object, built at the entry point and passed down.

Values come from environment variables prefixed `HYPERLAW_` (e.g. `HYPERLAW_DATABASE_URL`)
and, optionally, from an env file: `load_settings()` reads the one named by
HYPERLAW_ENV_FILE (environment variables win over the file).
Bad values are refused when the object is built, so a misconfigured service fails at
start-up rather than on the first request. Experiment hyperparameters are run specs,
never settings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the service can be configured with."""

    model_config = SettingsConfigDict(env_prefix="HYPERLAW_", extra="ignore", frozen=True)

    database_url: str = Field(
        "sqlite:///./hyperlaw.db",
        description="SQLAlchemy URL: sqlite:///path for the embedded default, "
        "postgresql+psycopg://user@host/db at scale.",
    )
    checkpoint_dir: Path = Field(Path("./checkpoints"), description="Where runs keep their checkpoints.")
    data_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Folders whose files runs may train on (text:PATH, tokens:PATH), separated by "
        f"{os.pathsep!r} in HYPERLAW_DATA_ROOTS. Empty: only the built-in sources (synthetic:*, "
        "pystdlib). Workers check it again before training, so they need the same value as the API.",
    )

    # Job queue, for runs and fits alike. A running job heartbeats every `heartbeat_interval_s`;
    # one silent for `heartbeat_timeout_s` is presumed lost and requeued (procrastinate's stalled jobs).
    heartbeat_interval_s: float = Field(5.0, gt=0)
    heartbeat_timeout_s: float = Field(120.0, gt=0)
    max_attempts: int = Field(
        3, ge=1, description="Claims of one job (run or fit) before it is marked failed."
    )
    worker_poll_s: float = Field(1.0, gt=0, description="Idle wait between claim attempts.")
    curve_batch_size: int = Field(64, ge=1, description="Curve points buffered before one upsert.")
    curve_write_retry_s: float = Field(
        60.0,
        gt=0,
        description="How long a run's process retries a write to an unreachable database (backing off "
        "exponentially) before it gives its run back to the queue, its attempt not counted.",
    )
    curve_buffer_max_points: int = Field(
        10_000,
        ge=1,
        description="Most curve points a run keeps in memory while the database is unreachable; with "
        "more, training waits for the database.",
    )

    # What the pool can run: a submission the workers could not train is refused at once (422 saying
    # why) rather than failing its attempts. Unset limits take the device's defaults
    # (app.specs.DEVICE_MEMORY_GB, DEVICE_FLOPS).
    worker_device: Literal["cpu", "cuda", "mps"] = Field(
        "cpu",
        description="The device the worker pool trains on; runs asking for another (device: cuda on a "
        "CPU pool) are refused.",
    )
    max_run_memory_gb: float | None = Field(
        None,
        gt=0,
        description="Most memory one run may need (estimated: 16 bytes per parameter plus activations); "
        "default 64 on cpu, 80 on cuda, 16 on mps.",
    )
    max_run_flops: float | None = Field(
        None,
        gt=0,
        description="Most training FLOPs one run may take; default 1e17 on cpu, 1e21 on cuda, 1e19 on mps.",
    )

    # API.
    sweep_cap: int = Field(1000, ge=1, description="Most runs one sweep request may create.")
    public_reads: bool = Field(True, description="Allow GET requests without a token.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins whose pages may call the API from a browser (CORS), comma-separated in "
        "HYPERLAW_CORS_ORIGINS, e.g. https://lab.example.org; * allows any. Empty (the default): no "
        "CORS headers, so only pages served by the API itself (the dashboard, /docs) can call it.",
    )
    write_rate_per_minute: int = Field(
        600,
        ge=0,
        description="Writes one token may make per minute (bursts of up to a minute's worth), counted "
        "in each API process; more get 429 with Retry-After. 0 turns the limit off.",
    )
    max_body_bytes: int = Field(
        1 << 20, ge=1024, description="Largest request body (JSON routes); larger ones get 413."
    )
    # A CSV import is spooled to a temporary file, then parsed and written in batches (app/imports.py),
    # so its memory does not grow with its size: 64 MiB holds some two million rows of N, D, loss. A
    # JSON import is parsed whole (some 20 times its size in memory), so it has a smaller limit.
    max_import_bytes: int = Field(
        64 << 20, ge=1024, description="Largest body of POST /v1/studies/{id}/import (CSV or JSON)."
    )
    max_import_json_bytes: int = Field(
        8 << 20, ge=1024, description="Largest JSON body of an import (parsed whole, unlike CSV)."
    )
    max_import_rows: int = Field(
        2_000_000, ge=1, description="Most runs one import may add; more get 413, and nothing is written."
    )
    curve_page_points: int = Field(
        10_000, ge=100, description="Most curve points one JSON answer holds (its default page size)."
    )
    fit_inline_max_bootstrap: int = Field(
        100, ge=0, description="Fits with more bootstrap replicates than this run in the background."
    )
    fit_time_limit_s: float = Field(
        1800.0,
        gt=0,
        description="Longest a fit may compute; one still computing then fails, saying how many bootstrap "
        "replicates would fit. Checked between batches of replicates.",
    )
    predict_cache_size: int = Field(256, ge=1, description="Restored fits kept in memory for /v1/predict.")

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError(
                f"database_url {value!r} is neither SQLite nor PostgreSQL: use sqlite:///path "
                "or postgresql+psycopg://user@host/db"
            )
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        return value

    @field_validator("data_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part for part in value.split(os.pathsep) if part.strip()]
        return value

    @field_validator("data_roots")
    @classmethod
    def _existing_folders(cls, roots: list[Path]) -> list[Path]:
        # Resolved once here, so a path is compared with the folders the links lead to.
        resolved = []
        for root in roots:
            folder = root.expanduser().resolve()
            if not folder.is_dir():
                raise ValueError(
                    f"data root {str(root)!r} is not an existing folder: create it, or remove it from "
                    "HYPERLAW_DATA_ROOTS"
                )
            resolved.append(folder)
        return resolved

    @model_validator(mode="after")
    def _timeout_exceeds_interval(self) -> Settings:
        if self.heartbeat_timeout_s <= 2 * self.heartbeat_interval_s:
            raise ValueError(
                f"heartbeat_timeout_s ({self.heartbeat_timeout_s}) must exceed twice heartbeat_interval_s "
                f"({self.heartbeat_interval_s}), or healthy runs would be requeued"
            )
        return self


def load_settings(**overrides: Any) -> Settings:
    """The entry points' Settings: the environment, the optional env file named by
    HYPERLAW_ENV_FILE, then explicit overrides (command-line flags; None means not given)."""
    given = {name: value for name, value in overrides.items() if value is not None}
    return Settings(_env_file=os.environ.get("HYPERLAW_ENV_FILE"), **given)
