"""On a CUDA device: train() picks it by itself, runs bf16 autocast with fused AdamW, learns, and
resumes from a checkpoint to the same curve within bf16 noise."""

from __future__ import annotations

import pytest
import torch

from tests.unit.trainer.conftest import tiny_spec
from trainer import train

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_trains_on_the_gpu_by_itself():
    spec = tiny_spec(device="auto", tokens=32 * 32 * 100, batch_tokens=32 * 32)
    result = train(spec)
    assert result.device.startswith("cuda")
    assert result.status == "done"
    assert result.final_eval_loss - result.entropy_floor < 0.1


def test_resume_on_gpu(tmp_path):
    spec = tiny_spec(device="cuda")
    full = train(spec)

    class Stop(Exception):
        pass

    def stop(point):
        if point.step == 12:
            raise Stop

    with pytest.raises(Stop):
        train(spec, on_point=stop, checkpoint_dir=tmp_path, checkpoint_every_steps=6)
    resumed = train(spec, checkpoint_dir=tmp_path, resume=True, checkpoint_every_steps=6)
    assert resumed.curve[0].step == 7
    assert resumed.final_eval_loss == pytest.approx(full.final_eval_loss, abs=1e-2)
