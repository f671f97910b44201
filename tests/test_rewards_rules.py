"""Accuracy / clarity rewards and the marker rules, on hand-written completions."""

import numpy as np
import pytest

from morl_jax.rewards import accuracy, clarity, get_reward_fn, markers, reward_fn_names


@pytest.mark.parametrize("completion, gold, expected", [
    ("answer: 9", 9, 1.0),
    ("answer:9", "9", 1.0),
    ("  the answer :   9 pens", np.int64(9), 1.0),
    ("1. 7+5=12. 2. 12-3=9. answer: 9", 9, 1.0),
    ("answer: 8. no wait, answer: 9", 9, 1.0),        # the LAST marker counts
    ("answer: 9. no wait, answer: 8", 9, 0.0),
    ("answer: 9. then answer: nine", 9, 0.0),          # last marker has no integer
    ("answer: 90", 9, 0.0),
    ("answer: 9.5", 9, 0.0),
    ("answer: 12.5", 1, 0.0),
    ("answer: -3", -3, 1.0),
    ("answer: -3", "3", 0.0),
    ("9", 9, 0.0),                                      # no marker
    ("answers 9", 9, 0.0),
    ("", 9, 0.0),
])
def test_accuracy_hand_written(completion, gold, expected):
    assert accuracy([""], [completion], answer=[gold]).tolist() == [expected]


@pytest.mark.parametrize("completion, markers_, ordinals, clear", [
    ("1. 7+5=12. 2. 12-3=9. answer: 9", 2, 0, True),
    ("1) 7+5=12. 2) 12-3=9. answer: 9", 2, 0, True),
    ("a) 7+5=12. b) 12-3=9. answer: 9", 2, 0, True),
    ("step 1: 7+5=12, step 2: 12-3=9, answer: 9", 2, 0, True),
    ("- 7+5=12. - 12-3=9. answer: 9", 2, 0, True),
    ("* 7+5=12; * 12-3=9! answer: 9", 2, 0, True),
    ("first 7+5=12, then 12-3=9. answer: 9", 0, 2, True),
    ("first 7+5=12. 2. 12-3=9. answer: 9", 1, 1, False),  # one of each is not enough
    ("1. 7+5=12. 2. 12-3=9.", 2, 0, False),                # no answer marker
    ("1. 7+5=12. 2. 12-3=9. answer: .", 2, 0, False),      # empty answer value
    ("1. 7+5=12. 2. 12-3=9. answer:", 2, 0, False),
    ("1. 7+5-3=9. answer: 9", 1, 0, False),
    ("answer: 9", 0, 0, False),
    ("12-3-4=5. 12 - 3 - 4 = 5. 7+5=12. answer: 5", 0, 0, False),  # subtraction is no bullet
    ("she has 12. she gets 3. answer: 15", 0, 0, False),  # results are not enumerators
    ("1. 2. answer: x", 2, 0, True),                       # empty markers still count (gameable)
    ("next, next. answer: 4", 0, 2, True),
    ("then-ish thenx answer: 4", 0, 1, False),             # whole words only
])
def test_markers_and_clarity_hand_written(completion, markers_, ordinals, clear):
    assert markers.count_step_markers(completion) == markers_
    assert markers.count_ordinal_words(completion) == ordinals
    assert markers.is_clear(completion) is clear
    assert clarity([""], [completion]).tolist() == [float(clear)]


def test_parse_answer():
    assert markers.parse_answer("1. 2+2=4. answer: 4") == 4
    assert markers.parse_answer("answer:") is None
    assert markers.parse_answer("no marker 4") is None
    assert markers.parse_answer("ANSWER: 7") == 7


def test_accuracy_checks_answer_length():
    with pytest.raises(ValueError, match="answer has 1 entries for 2 completions"):
        accuracy(["", ""], ["answer: 1", "answer: 2"], answer=[1])


def test_registry():
    assert {"accuracy", "clarity", "conciseness", "peer_accuracy", "brevity"} <= set(reward_fn_names())
    assert get_reward_fn("accuracy") is accuracy
    with pytest.raises(KeyError, match="unknown reward function 'nope'.*accuracy"):
        get_reward_fn("nope")
    brev = get_reward_fn("brevity", max_len=4)
    assert brev([""], ["abcdef"]).tolist() == [-1.0]
    with pytest.raises(TypeError, match="no option"):
        get_reward_fn("brevity", maxlen=4)
    a, b = get_reward_fn("conciseness"), get_reward_fn("conciseness")
    assert a is not b                                   # stateful: a fresh instance each time
    assert get_reward_fn("conciseness", mode="linear", max_len=10).mode == "linear"
