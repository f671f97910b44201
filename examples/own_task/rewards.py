"""Reward functions of your own, with TRL's signature `fn(prompts, completions, **columns) -> list[float]`.

Each receives every data column the task passes (here `answer`, `level`) and `completion_tokens`, the policy
tokens of each completion; it takes what it needs and ignores the rest with `**columns`.
"""

import re

_INTEGER = re.compile(r"-?\d+")


def correct(prompts, completions, *, answer, **columns):
    """1.0 if the first integer of the completion is the answer."""
    out = []
    for completion, gold in zip(completions, answer):
        found = _INTEGER.search(completion)
        out.append(1.0 if found is not None and int(found.group()) == int(gold) else 0.0)
    return out


def digits(prompts, completions, **columns):
    """How many digits the completion writes (declared with maximise=False in the config: fewer is better)."""
    return [float(sum(ch.isdigit() for ch in completion)) for completion in completions]
