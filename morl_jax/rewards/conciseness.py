"""Conciseness reward: shorter than the running mean of all training response lengths.

As in the dynamic-reward-weighting paper, the running mean covers every training response since
step 0, includes the current batch, and is never reset; it is state to checkpoint and restore.
Lengths are counted in policy tokens (the paper counts `tokenizer.tokenize(response)`), read from
the `completion_tokens` column the rollout collector passes: the generation limit and the length
objective of validation are in the same unit.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from morl_jax.rewards.registry import register_reward_fn

MODES = ("binary", "linear")


@register_reward_fn("conciseness")
class Conciseness:
    """`mode="binary"`: 1.0 if length < running mean else 0.0 (the paper).
    `mode="linear"`: 1 - min(length, max_len) / max_len (a continuous variant).

    The running mean is updated only in training mode (`train()`); in `eval()` mode it is read
    (or, before any training batch, the evaluated batch's own mean is used) and left unchanged.
    A completion's length is its number of policy tokens, the `completion_tokens` column (EOS not
    counted); `length_fn` instead measures the completion text (e.g. words), for callers without
    token counts.
    """

    def __init__(self, mode: str = "binary", max_len: int | None = None,
                 length_fn: Callable[[str], float] | None = None):
        if mode not in MODES:
            raise ValueError(f"unknown conciseness mode {mode!r}; known: {', '.join(MODES)}")
        if mode == "linear" and (max_len is None or max_len <= 0):
            raise ValueError(f"conciseness mode 'linear' needs max_len > 0, got {max_len!r}")
        self.mode = mode
        self.max_len = max_len
        self.length_fn = length_fn
        self.training = True
        self._length_sum = 0.0
        self._count = 0

    @property
    def running_mean(self) -> float:
        """Mean length of all training responses seen so far (NaN before the first)."""
        return self._length_sum / self._count if self._count else float("nan")

    def train(self, mode: bool = True) -> "Conciseness":
        self.training = bool(mode)
        return self

    def eval(self) -> "Conciseness":
        return self.train(False)

    def lengths(self, completions: Sequence[str], completion_tokens: Sequence[int] | None) -> np.ndarray:
        """Lengths [N]: `length_fn` of each text, else the policy-token counts (which must then be given)."""
        if self.length_fn is not None:
            return np.array([float(self.length_fn(c)) for c in completions], dtype=np.float64)
        if completion_tokens is None:
            raise ValueError("conciseness counts policy tokens: pass the completion_tokens column (the rollout "
                             "collector does), or build Conciseness(length_fn=...) to measure the text")
        lengths = np.asarray(completion_tokens, dtype=np.float64)
        if lengths.shape != (len(completions),):
            raise ValueError(f"completion_tokens has shape {lengths.shape}, expected ({len(completions)},)")
        return lengths

    def __call__(self, prompts: Sequence[str], completions: Sequence[str], *,
                 completion_tokens: Sequence[int] | None = None, **_: Any) -> np.ndarray:
        del prompts
        lengths = self.lengths(completions, completion_tokens)
        if lengths.size == 0:
            return lengths
        if self.training:
            self._length_sum += float(lengths.sum())
            self._count += int(lengths.size)
        if self.mode == "linear":
            return 1.0 - np.minimum(lengths, self.max_len) / self.max_len
        mean = self.running_mean if self._count else float(lengths.mean())
        return (lengths < mean).astype(np.float64)

    def state_dict(self) -> dict[str, float | int]:
        return {"length_sum": self._length_sum, "count": self._count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if set(state) != {"length_sum", "count"}:
            raise KeyError(f"conciseness state needs keys ['count', 'length_sum'], got {sorted(state)}")
        self._length_sum = float(state["length_sum"])
        self._count = int(state["count"])
