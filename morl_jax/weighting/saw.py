"""SAW: stage-aware coefficient-of-variation weights (He et al. 2026, arXiv 2606.07705; ALGORITHMS.md §2).

Every step, over the whole batch (all prompts x rollouts, not per group):
    r'_k = r_k + offset_k,  CV_k = std(r'_k) / (|mean(r'_k)| + eps)  (unbiased std),
    w_k  = K * CV_k / (sum_j CV_j + eps).
A well-learned objective has homogeneous rewards (small CV) and loses weight to under-learned ones. There
is no smoothing: the weights depend only on the current batch, so call `update` on the step's rewards
before computing its advantages. The paper pairs it with GRPO at level="reward" ("grpo-h") and with GDPO
at level="advantage" ("gdpo-h"), with offsets (3.0, 0.0) for correctness in [-3, 3] and format in {0, 1}.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from morl_jax.weighting.base import Signals, WeightOptimizer, WeightState, check_num_objectives, register, require

NEEDS = frozenset({"rewards"})


@functools.partial(jax.jit, static_argnames=("normalize",))
def saw_weights(
    rewards: jax.Array, valid: jax.Array, offsets: jax.Array, eps: float, *, normalize: bool
) -> tuple[jax.Array, jax.Array]:
    """(weights [K], CV [K]) of rewards [N, K] over the valid samples [N]; the paper's formula (§2)."""
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
    correctness reward so that its mean is positive. Before the first update the weights are uniform. If
    every objective is constant over the batch all CVs are 0 and so are the weights (as in the paper's code).
    A mask in the signals restricts the statistics to the valid samples.
    """
    off = None
    if offsets is not None:
        off = np.asarray(offsets, dtype=np.float32)
        if off.ndim != 1 or not np.all(np.isfinite(off)):
            raise ValueError(f"saw offsets must be a 1-D sequence of finite numbers, got {offsets!r}")

    def init(num_objectives: int) -> WeightState:
        k = check_num_objectives(num_objectives, "saw")
        if off is not None and off.size != k:
            raise ValueError(f"saw offsets have length {off.size} but there are K={k} objectives")
        weights = jnp.full((k,), (1.0 if normalize else k) / k, jnp.float32)
        return WeightState(weights, jnp.zeros((), jnp.int32), {"cv": jnp.zeros((k,), jnp.float32)})

    def update(state: WeightState, signals: Signals) -> WeightState:
        require(signals, NEEDS, "saw")
        rewards = jnp.asarray(signals.rewards, jnp.float32)
        k = state.weights.shape[-1]
        if rewards.ndim != 2 or rewards.shape[1] != k:
            raise ValueError(f"saw: rewards must be [N, K={k}], got shape {rewards.shape}")
        if rewards.shape[0] < 2:
            raise ValueError("saw: the unbiased batch std needs N >= 2 samples")
        valid = np.ones(rewards.shape[:1], bool) if signals.mask is None else jnp.asarray(signals.mask, bool)
        if valid.shape != rewards.shape[:1]:
            raise ValueError(f"saw: mask must have shape ({rewards.shape[0]},), got {valid.shape}")
        offsets = np.zeros(k, np.float32) if off is None else off
        weights, cv = saw_weights(rewards, valid, offsets, eps, normalize=normalize)
        return WeightState(weights, state.step + 1, {"cv": cv})

    return WeightOptimizer(init, update, NEEDS)


register("saw", saw)
