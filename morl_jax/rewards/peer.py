"""The peer workload's two rewards, identical to those the TRL and Tunix harnesses compute
(morl_jax/benchmarks/peers/workload.py; tests/test_rewards_peer.py checks they agree).

Computed on the decoded completion with the special-token strings removed (a no-op when the
decoder already dropped them).
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

from morl_jax.rewards.registry import register_reward_fn

MAX_COMPLETION_LENGTH = 32
SPECIAL_STRINGS = ("<pad>", "<eos>", "<bos>", "<unk>")
_NUM_RE = re.compile(r"\s*(-?\d+)")


def clean(completion: str) -> str:
    """Drop special-token strings."""
    for sp in SPECIAL_STRINGS:
        completion = completion.replace(sp, "")
    return completion


@register_reward_fn("peer_accuracy")
def peer_accuracy(prompts: Sequence[str], completions: Sequence[str], *, answer: Sequence[Any],
                  **_: Any) -> np.ndarray:
    """1.0 if the completion begins (after optional whitespace) with the integer `answer`."""
    del prompts
    if len(answer) != len(completions):
        raise ValueError(f"answer has {len(answer)} entries for {len(completions)} completions")
    out = []
    for c, a in zip(completions, answer):
        m = _NUM_RE.match(clean(c))
        out.append(1.0 if (m is not None and m.group(1) == str(a)) else 0.0)
    return np.array(out, dtype=np.float64)


@register_reward_fn("brevity")
def brevity(prompts: Sequence[str], completions: Sequence[str], *,
            max_len: int = MAX_COMPLETION_LENGTH, **_: Any) -> np.ndarray:
    """-min(len(chars), max_len) / max_len, in [-1, 0]."""
    del prompts
    return np.array([-min(float(len(clean(c))), float(max_len)) / float(max_len)
                     for c in completions], dtype=np.float64)
