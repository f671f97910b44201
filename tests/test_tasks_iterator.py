"""PromptIterator: per-epoch permutations, exact resume from state(), errors."""

import json

import numpy as np
import pytest

from morl_jax.tasks import PromptIterator

COLUMNS = {"prompt": np.array([f"p{i}" for i in range(10)]), "answer": np.arange(10) * 3}


def _take(it, k):
    return [next(it) for _ in range(k)]


def test_each_epoch_is_a_permutation_and_batches_are_consistent():
    it = PromptIterator(COLUMNS, batch_size=3, seed=0)
    assert it.batches_per_epoch == 3
    epochs = [np.concatenate([b["answer"] for b in _take(it, 3)]) for _ in range(4)]
    for e in epochs:
        assert len(set(e.tolist())) == 9 and set(e.tolist()) <= set(COLUMNS["answer"].tolist())
    assert len({tuple(e) for e in epochs}) > 1                   # reshuffled per epoch
    b = next(PromptIterator(COLUMNS, batch_size=4, seed=0))
    assert [int(p[1:]) * 3 for p in b["prompt"]] == b["answer"].tolist()   # rows stay aligned


def test_resume_gives_identical_stream():
    for k in (0, 2, 3, 7):                                       # within, at and past epoch ends
        it = PromptIterator(COLUMNS, batch_size=3, seed=5)
        _take(it, k)
        state = json.loads(json.dumps(it.state()))               # survives a JSON round trip
        expected = _take(it, 6)
        resumed = PromptIterator(COLUMNS, batch_size=3, seed=5)
        resumed.restore(state)
        got = _take(resumed, 6)
        for a, b in zip(expected, got):
            assert a.keys() == b.keys()
            for key in a:
                np.testing.assert_array_equal(a[key], b[key])


def test_seed_and_order():
    a = next(PromptIterator(COLUMNS, batch_size=5, seed=0))["answer"]
    b = next(PromptIterator(COLUMNS, batch_size=5, seed=1))["answer"]
    assert a.tolist() != b.tolist()
    plain = PromptIterator(COLUMNS, batch_size=5, seed=0, shuffle=False)
    assert [x["answer"].tolist() for x in _take(plain, 3)] == [
        [0, 3, 6, 9, 12], [15, 18, 21, 24, 27], [0, 3, 6, 9, 12]]
    assert plain.state() == {"epoch": 1, "position": 5}


def test_errors():
    with pytest.raises(ValueError, match="different lengths"):
        PromptIterator({"a": [1, 2], "b": [1]}, batch_size=1, seed=0)
    with pytest.raises(ValueError, match=r"batch_size must be in \[1, 10\]"):
        PromptIterator(COLUMNS, batch_size=11, seed=0)
    it = PromptIterator(COLUMNS, batch_size=2, seed=0)
    with pytest.raises(KeyError, match="epoch"):
        it.restore({"step": 3})
    with pytest.raises(ValueError, match="invalid iterator state"):
        it.restore({"epoch": 0, "position": 11})
