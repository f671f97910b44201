"""Conciseness: the running mean of all training lengths in policy tokens (current batch included), modes, state."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from morl_jax.rewards import Conciseness


def _texts(lengths):
    return ["x" * n for n in lengths]


def _call(fn, lengths):
    """The reward of completions with these token counts (the column the rollout collector passes)."""
    return fn([""] * len(lengths), _texts(lengths), completion_tokens=np.array(lengths))


@given(st.lists(st.lists(st.integers(0, 50), min_size=1, max_size=8), min_size=1, max_size=6))
def test_binary_matches_brute_force_running_mean(batches):
    fn, history = Conciseness(), []
    for lengths in batches:
        history.extend(lengths)
        mean = sum(history) / len(history)            # all training lengths so far, incl. this batch
        expected = [1.0 if n < mean else 0.0 for n in lengths]
        assert _call(fn, lengths).tolist() == expected
    assert fn.running_mean == pytest.approx(sum(history) / len(history))


def test_current_batch_is_included():
    fn = Conciseness()
    # A single batch: with the batch in the mean, 2 < mean(2, 10) = 6 gets 1 and 10 gets 0.
    assert _call(fn, [2, 10]).tolist() == [1.0, 0.0]
    # Next batch [7]: mean(2, 10, 7) = 6.33, so 7 is not below it.
    assert _call(fn, [7]).tolist() == [0.0]
    assert fn.state_dict() == {"length_sum": 19.0, "count": 3}


def test_eval_mode_does_not_update():
    fn = Conciseness()
    _call(fn, [4, 6, 8])
    before = fn.state_dict()
    fn.eval()
    assert _call(fn, [5, 100]).tolist() == [1.0, 0.0]  # read against mean 6
    assert fn.state_dict() == before
    fn.train()
    _call(fn, [100])
    assert fn.state_dict() == {"length_sum": 118.0, "count": 4}


def test_eval_before_any_training_uses_batch_mean_and_keeps_state():
    fn = Conciseness().eval()
    assert _call(fn, [1, 2, 9]).tolist() == [1.0, 1.0, 0.0]
    assert fn.state_dict() == {"length_sum": 0.0, "count": 0}


def test_state_round_trip_resumes_exactly():
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, 40, size=5).tolist() for _ in range(6)]
    straight = Conciseness()
    outs = [_call(straight, b).tolist() for b in batches]
    first = Conciseness()
    for b in batches[:3]:
        _call(first, b)
    resumed = Conciseness()
    resumed.load_state_dict(first.state_dict())
    assert [_call(resumed, b).tolist() for b in batches[3:]] == outs[3:]
    assert resumed.state_dict() == straight.state_dict()
    with pytest.raises(KeyError, match="length_sum"):
        resumed.load_state_dict({"count": 1})


def test_linear_mode_and_custom_length():
    fn = Conciseness(mode="linear", max_len=10)
    assert _call(fn, [0, 5, 10, 20]).tolist() == [1.0, 0.5, 0.0, 0.0]
    words = Conciseness(length_fn=lambda c: len(c.split()))
    assert words(["", ""], ["a b", "a b c d"]).tolist() == [1.0, 0.0]
    assert words.state_dict() == {"length_sum": 6.0, "count": 2}


def test_bad_options():
    with pytest.raises(ValueError, match="unknown conciseness mode 'log'.*binary, linear"):
        Conciseness(mode="log")
    with pytest.raises(ValueError, match="needs max_len"):
        Conciseness(mode="linear")


def test_empty_batch():
    fn = Conciseness()
    assert fn([], [], completion_tokens=np.zeros(0, int)).shape == (0,)
    assert fn.state_dict()["count"] == 0


def test_counts_policy_tokens_not_characters():
    fn = Conciseness()
    # Long texts of few tokens: the token counts decide (mean 2 tokens), the texts' lengths do not.
    out = fn(["", ""], ["a long completion of one token", "ab"], completion_tokens=np.array([1, 3]))
    assert out.tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="pass the completion_tokens column"):
        Conciseness()([""], ["x"])
    with pytest.raises(ValueError, match=r"completion_tokens has shape \(2,\), expected \(1,\)"):
        Conciseness()([""], ["x"], completion_tokens=[1, 2])
