"""Augmented Tchebycheff scalarisation with an online ideal point (Miettinen 1999; docs/algorithms.md).

For maximised rewards r_i [K], preference weights w and the ideal point z* (the running maximum of every
reward seen, plus `delta`), each sample's scalar reward is

    s_i = -max_k w_k (z*_k - r_ik) - rho * sum_k w_k (z*_k - r_ik).

Unlike a weighted sum it reaches Pareto-optimal points on non-convex parts of a front (every one is the
optimum of some w), and since it is per sample it changes the ranking inside a group, not only a scale. The
augmentation (rho > 0) removes weakly Pareto-optimal solutions.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp

from morl_jax.weighting.base import Scalarization, Signals, WeightOptimizer, check_num_objectives, register, require
from morl_jax.weighting.fixed import fixed

NEEDS = frozenset({"rewards"})


class TchebycheffState(NamedTuple):
    weights: jax.Array  # [K] the preference, on the simplex
    ideal: jax.Array  # [K] the largest reward of each objective seen so far (-inf before the first batch)


def tchebycheff(weights: Sequence[float] | None = None, *, rho: float = 0.01, delta: float = 0.01) -> WeightOptimizer:
    """Per-sample augmented Tchebycheff scores with preference `weights` (default uniform)."""
    if rho < 0 or delta < 0:
        raise ValueError(f"tchebycheff: rho and delta must be >= 0, got {rho}, {delta}")
    preference = fixed(weights)

    def init(num_objectives: int) -> TchebycheffState:
        k = check_num_objectives(num_objectives, "tchebycheff")
        return TchebycheffState(preference.init(k).weights, jnp.full((k,), -jnp.inf, jnp.float32))

    def update(signals: Signals, state: TchebycheffState) -> tuple[Scalarization, TchebycheffState]:
        require(signals, NEEDS, "tchebycheff")
        rewards = jnp.asarray(signals.rewards, jnp.float32)
        ideal = jnp.maximum(state.ideal, rewards.max(axis=0))
        gaps = state.weights * (ideal + delta - rewards)  # [N, K], >= 0
        scores = -gaps.max(axis=1) - rho * gaps.sum(axis=1)
        return Scalarization(scores, state.weights), TchebycheffState(state.weights, ideal)

    return WeightOptimizer(init, update, NEEDS, scalarizes=True)


register("tchebycheff", tchebycheff)
