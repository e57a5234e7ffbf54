"""Token sources: the Markov chain's stated entropy rate equals the oracle's measured loss, batches
are pure functions of (seed, index) with y = x shifted by one, pystdlib holds out a fixed ~5% of
files, and text/tokens files load with their held-out tail and refuse bad contents."""

from __future__ import annotations

import numpy as np
import pytest

from trainer import RunSpec
from trainer.data import MarkovSource, entropy_floor, pystdlib_source, source_for


def test_markov_entropy_matches_the_oracle_loss():
    source = MarkovSource(32, 4)
    pi = source.stationary
    moved = np.zeros_like(pi)
    np.add.at(moved, source.successors.ravel(), (pi[:, None] * source.probs).ravel())
    assert np.allclose(moved, pi, atol=1e-12)  # stationary: pi P = pi
    batch = source.train_batch(seed=1, index=0, batch_size=256, seq_len=256)
    nll = source.nll(batch.x, batch.y)
    stderr = nll.std() / np.sqrt(nll.size)
    assert abs(nll.mean() - source.entropy) < 4 * stderr
    assert 0 < source.entropy < np.log(4)  # 4 successors: at most log 4 nats
    assert entropy_floor("synthetic:markov-32-4") == source.entropy
    assert entropy_floor("pystdlib") is None


def test_batches_are_pure_functions_of_seed_and_index():
    source = MarkovSource(16, 3)
    a = source.train_batch(seed=0, index=5, batch_size=4, seq_len=8)
    b = source.train_batch(seed=0, index=5, batch_size=4, seq_len=8)
    c = source.train_batch(seed=0, index=6, batch_size=4, seq_len=8)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)
    assert np.array_equal(a.x[:, 1:], a.y[:, :-1])
    eval_1 = source.eval_batches(100, 2, 8)
    eval_2 = source.eval_batches(100, 2, 8)
    assert sum(e.x.shape[0] for e in eval_1) == 100 // 8
    assert all(np.array_equal(e.x, f.x) for e, f in zip(eval_1, eval_2, strict=True))


def test_pystdlib_holds_out_a_fixed_share():
    source = pystdlib_source()
    share = len(source.held_out) / (len(source.train) + len(source.held_out))
    assert 0.02 < share < 0.10
    assert len(source.train) > 1_000_000
    batch = source.train_batch(seed=0, index=0, batch_size=4, seq_len=64)
    assert batch.x.shape == (4, 64) and batch.x.dtype == np.int64
    text = bytes(source.held_out[:2000]).decode("utf-8", errors="replace")
    assert "def " in text or "import " in text
    first = source.eval_batches(128, 2, 64)[0]
    assert np.array_equal(first.x[0], source.held_out[:64])


def test_text_source(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("hello world, " * 400)
    spec = RunSpec(
        n_layer=1, d_model=32, n_head=2, seq_len=16, tokens=64, batch_tokens=32, lr=1e-3, data=f"text:{path}"
    )
    source = source_for(spec)
    assert len(source.held_out) == int(np.ceil(5200 / 20))
    assert bytes(source.train[:5]) == b"hello"
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00")
    bad = RunSpec(**{**spec.to_dict(), "data": f"text:{tmp_path / 'binary.txt'}"})
    with pytest.raises(ValueError, match="is not UTF-8"):
        source_for(bad)


def test_tokens_source(tmp_path):
    tokens = np.arange(4000, dtype=np.uint16) % 1000
    tokens.tofile(tmp_path / "data.bin")
    np.save(tmp_path / "data.npy", tokens.astype(np.uint32))
    for name in ("data.bin", "data.npy"):
        spec = RunSpec(
            n_layer=1,
            d_model=32,
            n_head=2,
            seq_len=16,
            tokens=64,
            batch_tokens=32,
            lr=1e-3,
            data=f"tokens:{tmp_path / name}",
            vocab_size=1000,
        )
        source = source_for(spec)
        batch = source.train_batch(0, 0, 2, 16)
        assert np.array_equal(batch.y, (batch.x + 1) % 1000)
        assert len(source.held_out) == 200
    small = RunSpec(**{**spec.to_dict(), "vocab_size": 500})
    with pytest.raises(ValueError, match=r"token id \d+ >= vocab_size 500"):
        for index in range(20):
            source_for(small).train_batch(0, index, 4, 16)
