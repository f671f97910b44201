"""Constant reward weights: the static-scalarisation baseline (`train_strategy.method=baseline`, §1)."""

from __future__ import annotations

from typing import Sequence

import jax.numpy as jnp
import numpy as np

from morl_jax.weighting.base import Signals, WeightOptimizer, WeightState, check_num_objectives, register


def fixed(weights: Sequence[float] | None = None) -> WeightOptimizer:
    """Constant weights, normalised to sum to 1 (so [1, 1] means [0.5, 0.5]); None means uniform 1/K.

    The weights must be a non-empty 1-D sequence of finite, non-negative numbers with a positive sum;
    `init(K)` checks that there are exactly K of them.
    """
    normalised = None
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or w.size == 0:
            raise ValueError(f"fixed weights must be a non-empty 1-D sequence, got shape {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"fixed weights must be finite and non-negative, got {w.tolist()}")
        if w.sum() <= 0:
            raise ValueError(f"fixed weights must not all be zero, got {w.tolist()}")
        normalised = w / w.sum()

    def init(num_objectives: int) -> WeightState:
        k = check_num_objectives(num_objectives, "fixed")
        if normalised is not None and normalised.size != k:
            raise ValueError(f"fixed weights have length {normalised.size} but there are K={k} objectives")
        w = np.full(k, 1.0 / k) if normalised is None else normalised
        return WeightState(jnp.asarray(w, jnp.float32), jnp.zeros((), jnp.int32), {})

    def update(state: WeightState, signals: Signals) -> WeightState:
        return state._replace(step=state.step + 1)

    return WeightOptimizer(init, update, frozenset())


register("fixed", fixed)
