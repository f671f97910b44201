r"""ToolRL's tool-calling rewards (Qian et al. 2025, arXiv 2504.13958), as SAW and GDPO train with them.

The gold `answer` is the reference assistant output: `<think>...</think>` then `<tool_call>` with one JSON
object `{"name": ..., "parameters": {...}}` per line and/or `<response>...</response>`.

* `toolrl_format` in {0, 1}: the completion matches the structure the gold answer has --
  `^<think>.*?</think>\n<tool_call>\n.*?\n</tool_call>$`, `...\n<response>.*?</response>$`, both in that order,
  or `^<think>.*?</think>$` when the gold has neither -- with each present tag exactly once.
* `toolrl_correctness` in [-3, 3]: `6 * score / max_score - 3` where `score` = the frequency-aware Jaccard
  similarity of the tool names + for each gold call, over the not yet matched predicted calls of the same name,
  the best (Jaccard of the parameter keys + number of parameter values equal to the gold's); `max_score` =
  1 + sum over gold calls of (1 + number of parameters). Predicted calls equal to the gold list score 3; a
  completion without `<tool_call>...</tool_call>` or with a line that is not JSON scores -3; a gold answer
  without a tool call scores 0.
"""

from __future__ import annotations

import collections
import json
import re
from typing import Any, Sequence

import numpy as np

from morl_jax.rewards.registry import register_reward_fn

MAX_CORRECTNESS, MIN_CORRECTNESS = 3.0, -3.0
_PATTERNS = {
    (False, True): r"^<think>.*?</think>\n<response>.*?</response>$",
    (True, False): r"^<think>.*?</think>\n<tool_call>\n.*?\n</tool_call>$",
    (True, True): r"^<think>.*?</think>\n<tool_call>\n.*?\n</tool_call>\n<response>.*?</response>$",
    (False, False): r"^<think>.*?</think>$",
}


def match_score(a: Sequence[Any], b: Sequence[Any]) -> float:
    """Frequency-aware Jaccard similarity of two lists (1 if equal, 0 if either is empty)."""
    if list(a) == list(b):
        return 1.0
    if not a or not b:
        return 0.0
    ca, cb = collections.Counter(a), collections.Counter(b)
    common = sum(min(ca[k], cb[k]) for k in ca.keys() & cb.keys())
    return common / (len(a) + len(b) - common)


def parse_tool_calls(text: str) -> list[dict[str, Any]]:
    """The JSON objects, one per line, between the first `<tool_call>` and the `</tool_call>` after it.

    Raises ValueError when the tags are missing or a line is not a JSON object with `name` and `parameters`.
    """
    if "<tool_call>" not in text or "</tool_call>" not in text:
        raise ValueError("no <tool_call>...</tool_call> block")
    block = text.split("<tool_call>")[1].split("</tool_call>")[0].strip()
    calls = [json.loads(line) for line in block.split("\n")]
    for call in calls:
        if not isinstance(call, dict) or "name" not in call or not isinstance(call.get("parameters"), dict):
            raise ValueError(f"tool call {call!r} is not an object with 'name' and 'parameters'")
    return calls


def tool_call_score(gold: list[dict[str, Any]], predicted: list[dict[str, Any]]) -> float:
    """The correctness reward in [-3, 3] of predicted calls against gold calls (module docstring)."""
    if gold == predicted:
        return MAX_CORRECTNESS
    score = match_score([t["name"] for t in gold], [t["name"] for t in predicted])
    max_score, used = 1.0, set()
    for gold_call in gold:
        params = gold_call["parameters"]
        max_score += 1.0 + len(params)
        best, best_index = 0.0, -1
        for i, call in enumerate(predicted):
            if i in used or call["name"] != gold_call["name"]:
                continue
            got = call["parameters"]
            value = match_score(list(params), list(got)) + sum(1.0 for k, v in params.items() if k in got and got[k] == v)
            if value > best:
                best, best_index = value, i
        if best_index >= 0:
            used.add(best_index)
            score += best
    return (MAX_CORRECTNESS - MIN_CORRECTNESS) * score / max_score + MIN_CORRECTNESS


def _check(answer: Sequence[Any], completions: Sequence[str]) -> None:
    if len(answer) != len(completions):
        raise ValueError(f"answer has {len(answer)} entries for {len(completions)} completions")


@register_reward_fn("toolrl_correctness")
def toolrl_correctness(prompts: Sequence[str], completions: Sequence[str], *, answer: Sequence[str],
                       **_: Any) -> np.ndarray:
    """Tool-call correctness in [-3, 3] against the gold output `answer` (module docstring)."""
    del prompts
    _check(answer, completions)
    out = []
    for completion, gold_text in zip(completions, answer):
        gold_text = str(gold_text)
        if "<tool_call>" not in gold_text:
            out.append(0.0)
            continue
        gold = parse_tool_calls(gold_text)  # a malformed gold answer is a data error: let it raise
        try:
            predicted = parse_tool_calls(completion)
        except (ValueError, json.JSONDecodeError):
            out.append(MIN_CORRECTNESS)
            continue
        out.append(tool_call_score(gold, predicted))
    return np.array(out, dtype=np.float64)


@register_reward_fn("toolrl_format")
def toolrl_format(prompts: Sequence[str], completions: Sequence[str], *, answer: Sequence[str],
                  **_: Any) -> np.ndarray:
    """1.0 if the completion has exactly the gold answer's structure (module docstring), else 0.0."""
    del prompts
    _check(answer, completions)
    out = []
    for completion, gold_text in zip(completions, answer):
        gold_text = str(gold_text)
        tool, response = "<tool_call>" in gold_text, "<response>" in gold_text
        ok = re.search(_PATTERNS[(tool, response)], completion, re.DOTALL) is not None
        tags = (["<tool_call>", "</tool_call>"] if tool else []) + (["<response>", "</response>"] if response else [])
        out.append(1.0 if ok and all(completion.count(tag) == 1 for tag in tags) else 0.0)
    return np.array(out, dtype=np.float64)
