"""Batch-size transfer of the learning rate: Adam's square-root rule and SGD's linear rule give the
known factors, round-trip between batch sizes, flag a batch above the critical batch size, and
refuse bad arguments by name."""

from __future__ import annotations

import math

import pytest

import fitting
from fitting import TransferredLR, transfer_lr

RULE_EXPONENTS = {"adam": 0.5, "sgd": 1.0}


def test_adam_square_root_rule():
    out = transfer_lr(3e-3, 64, 256, optimizer="adam", b_crit=1024)
    assert isinstance(out, TransferredLR)
    assert (out.rule, out.factor) == ("sqrt", pytest.approx(2.0))  # 4x the batch: 2x the LR
    assert out.lr == pytest.approx(6e-3)
    assert out.above_critical is False and out.warnings == []
    assert transfer_lr(3e-3, 64, 16).lr == pytest.approx(1.5e-3)  # Adam is the default; smaller B too


def test_sgd_linear_rule():
    out = transfer_lr(0.1, 256, 8192, optimizer="sgd", b_crit=16384)  # Goyal et al.: 0.1 x k at 256k
    assert (out.rule, out.lr, out.factor) == ("linear", pytest.approx(3.2), pytest.approx(32.0))


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_transfer_there_and_back_is_the_identity(optimizer):
    there = transfer_lr(2e-3, 48, 300, optimizer=optimizer)
    back = transfer_lr(there.lr, 300, 48, optimizer=optimizer)
    assert back.lr == pytest.approx(2e-3, rel=1e-12)
    assert math.log(there.factor) == pytest.approx(RULE_EXPONENTS[optimizer] * math.log(300 / 48))


def test_a_batch_above_the_critical_batch_size_is_flagged_not_capped():
    out = transfer_lr(3e-3, 64, 4096, b_crit=1024)
    assert out.above_critical is True
    assert out.lr == pytest.approx(3e-3 * 8)  # the rule's value, returned with the flag
    assert len(out.warnings) == 1 and "batch 4096 is above the critical batch size 1024" in out.warnings[0]
    # the optimum itself measured above B_crit: the rule does not hold from there either
    source = transfer_lr(3e-3, 2048, 512, b_crit=1024)
    assert source.above_critical is True and "the reference batch 2048" in source.warnings[0]
    # exactly at B_crit still holds
    assert transfer_lr(3e-3, 64, 1024, b_crit=1024).above_critical is False


def test_without_a_critical_batch_size_the_check_is_reported_as_not_done():
    out = transfer_lr(3e-3, 64, 256)
    assert out.above_critical is None
    assert out.warnings == [
        "no critical batch size given: the sqrt rule holds only below it, which was not checked"
    ]
    assert out.to_dict()["above_critical"] is None and out.to_dict()["lr"] == pytest.approx(6e-3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(lr_opt=0.0, batch_opt=64, batch=256), "lr_opt must be a positive finite number"),
        (dict(lr_opt=1e-3, batch_opt=-1, batch=256), "batch_opt must be a positive finite number"),
        (dict(lr_opt=1e-3, batch_opt=64, batch=float("nan")), "batch must be a positive finite number"),
        (dict(lr_opt=1e-3, batch_opt=64, batch="big"), "batch must be a positive number"),
        (dict(lr_opt=1e-3, batch_opt=64, batch=256, b_crit=0), "b_crit must be a positive finite number"),
        (dict(lr_opt=1e-3, batch_opt=64, batch=256, optimizer="lion"), "optimizer 'lion' is unknown"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        transfer_lr(**kwargs)


def test_exported_from_fitting():
    assert fitting.transfer_lr is transfer_lr
