r"""GDPO's three GSM8K rewards (Liu et al. 2026, arXiv 2601.05242; the TRL implementation of NVlabs/GDPO).

The completion answers as `<think>...</think>\n<answer>...</answer>`; the graded answer is the text between
the last `<answer>` and the `</answer>` after it, stripped (the whole completion when there is no tag, as
in their `extract_xml_answer`). All three are binary:

* `gdpo_correctness`: the graded answer equals the gold answer string exactly (no numeric equivalence);
* `gdpo_integer`: the graded answer is all digits (`str.isdigit`);
* `gdpo_format`: the whole completion matches `^<think>.*?</think>\n<answer>.*?</answer>$` (dot matches
  newlines) with exactly one `<answer>` and one `</answer>`.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

from morl_jax.rewards.registry import register_reward_fn

FORMAT_RE = re.compile(r"^<think>.*?</think>\n<answer>.*?</answer>$", re.DOTALL)


def extract_xml_answer(text: str) -> str:
    """The stripped text between the last `<answer>` and the first `</answer>` after it."""
    return text.split("<answer>")[-1].split("</answer>")[0].strip()


@register_reward_fn("gdpo_correctness")
def gdpo_correctness(prompts: Sequence[str], completions: Sequence[str], *, answer: Sequence[Any],
                     **_: Any) -> np.ndarray:
    """1.0 if the `<answer>` text equals the gold `answer` (as a string), else 0.0."""
    del prompts
    if len(answer) != len(completions):
        raise ValueError(f"answer has {len(answer)} entries for {len(completions)} completions")
    return np.array([1.0 if extract_xml_answer(c) == str(a) else 0.0 for c, a in zip(completions, answer)],
                    dtype=np.float64)


@register_reward_fn("gdpo_integer")
def gdpo_integer(prompts: Sequence[str], completions: Sequence[str], **_: Any) -> np.ndarray:
    """1.0 if the `<answer>` text is all digits, else 0.0."""
    del prompts
    return np.array([1.0 if extract_xml_answer(c).isdigit() else 0.0 for c in completions], dtype=np.float64)


@register_reward_fn("gdpo_format")
def gdpo_format(prompts: Sequence[str], completions: Sequence[str], **_: Any) -> np.ndarray:
    """1.0 if the completion is exactly `<think>...</think>\\n<answer>...</answer>` with one answer tag pair."""
    del prompts
    return np.array([1.0 if FORMAT_RE.search(c) and c.count("<answer>") == 1 and c.count("</answer>") == 1
                     else 0.0 for c in completions], dtype=np.float64)
