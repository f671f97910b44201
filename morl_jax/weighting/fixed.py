"""Constant reward weights: the static-scalarisation baseline (the paper's `train_strategy.method=baseline`)."""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from morl_jax.weighting.base import Signals, WeightOptimizer, check_length, check_num_objectives, check_vector, register


class FixedState(NamedTuple):
    weights: jax.Array  # [K], on the simplex


def fixed(weights: Sequence[float] | None = None) -> WeightOptimizer:
    """Constant weights, normalised to sum to 1 (so [1, 1] means [0.5, 0.5]); None means uniform 1/K.

    The weights must be a non-empty 1-D sequence of finite, non-negative numbers with a positive sum;
    `init(K)` checks that there are exactly K of them.
    """
    w = check_vector(weights, "weights", "fixed", nonnegative=True)
    if w is not None and w.sum() <= 0:
        raise ValueError(f"fixed weights must not all be zero, got {w.tolist()}")

    def init(num_objectives: int) -> FixedState:
        k = check_num_objectives(num_objectives, "fixed")
        check_length(w, k, "weights", "fixed")
        return FixedState(jnp.asarray(np.full(k, 1.0 / k) if w is None else w / w.sum(), jnp.float32))

    def update(signals: Signals, state: FixedState) -> tuple[jax.Array, FixedState]:
        return state.weights, state

    return WeightOptimizer(init, update, frozenset())


register("fixed", fixed)
