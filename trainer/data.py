"""Token sources, nothing downloaded: synthetic Markov chains, the Python stdlib, local files.

Every batch is a pure function of (split, seed, index): training batch i of a run is the same
whether the run was interrupted or not, so the data position in a checkpoint is just the step.
Batches are numpy int64 arrays (x, y) of shape (batch, seq_len), y shifted one to the left.

  synthetic:markov[-V-K]  a sparse random Markov chain over V symbols, K successors per state,
                          with its exact entropy rate (the irreducible loss E) in `entropy`.
  pystdlib                the running interpreter's standard-library .py files as bytes; one
                          file in 20 (by CRC32 of its path) is held out for eval.
  text:PATH               a UTF-8 file or folder of files as bytes; the last 5% is held out.
  tokens:PATH             a flat token array (nanoGPT style): .npy, .u32/.uint32 (uint32) or
                          anything else as raw uint16, memory-mapped; the last 5% is held out.
"""

from __future__ import annotations

import functools
import math
import sysconfig
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainer.spec import BYTE_VOCAB, RunSpec, data_kind, data_path, parse_synthetic

# Held-out fraction for eval loss: 5% keeps the pystdlib eval split at ~1.5 MB, far more than
# any proxy evaluates, while taking little from training.
_HELD_OUT_MODULUS = 20
# Fixed seed for eval windows of synthetic sources, so all runs of a study share one eval set.
_EVAL_SEED = 0x5EED
_TRAIN, _EVAL = 0, 1


@dataclass(frozen=True)
class Batch:
    x: np.ndarray
    y: np.ndarray


class TokenSource:
    """Base class: `vocab`, `entropy` (nats/token when known exactly, else None)."""

    vocab: int
    entropy: float | None = None

    def train_batch(self, seed: int, index: int, batch_size: int, seq_len: int) -> Batch:
        raise NotImplementedError

    def eval_batches(self, n_tokens: int, batch_size: int, seq_len: int) -> list[Batch]:
        raise NotImplementedError


# ---------------------------------------------------------------- synthetic Markov chains


