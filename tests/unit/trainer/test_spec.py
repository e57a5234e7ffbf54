"""RunSpec refuses bad specs with a SpecError (a ValueError) that names the problem, the fix and the
field, derives steps and warmup correctly, round-trips through a dict, and imports without torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from trainer import RunSpec, SpecError

GOOD = dict(n_layer=2, d_model=64, n_head=4, tokens=100_000, batch_tokens=4096, lr=1e-3, seq_len=128)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_head": 5}, r"d_model \(64\) is not divisible by n_head \(5\)"),
        ({"tokens": 1000}, r"tokens \(1000\) is less than one batch \(4096 tokens\): raise tokens or lower"),
        ({"batch_tokens": 100}, r"batch_tokens \(100\) is less than one sequence"),
        ({"batch_tokens": 4100}, r"not a multiple of seq_len \(128\): use 4096 or 4224"),
        ({"data": "wikipedia"}, r"unknown data source 'wikipedia'"),
        ({"data": "text:/no/such/file.txt"}, r"data file '/no/such/file.txt' does not exist"),
        ({"data": "synthetic:zipf"}, r"unknown synthetic source 'zipf'"),
        ({"schedule": "linear"}, r"schedule 'linear' is unknown: use one of cosine, wsd, constant"),
        ({"lr": 0.0}, r"lr \(0.0\) must be a positive finite number"),
        ({"lr": float("nan")}, r"lr \(nan\) must be a positive"),
        ({"n_layer": 0}, r"n_layer \(0\) must be a positive integer"),
        ({"mlp": "relu"}, r"mlp 'relu' is unknown"),
        ({"betas": (0.9, 1.0)}, r"betas"),
        ({"device": "tpu"}, r"device 'tpu' is unknown"),
        ({"micro_batch_tokens": 3 * 128}, r"must divide batch_tokens \(4096\) into whole micro-batches"),
        ({"vocab_size": 1000}, r"pystdlib is byte-level"),
        ({"parametrization": "ntk"}, r"parametrization 'ntk' is unknown: use one of sp, mup"),
        ({"base_d_model": 32}, r"base_d_model \(32\) applies to parametrization 'mup' only"),
        (
            {"parametrization": "mup", "base_d_model": 2},
            r"base_d_model \(2\) must be an integer of at least n_head",
        ),
    ],
)
def test_bad_specs_raise_with_a_clear_message(change, message):
    with pytest.raises(ValueError, match=message):
        RunSpec(**{**GOOD, **change})


def test_tokens_source_needs_vocab_size(tmp_path):
    path = tmp_path / "tokens.bin"
    path.write_bytes(b"\x00\x01" * 100)
    with pytest.raises(ValueError, match="needs vocab_size"):
        RunSpec(**{**GOOD, "data": f"tokens:{path}"})
    assert RunSpec(**{**GOOD, "data": f"tokens:{path}", "vocab_size": 50257}).vocab == 50257


def test_derived_quantities():
    spec = RunSpec(**GOOD)
    assert spec.batch_size == 32
    assert spec.steps == 100_000 // 4096 == 24
    assert spec.warmup_steps == 1  # 5% of 24 steps, rounded, at least one
    assert RunSpec(**{**GOOD, "warmup_tokens": 3 * 4096 + 1}).warmup_steps == 4
    assert RunSpec(**{**GOOD, "micro_batch_tokens": 1024}).grad_accum_steps == 4
    assert spec.vocab == 256
    assert RunSpec(**{**GOOD, "data": "synthetic:markov-100-5"}).vocab == 100


def test_dict_round_trip():
    spec = RunSpec(**{**GOOD, "schedule": "wsd"})
    assert RunSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match=r"unknown RunSpec fields \['width'\]"):
        RunSpec.from_dict({**spec.to_dict(), "width": 3})


def test_spec_and_accounting_import_without_torch():
    code = (
        "import sys; from trainer import RunSpec, count_params, shape_for_params; import trainer.spec; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"n_head": 5}, "d_model"),
        ({"tokens": 1000}, "tokens"),
        ({"batch_tokens": 4100}, "batch_tokens"),
        ({"lr": "fast"}, "lr"),
        ({"min_lr_ratio": "x"}, "min_lr_ratio"),
        ({"weight_decay": None}, "weight_decay"),
        ({"betas": "ab"}, "betas"),
        ({"warmup_tokens": "x"}, "warmup_tokens"),
        ({"seed": "x"}, "seed"),
        ({"compile": "yes"}, "compile"),
        ({"device": 3}, "device"),
        ({"data": 5}, "data"),
        ({"data": "synthetic:zipf"}, "data"),
        ({"data": "text:/no/such/file.txt"}, "data"),
        ({"vocab_size": 1000}, "vocab_size"),
        ({"data": "synthetic:markov", "vocab_size": "x"}, "vocab_size"),
        ({"parametrization": None}, "parametrization"),
        ({"base_d_model": 32}, "base_d_model"),
        ({"parametrization": "mup", "base_d_model": 32.0}, "base_d_model"),
        ({"parametrization": "mup", "base_d_model": True}, "base_d_model"),
    ],
)
def test_spec_errors_name_the_field(change, field):
    with pytest.raises(SpecError) as caught:
        RunSpec(**{**GOOD, **change})
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)


def test_from_dict_names_an_unknown_or_missing_field():
    with pytest.raises(SpecError, match=r"known fields are \[.*'batch_tokens'") as caught:
        RunSpec.from_dict({**GOOD, "width": 3})
    assert caught.value.field == "width"
    with pytest.raises(SpecError, match="RunSpec needs lr") as caught:
        RunSpec.from_dict({k: v for k, v in GOOD.items() if k != "lr"})
    assert caught.value.field == "lr"


def test_parametrization_defaults_to_sp_and_round_trips():
    assert RunSpec(**GOOD).parametrization == "sp"
    assert RunSpec(**GOOD).width_mult == 1.0
    mup = RunSpec(**GOOD, parametrization="mup", base_d_model=32)
    assert mup.width_mult == 2.0  # d_model 64 against a base of 32
    assert RunSpec(**GOOD, parametrization="mup").width_mult == 1.0  # base: its own width
    values = mup.to_dict()
    assert (values["parametrization"], values["base_d_model"]) == ("mup", 32)
    assert RunSpec.from_dict(values) == mup


def test_a_stored_spec_without_the_parametrization_fields_loads_as_sp():
    stored = {
        k: v for k, v in RunSpec(**GOOD).to_dict().items() if k not in ("parametrization", "base_d_model")
    }
    spec = RunSpec.from_dict(stored)
    assert (spec.parametrization, spec.base_d_model) == ("sp", None)
    assert spec == RunSpec(**GOOD)
