"""Small builders shared by the integration tests."""

from __future__ import annotations

from app import runs, studies
from app.settings import Settings

# A run spec the trainer accepts and trains in well under a second on a CPU.
TINY_SPEC = {
    "n_layer": 1,
    "d_model": 16,
    "n_head": 2,
    "seq_len": 32,
    "tokens": 4096,
    "batch_tokens": 256,
    "lr": 3e-3,
    "data": "synthetic:markov",
}


def make_study(database, name: str = "study", **kwargs):
    with database.transaction() as session:
        return studies.create_study(session=session, name=name, **kwargs).id


def queue_runs(database, study_id: int, count: int, **overrides) -> list[int]:
    """Queue `count` tiny runs (seeds 0..count-1), even into a study that holds imported runs."""
    with database.transaction() as session:
        study = studies.get_study(session=session, study_id=study_id)
        specs = [{**TINY_SPEC, "seed": i, **overrides} for i in range(count)]
        created, _ = runs.submit_runs(session=session, study=study, specs=specs, mix_imported=True)
        return [r.id for r in created]


def worker_settings(database, tmp_path, *, heartbeat_timeout_s: float = 30) -> Settings:
    """Settings for a test worker pool: fast heartbeats and polling, checkpoints under tmp_path."""
    return Settings(
        database_url=database.url,
        checkpoint_dir=tmp_path / "checkpoints",
        heartbeat_interval_s=0.3,
        heartbeat_timeout_s=heartbeat_timeout_s,
        worker_poll_s=0.2,
    )
