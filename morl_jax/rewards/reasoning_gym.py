r"""A reasoning-gym dataset's own scorer as a reward function.

`reasoning_gym_score(prompts, completions, *, entry, extract="boxed")`: the answer is read from the completion
(its last `\boxed{}`, its last `<answer>...</answer>` -- reasoning-gym's own convention -- or the whole text),
then scored by the `score_answer(answer, entry)` of the dataset that generated `entry` (a float in [0, 1];
0 when no answer is found).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from morl_jax.rewards.math import last_boxed
from morl_jax.rewards.registry import register_reward_fn

EXTRACTORS = ("boxed", "answer_tag", "text")


def extract(completion: str, how: str) -> str | None:
    """The answer of a completion: last `\\boxed{}` content, last `<answer>` content, or the stripped text."""
    if how == "boxed":
        return last_boxed(completion)
    if how == "answer_tag":
        from reasoning_gym.utils import extract_answer

        return extract_answer(completion, tag_name="answer")
    if how == "text":
        return completion.strip()
    raise ValueError(f"unknown extract {how!r}; known: {', '.join(EXTRACTORS)}")


@functools.lru_cache(maxsize=None)
def _scorer(dataset: str) -> Callable[[str | None, Mapping[str, Any]], float]:
    import reasoning_gym

    return reasoning_gym.get_score_answer_fn(dataset)


@register_reward_fn("reasoning_gym_score")
def reasoning_gym_score(prompts: Sequence[str], completions: Sequence[str], *, entry: Sequence[Mapping[str, Any]],
                        extract_from: str = "boxed", **_: Any) -> np.ndarray:
    """The generating dataset's score of the extracted answer, per completion."""
    del prompts
    if extract_from not in EXTRACTORS:
        raise ValueError(f"unknown extract_from {extract_from!r}; known: {', '.join(EXTRACTORS)}")
    if len(entry) != len(completions):
        raise ValueError(f"entry has {len(entry)} entries for {len(completions)} completions")
    out = []
    for completion, item in zip(completions, entry):
        answer = extract(completion, extract_from)
        out.append(0.0 if answer is None else float(_scorer(item["metadata"]["source_dataset"])(answer, item)))
    return np.array(out, dtype=np.float64)
