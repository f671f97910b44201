"""GDPO's GSM8K rewards and ToolRL's tool-calling rewards on tricky strings (hand-computed values)."""

import json

import numpy as np
import pytest

from morl_jax.rewards import gdpo_correctness, gdpo_format, gdpo_integer, toolrl_correctness, toolrl_format
from morl_jax.rewards.toolrl import match_score

GOOD = "<think>7 * 6 = 42</think>\n<answer>42</answer>"


@pytest.mark.parametrize("completion, correct, integer, fmt", [
    (GOOD, 1, 1, 1),
    ("<think>x</think>\n<answer> 42 </answer>", 1, 1, 1),            # stripped before comparing
    ("<think>x</think><answer>42</answer>", 1, 1, 0),                 # no newline between the blocks
    ("<think>x</think>\n<answer>42</answer>\n", 1, 1, 1),             # '$' matches before a final newline
    ("<think>x</think>\n<answer>42</answer> ok", 1, 1, 0),           # trailing text after </answer>
    ("<think>x</think>\n<answer>41</answer><answer>42</answer>", 1, 1, 0),  # the last answer, two tags
    ("<think>x</think>\n<answer>42.0</answer>", 0, 0, 1),             # exact string match only
    ("<think>x</think>\n<answer>-42</answer>", 0, 0, 1),              # isdigit rejects a sign
    ("42", 1, 1, 0),                                                  # no tags: the whole text is the answer
])
def test_gdpo_rewards(completion, correct, integer, fmt):
    assert gdpo_correctness([""], [completion], answer=["42"]).tolist() == [correct]
    assert gdpo_integer([""], [completion]).tolist() == [integer]
    assert gdpo_format([""], [completion]).tolist() == [fmt]


def _call(name, parameters):
    return json.dumps({"name": name, "parameters": parameters})


GOLD_CALLS = "<think>...</think>\n<tool_call>\n" + _call("get_weather", {"city": "Paris", "unit": "C"}) + "\n" \
             + _call("get_time", {"zone": "CET"}) + "\n</tool_call>"


def _think(body):
    return f"<think>plan</think>\n{body}"


def test_match_score_is_frequency_aware_jaccard():
    assert match_score(["a", "a", "b"], ["a", "b"]) == pytest.approx(2 / 3)
    assert match_score([], ["a"]) == 0.0 and match_score(["a"], ["a"]) == 1.0


def test_toolrl_correctness_values():
    exact = _think("<tool_call>\n" + _call("get_weather", {"city": "Paris", "unit": "C"}) + "\n"
                   + _call("get_time", {"zone": "CET"}) + "\n</tool_call>")
    # One call right, the other with a wrong value: names 1 + weather (keys 1 + values 2) + time (keys 1 + 0)
    # = 5 of max 1 + (1 + 2) + (1 + 1) = 6 -> 6 * 5/6 - 3 = 2.
    one_wrong = _think("<tool_call>\n" + _call("get_weather", {"city": "Paris", "unit": "C"}) + "\n"
                       + _call("get_time", {"zone": "UTC"}) + "\n</tool_call>")
    # Only the weather call, one extra key: names 1/2; weather keys 2/3 + 2 values = 8/3; total 19/6 of 6.
    partial = _think("<tool_call>\n" + _call("get_weather", {"city": "Paris", "unit": "C", "days": 3})
                     + "\n</tool_call>")
    not_json = _think("<tool_call>\nget_weather(Paris)\n</tool_call>")
    no_block = _think("I would call get_weather.")
    out = toolrl_correctness([""] * 5, [exact, one_wrong, partial, not_json, no_block], answer=[GOLD_CALLS] * 5)
    np.testing.assert_allclose(out, [3.0, 2.0, 6 * (19 / 6) / 6 - 3, -3.0, -3.0])
    # A gold answer without a tool call scores 0 whatever the completion says.
    assert toolrl_correctness([""], [exact], answer=["<think>x</think>\n<response>Hi</response>"]).tolist() == [0.0]


def test_toolrl_format_follows_the_gold_structure():
    calls = "<tool_call>\n" + _call("f", {}) + "\n</tool_call>"
    both_gold = "<think>x</think>\n" + calls + "\n<response>ok</response>"
    cases = [
        (_think(calls), GOLD_CALLS, 1.0),
        (_think(calls) + "\n", GOLD_CALLS, 1.0),                           # '$' matches before a final newline
        (_think(calls) + "\nbye", GOLD_CALLS, 0.0),                        # trailing text
        (_think("<tool_call>" + _call("f", {}) + "</tool_call>"), GOLD_CALLS, 0.0),  # calls must be on own lines
        (_think(calls + calls), GOLD_CALLS, 0.0),                          # two blocks
        (_think("<response>Hello</response>"), "<think>x</think>\n<response>Hi</response>", 1.0),
        (_think(calls), "<think>x</think>\n<response>Hi</response>", 0.0),
        (_think(calls + "\n<response>ok</response>"), both_gold, 1.0),
        ("<think>only thinking</think>", "<think>x</think>", 1.0),
        ("no think block", "<think>x</think>", 0.0),
    ]
    for completion, gold, expected in cases:
        assert toolrl_format([""], [completion], answer=[gold]).tolist() == [expected], completion
