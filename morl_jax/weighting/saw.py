"""SAW: stage-aware coefficient-of-variation weights (He et al. 2026, arXiv 2606.07705; docs/algorithms.md).

Every step, over the whole batch (all prompts x rollouts, not per group):
    r'_k = r_k + offset_k,  CV_k = std(r'_k) / (|mean(r'_k)| + eps)  (unbiased std),
    w_k  = K * CV_k / (sum_j CV_j + eps).
A well-learned objective has homogeneous rewards (small CV) and loses weight to under-learned ones. There
is no smoothing: the weights depend only on the current batch (chain an `ema` for smoothing). The paper
pairs it with GRPO at level="reward" ("grpo-h") and with GDPO at level="advantage" ("gdpo-h"), with offsets
(3.0, 0.0) for correctness in [-3, 3] and format in {0, 1}.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from morl_jax.weighting.base import (Signals, WeightOptimizer, check_length, check_num_objectives, check_vector,
                                     register, require)

NEEDS = frozenset({"rewards"})


class SawState(NamedTuple):
    cv: jax.Array  # [K] coefficient of variation of each objective in the last batch


def saw_weights(rewards: jax.Array, valid: jax.Array, offsets: jax.Array, eps: float, *, normalize: bool
                ) -> tuple[jax.Array, jax.Array]:
    """(weights [K], CV [K]) of rewards [N, K] over the valid samples [N]; the paper's formula."""
    shifted = rewards + offsets
    valid = valid[:, None]
    count = valid.sum().astype(rewards.dtype)
    mean = jnp.where(valid, shifted, 0.0).sum(axis=0) / jnp.maximum(count, 1.0)
    var = jnp.where(valid, (shifted - mean) ** 2, 0.0).sum(axis=0) / jnp.maximum(count - 1.0, 1.0)
    cv = jnp.sqrt(var) / (jnp.abs(mean) + eps)
    scale = 1.0 if normalize else rewards.shape[1]
    return scale * cv / (cv.sum() + eps), cv


def saw(offsets: Sequence[float] | None = None, *, normalize: bool = False, eps: float = 1e-8) -> WeightOptimizer:
    """SAW weights. By the paper's convention they sum to K; `normalize=True` divides them by K (simplex).

    `offsets` [K] (default zeros) are added to the rewards before the statistics, as the paper adds 3 to its
    correctness reward so that its mean is positive. If every objective is constant over the batch all CVs
    are 0 and so are the weights (as in the paper's code). A mask in the signals restricts the statistics to
    the valid samples.
    """
    off = check_vector(offsets, "offsets", "saw")

    def init(num_objectives: int) -> SawState:
        k = check_num_objectives(num_objectives, "saw")
        check_length(off, k, "offsets", "saw")
        return SawState(jnp.zeros((k,), jnp.float32))

    def update(signals: Signals, state: SawState) -> tuple[jax.Array, SawState]:
        require(signals, NEEDS, "saw")
        rewards = jnp.asarray(signals.rewards, jnp.float32)
        k = state.cv.shape[-1]
        if rewards.ndim != 2 or rewards.shape[1] != k:
            raise ValueError(f"saw: rewards must be [N, K={k}], got shape {rewards.shape}")
        if rewards.shape[0] < 2:
            raise ValueError("saw: the unbiased batch std needs N >= 2 samples")
        valid = np.ones(rewards.shape[:1], bool) if signals.mask is None else jnp.asarray(signals.mask, bool)
        if valid.shape != rewards.shape[:1]:
            raise ValueError(f"saw: mask must have shape ({rewards.shape[0]},), got {valid.shape}")
        offsets = jnp.asarray(np.zeros(k) if off is None else off, jnp.float32)
        weights, cv = saw_weights(rewards, valid, offsets, eps, normalize=normalize)
        return weights, SawState(cv)

    return WeightOptimizer(init, update, NEEDS)


register("saw", saw)
