"""RewardSet: [N, K] output, column passing, state, train/eval, and every error path."""

import numpy as np
import pytest

from morl_jax.rewards import Conciseness, RewardFunctionError, RewardSet, accuracy, clarity

PROMPTS = ["p0", "p1", "p2"]
COMPLETIONS = ["answer: 1", "1. 1+1=2. 2. 2+1=3. answer: 3", "answer: 5"]
ANSWERS = np.array([1, 3, 4])


def _set(**extra):
    return RewardSet({"accuracy": accuracy, "conciseness": Conciseness(length_fn=len), "clarity": clarity,
                      **extra})


def test_output_is_n_by_k_float32_in_order():
    rs = _set()
    out = rs(PROMPTS, COMPLETIONS, answer=ANSWERS, num_ops=[1, 2, 1], unused="scalar")
    assert rs.names == ("accuracy", "conciseness", "clarity") and len(rs) == 3
    assert out.dtype == np.float32 and out.shape == (3, 3)
    np.testing.assert_array_equal(out[:, 0], accuracy(PROMPTS, COMPLETIONS, answer=ANSWERS))
    np.testing.assert_array_equal(out[:, 1], [1.0, 0.0, 1.0])   # lengths 9, 29, 9 vs mean 15.67
    np.testing.assert_array_equal(out[:, 2], [0.0, 1.0, 0.0])


def test_state_dict_and_eval_mode():
    rs = _set()
    rs(PROMPTS, COMPLETIONS, answer=ANSWERS)
    state = rs.state_dict()
    assert state == {"conciseness": {"length_sum": 47.0, "count": 3}}
    rs.eval()
    assert not rs["conciseness"].training
    rs(PROMPTS, COMPLETIONS, answer=ANSWERS)
    assert rs.state_dict() == state
    rs.train()
    rs(PROMPTS[:1], COMPLETIONS[:1], answer=ANSWERS[:1])
    fresh = _set()
    fresh.load_state_dict(rs.state_dict())
    assert fresh.state_dict() == {"conciseness": {"length_sum": 56.0, "count": 4}}
    with pytest.raises(KeyError, match="stateful functions are"):
        fresh.load_state_dict({})


def _raises_on_five(prompts, completions, **_):
    return np.array([1.0 / (0 if "5" in c else 1) for c in completions])


def _returns(values):
    def fn(prompts, completions, **_):
        return values
    return fn


def test_raising_function_names_function_and_sample_and_rolls_back_state():
    rs = _set(boom=_raises_on_five)
    before = rs.state_dict()
    with pytest.raises(RewardFunctionError) as info:
        rs(PROMPTS, COMPLETIONS, answer=ANSWERS)
    err = info.value
    assert err.function == "boom" and err.index == 2
    assert err.prompt == "p2" and err.completion == "answer: 5"
    msg = str(err)
    assert "'boom'" in msg and "sample 2" in msg and "ZeroDivisionError" in msg and "'p2'" in msg
    assert rs.state_dict() == before                   # conciseness update rolled back


def test_batch_only_failure_is_reported():
    def needs_two(prompts, completions, **_):
        if len(completions) > 1:
            raise RuntimeError("batch bug")
        return np.ones(len(completions))
    with pytest.raises(RewardFunctionError, match="'bad'.*batch bug.*no single sample"):
        RewardSet({"bad": needs_two})(PROMPTS, COMPLETIONS)


@pytest.mark.parametrize("value, text", [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_non_finite_names_first_bad_sample(value, text):
    rs = RewardSet({"ok": clarity, "weird": _returns([0.0, value, value])})
    with pytest.raises(RewardFunctionError, match=rf"'weird' returned {text} for sample 1 "
                                                  r"\(2 non-finite") as info:
        rs(PROMPTS, COMPLETIONS)
    assert info.value.index == 1 and info.value.completion == COMPLETIONS[1]


def test_none_is_rejected_as_nan():
    with pytest.raises(RewardFunctionError, match="'maybe' returned nan for sample 0"):
        RewardSet({"maybe": _returns([None, 1.0, 1.0])})(PROMPTS, COMPLETIONS)


@pytest.mark.parametrize("values, got", [([1.0, 1.0], r"\(2,\)"), (np.ones((3, 1)), r"\(3, 1\)"),
                                         (1.0, r"\(\)")])
def test_wrong_shape(values, got):
    with pytest.raises(RewardFunctionError, match=rf"'short' returned shape {got}, expected \(3,\)"):
        RewardSet({"short": _returns(values)})(PROMPTS, COMPLETIONS)


def test_non_numeric():
    with pytest.raises(RewardFunctionError, match="'text' returned values that are not numbers"):
        RewardSet({"text": _returns(["a", "b", "c"])})(PROMPTS, COMPLETIONS)


def test_missing_column_names_function():
    with pytest.raises(RewardFunctionError, match="'accuracy' cannot be called.*answer"):
        _set()(PROMPTS, COMPLETIONS)


def test_input_length_checks():
    with pytest.raises(ValueError, match="2 prompts but 3 completions"):
        _set()(PROMPTS[:2], COMPLETIONS, answer=ANSWERS)
    with pytest.raises(ValueError, match="column 'answer' has 2 entries, expected 3"):
        _set()(PROMPTS, COMPLETIONS, answer=ANSWERS[:2])


def test_construction_errors():
    with pytest.raises(ValueError, match="at least one"):
        RewardSet({})
    with pytest.raises(TypeError, match="'x' is not callable"):
        RewardSet({"x": 3})


def test_rewards_to_minimise_enter_negated():
    def length(prompts, completions, **_):
        return [float(len(c)) for c in completions]

    rs = RewardSet({"accuracy": accuracy, "length": length}, maximise={"length": False})
    out = rs(PROMPTS, COMPLETIONS, answer=ANSWERS)
    np.testing.assert_array_equal(rs.signs, [1.0, -1.0])
    np.testing.assert_array_equal(out[:, 1], [-9.0, -29.0, -9.0])
    with pytest.raises(KeyError, match=r"maximise names unknown reward\(s\) \['lenght'\]"):
        RewardSet({"length": length}, maximise={"lenght": False})
