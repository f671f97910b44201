"""Gradient-based weight optimisation (the dynamic-reward-weighting paper's method B; docs/algorithms.md).

With g_k the policy gradient of objective k alone (each clipped to global norm 1 over a subset of layers) and
G_kj = <g_k, g_j> their Gram matrix (computed by the loop, `morl_jax.rl.objective_gradients`):
    s_k = sum_j G_kj   (how much a step along g_k also helps the sum of all objectives),
    w <- softmax(log w + (eta_t / lambda) * s),
a mirror-descent (exponentiated-gradient) step on the simplex, eta_t the policy optimiser's scheduled
learning rate at this step. With `accumulation_steps` > 1, s is averaged over that many steps first.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp

from morl_jax.weighting.base import Signals, WeightOptimizer, check_num_objectives, register, require
from morl_jax.weighting.fixed import fixed

NEEDS = frozenset({"gram", "learning_rate"})


class GradientState(NamedTuple):
    log_weights: jax.Array  # [K]
    score_sum: jax.Array  # [K] s summed over the steps since the last weight step
    score_count: jax.Array  # steps summed in score_sum
    score: jax.Array  # [K] the latest s (for logging)


def gradient(weights: Sequence[float] | None = None, *, reg: float = 1e-5,
             accumulation_steps: int = 1) -> WeightOptimizer:
    """The paper's update with regularisation `reg` (its lambda: 1e-5 for Qwen3-8B, 1e-4 for DeepSeek-7B).

    `weights` are the starting weights (the paper: balanced, i.e. uniform, the default).
    """
    if not reg > 0:
        raise ValueError(f"gradient: reg (lambda) must be > 0, got {reg}")
    if accumulation_steps < 1:
        raise ValueError(f"gradient: accumulation_steps must be >= 1, got {accumulation_steps}")
    start = fixed(weights)

    def init(num_objectives: int) -> GradientState:
        k = check_num_objectives(num_objectives, "gradient")
        zeros = jnp.zeros((k,), jnp.float32)
        return GradientState(jnp.log(start.init(k).weights), zeros, jnp.zeros((), jnp.int32), zeros)

    def update(signals: Signals, state: GradientState) -> tuple[jax.Array, GradientState]:
        require(signals, NEEDS, "gradient")
        k = state.log_weights.shape[0]
        gram = jnp.asarray(signals.gram, jnp.float32)
        if gram.shape != (k, k):
            raise ValueError(f"gradient: gram must be [K, K]=({k}, {k}), got {gram.shape}")
        score = gram.sum(axis=1)
        total, count = state.score_sum + score, state.score_count + 1
        due = count >= accumulation_steps
        step = jnp.asarray(signals.learning_rate, jnp.float32) / reg * total / count
        log_weights = jnp.where(due, jax.nn.log_softmax(state.log_weights + step), state.log_weights)
        new = GradientState(log_weights, jnp.where(due, 0.0, total), jnp.where(due, 0, count).astype(jnp.int32),
                            score)
        return jnp.exp(log_weights), new

    return WeightOptimizer(init, update, NEEDS)


register("gradient", gradient)