class MarkovSource(TokenSource):
    """Sparse random first-order Markov chain with a known entropy rate.

    The chain depends only on (vocab, branching): each state i moves to (i+1) mod V (so the
    chain is irreducible) and to K-1 other random states, with Dirichlet(1) probabilities.
    Sequences start from the stationary distribution pi, so every predicted token has
    conditional entropy exactly H = -sum_i pi_i sum_j P_ij log P_ij (Cover & Thomas, Elements of
    Information Theory, Thm 4.2.4), the lowest expected cross-entropy any model can reach.
    """

    def __init__(self, vocab: int, branching: int) -> None:
        self.vocab = vocab
        self.branching = branching
        rng = np.random.default_rng(zlib.crc32(f"markov-{vocab}-{branching}".encode()))
        succ = np.empty((vocab, branching), dtype=np.int64)
        for i in range(vocab):
            ring = (i + 1) % vocab
            others = np.delete(np.arange(vocab), ring)
            succ[i, 0] = ring
            succ[i, 1:] = rng.choice(others, size=branching - 1, replace=False)
        self.successors = succ
        self.probs = rng.dirichlet(np.ones(branching), size=vocab)
        self.cumulative = np.cumsum(self.probs, axis=1)
        self.cumulative[:, -1] = 1.0
        self.stationary = _stationary(succ, self.probs)
        with np.errstate(divide="ignore", invalid="ignore"):
            plogp = np.where(self.probs > 0, self.probs * np.log(self.probs), 0.0)
        self.entropy = float(-(self.stationary * plogp.sum(axis=1)).sum())

    def _sample(self, rng: np.random.Generator, batch_size: int, seq_len: int) -> Batch:
        out = np.empty((batch_size, seq_len + 1), dtype=np.int64)
        state = rng.choice(self.vocab, size=batch_size, p=self.stationary)
        out[:, 0] = state
        uniforms = rng.random((seq_len, batch_size))
        rows = np.arange(batch_size)
        for t in range(seq_len):
            choice = (uniforms[t][:, None] > self.cumulative[state]).sum(axis=1)
            state = self.successors[state, np.minimum(choice, self.branching - 1)]
            out[rows, t + 1] = state
        return Batch(np.ascontiguousarray(out[:, :-1]), np.ascontiguousarray(out[:, 1:]))

    def train_batch(self, seed: int, index: int, batch_size: int, seq_len: int) -> Batch:
        return self._sample(np.random.default_rng([seed, _TRAIN, index]), batch_size, seq_len)

    def eval_batches(self, n_tokens: int, batch_size: int, seq_len: int) -> list[Batch]:
        n_seq = max(1, n_tokens // seq_len)
        return [
            self._sample(
                np.random.default_rng([_EVAL_SEED, _EVAL, start]), min(batch_size, n_seq - start), seq_len
            )
            for start in range(0, n_seq, batch_size)
        ]

    def nll(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """-log P(y | x) under the true chain, per token (the oracle's loss)."""
        hits = self.successors[x] == y[..., None]
        return -np.log((self.probs[x] * hits).sum(axis=-1))


def _stationary(succ: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Stationary distribution by power iteration of the lazy chain (P + I)/2, which has the same
    fixed point and is aperiodic, so the iteration converges for any irreducible chain."""
    vocab = succ.shape[0]
    pi = np.full(vocab, 1.0 / vocab)
    flat_succ = succ.ravel()
    for _ in range(1_000_000):
        moved = np.bincount(flat_succ, weights=(pi[:, None] * probs).ravel(), minlength=vocab)
        new = 0.5 * (pi + moved)
        new /= new.sum()
        if np.abs(new - pi).sum() < 1e-15:
            return new
        pi = new
    return pi


# ---------------------------------------------------------------- corpora (bytes or token files)


class ArraySource(TokenSource):
    """A train array and an eval array of token ids; training windows start at random offsets."""

    def __init__(self, train: np.ndarray, held_out: np.ndarray, vocab: int, name: str) -> None:
        for split, array in (("training", train), ("held-out", held_out)):
            if len(array) < 2:
                raise ValueError(f"{name}: the {split} split has {len(array)} tokens: give a larger corpus")
        self.train, self.held_out, self.vocab, self.name = train, held_out, vocab, name
        self._check_ids = vocab < np.iinfo(train.dtype).max + 1

    def _windows(self, array: np.ndarray, starts: np.ndarray, seq_len: int) -> Batch:
        chunk = np.asarray(array[starts[:, None] + np.arange(seq_len + 1)]).astype(np.int64)
        if self._check_ids and chunk.max() >= self.vocab:
            raise ValueError(
                f"{self.name}: token id {int(chunk.max())} >= vocab_size {self.vocab}: raise vocab_size"
            )
        return Batch(np.ascontiguousarray(chunk[:, :-1]), np.ascontiguousarray(chunk[:, 1:]))

    def train_batch(self, seed: int, index: int, batch_size: int, seq_len: int) -> Batch:
        if len(self.train) < seq_len + 1:
            raise ValueError(
                f"{self.name}: training split ({len(self.train)} tokens) is shorter than seq_len + 1"
            )
        rng = np.random.default_rng([seed, _TRAIN, index])
        starts = rng.integers(0, len(self.train) - seq_len, size=batch_size)
        return self._windows(self.train, starts, seq_len)

    def eval_batches(self, n_tokens: int, batch_size: int, seq_len: int) -> list[Batch]:
        """Consecutive non-overlapping windows from the start of the held-out split."""
        available = (len(self.held_out) - 1) // seq_len
        if available < 1:
            raise ValueError(
                f"{self.name}: held-out split ({len(self.held_out)} tokens) is shorter than seq_len + 1: "
                "lower seq_len or give a larger corpus"
            )
        n_seq = min(max(1, n_tokens // seq_len), available)
        starts = np.arange(n_seq) * seq_len
        return [
            self._windows(self.held_out, starts[i : i + batch_size], seq_len)
            for i in range(0, n_seq, batch_size)
        ]


@functools.lru_cache(maxsize=1)
def _pystdlib_arrays(root: str) -> tuple[np.ndarray, np.ndarray]:
    base = Path(root)
    train_parts: list[bytes] = []
    eval_parts: list[bytes] = []
    files = sorted(
        p
        for p in base.rglob("*.py")
        if not {"site-packages", "dist-packages", "__pycache__"} & set(p.relative_to(base).parts)
    )
    for path in files:
        rel = path.relative_to(base).as_posix()
        parts = eval_parts if zlib.crc32(rel.encode()) % _HELD_OUT_MODULUS == 0 else train_parts
        parts.append(path.read_bytes())
    return (
        np.frombuffer(b"".join(train_parts), dtype=np.uint8),
        np.frombuffer(b"".join(eval_parts), dtype=np.uint8),
    )


def pystdlib_source() -> ArraySource:
    train, held_out = _pystdlib_arrays(sysconfig.get_paths()["stdlib"])
    return ArraySource(train, held_out, BYTE_VOCAB, "pystdlib")


def _tail_split(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cut = len(array) - max(1, math.ceil(len(array) / _HELD_OUT_MODULUS))
    return array[:cut], array[cut:]


def text_source(path: Path) -> ArraySource:
    files = (
        [path]
        if path.is_file()
        else sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
    )
    parts = []
    for file in files:
        raw = file.read_bytes()
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as err:
            if path.is_file():
                raise ValueError(f"text:{path} is not UTF-8 ({err.reason} at byte {err.start})") from err
            continue  # a folder may hold binaries next to its text; skip them
        parts.append(raw)
    array = np.frombuffer(b"".join(parts), dtype=np.uint8)
    return ArraySource(*_tail_split(array), BYTE_VOCAB, f"text:{path}")


def tokens_source(path: Path, vocab: int) -> ArraySource:
    if path.suffix == ".npy":
        array = np.load(path, mmap_mode="r")
        if array.ndim != 1 or array.dtype.kind not in "iu":
            raise ValueError(f"tokens:{path} must hold a flat integer array, not {array.dtype} {array.shape}")
    else:
        dtype = np.uint32 if path.suffix in (".u32", ".uint32") else np.uint16
        if path.stat().st_size % np.dtype(dtype).itemsize:
            raise ValueError(
                f"tokens:{path} has a size that is not a whole number of {np.dtype(dtype).name} tokens"
            )
        array = np.memmap(path, dtype=dtype, mode="r")
    return ArraySource(*_tail_split(array), vocab, f"tokens:{path}")


def source_for(spec: RunSpec) -> TokenSource:
    """The token source a spec names (the spec was validated, so the kind is known)."""
    kind = data_kind(spec.data)
    rest = spec.data.partition(":")[2]
    if kind == "synthetic":
        synthetic = parse_synthetic(rest)
        return _markov(synthetic.vocab, synthetic.branching)
    if kind == "pystdlib":
        return pystdlib_source()
    path = data_path(spec.data)
    if kind == "text":
        return text_source(path)
    return tokens_source(path, spec.vocab)


@functools.lru_cache(maxsize=8)
def _markov(vocab: int, branching: int) -> MarkovSource:
    return MarkovSource(vocab, branching)


def entropy_floor(data: str) -> float | None:
    """The exact irreducible loss (nats/token) of a synthetic source, None for real corpora."""
    if data_kind(data) != "synthetic":
        return None
    synthetic = parse_synthetic(data.partition(":")[2])
    return _markov(synthetic.vocab, synthetic.branching).entropy
