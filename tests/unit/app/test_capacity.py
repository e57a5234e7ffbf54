"""What the worker pool can run (app.specs.Capacity): the device kinds it admits, and a run's memory
estimate (16 bytes a parameter for AdamW's fp32 state, plus activations) and FLOPs against limits
that default by device and are raised by settings."""

from __future__ import annotations

import pytest

from app.errors import InvalidInput
from app.settings import Settings
from app.specs import Capacity, memory_estimate, validate_spec
from trainer.accounting import count_params

TINY = {
    "n_layer": 1,
    "d_model": 16,
    "n_head": 2,
    "seq_len": 32,
    "tokens": 4096,
    "batch_tokens": 256,
    "lr": 3e-3,
}
# About 1.3e11 parameters: 2 TB of optimizer state, beyond every device's default.
LARGE = {**TINY, "n_layer": 64, "d_model": 12800, "n_head": 100}


def test_devices_the_pool_lacks_are_refused():
    for device in ("cuda", "cuda:1", "mps"):
        with pytest.raises(InvalidInput) as caught:
            Capacity("cpu").check(validate_spec({**TINY, "device": device}))
        assert caught.value.field == "device" and "HYPERLAW_WORKER_DEVICE" in str(caught.value)
    for device in ("auto", "cpu", "cuda", "cuda:1"):
        Capacity("cuda").check(validate_spec({**TINY, "device": device}))
    with pytest.raises(InvalidInput):
        Capacity("cuda").check(validate_spec({**TINY, "device": "mps"}))


def test_the_memory_estimate_counts_optimizer_state_and_activations():
    spec = validate_spec(LARGE)
    params = count_params(spec).total
    assert 16 * params < memory_estimate(spec) < 17 * params  # state dominates a large model
    small = validate_spec({**TINY, "batch_tokens": 4096})
    assert memory_estimate(small) > memory_estimate(validate_spec(TINY))  # more activations per batch


def test_limits_default_by_device_and_follow_the_settings():
    large = validate_spec(LARGE)
    for device in ("cpu", "cuda", "mps"):
        with pytest.raises(InvalidInput, match="HYPERLAW_MAX_RUN_MEMORY_GB"):
            Capacity(device).check(large)
    Capacity("cpu", max_memory_gb=1e4).check(large)
    long = validate_spec({**TINY, "tokens": 10**15})
    with pytest.raises(InvalidInput, match="HYPERLAW_MAX_RUN_FLOPS") as caught:
        Capacity("cpu").check(long)
    assert caught.value.field == "tokens"
    Capacity("cuda").check(long)  # a GPU's week covers it
    settings = Settings(
        database_url="sqlite://", worker_device="cuda", max_run_memory_gb=1e4, max_run_flops=1e30
    )
    assert Capacity.of(settings) == Capacity("cuda", 1e4, 1e30)
    Capacity.of(settings).check(large)
