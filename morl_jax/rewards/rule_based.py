"""Rule-based accuracy and clarity rewards (the paper's objectives 1 and 3, on our markers)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from morl_jax.rewards import markers
from morl_jax.rewards.registry import register_reward_fn


def _gold_int(value: Any) -> int:
    """A gold answer given as an int, a numpy integer or a string of one."""
    if isinstance(value, (int, np.integer)):
        return int(value)
    return int(str(value).strip())


@register_reward_fn("accuracy")
def accuracy(prompts: Sequence[str], completions: Sequence[str], *, answer: Sequence[Any],
             **_: Any) -> np.ndarray:
    """1.0 if the integer after the LAST `answer:` marker equals the gold `answer`, else 0.0."""
    del prompts
    if len(answer) != len(completions):
        raise ValueError(f"answer has {len(answer)} entries for {len(completions)} completions")
    return np.array([1.0 if markers.parse_answer(c) == _gold_int(a) else 0.0
                     for c, a in zip(completions, answer)], dtype=np.float64)


@register_reward_fn("clarity")
def clarity(prompts: Sequence[str], completions: Sequence[str], **_: Any) -> np.ndarray:
    """1.0 iff an answer marker has a value and there are >= 2 step markers or >= 2 ordinal words.

    The exact patterns are documented in `morl_jax.rewards.markers`.
    """
    del prompts
    return np.array([1.0 if markers.is_clear(c) else 0.0 for c in completions], dtype=np.float64)
