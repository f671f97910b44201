"""CTWA: covariance-targeted weight adaptation (Lu & Jiang 2026, arXiv 2602.06869; docs/algorithms.md).

Each step, inside every group, the covariance (or correlation) of each objective's reward with the training
signal, the group-normalised scalarised reward (GRPO's advantage: at the sampling parameters the PPO ratio is 1,
so this is the weight each completion gets in the update), averaged over groups, is tracked as an EMA:

    ema_k <- (1 - tau) ema_k + tau * cov_k,    log w_k <- log w_k + lr * relu(target_k - ema_k).

An objective whose reward has lost covariance with what the update reinforces gains weight. As in the
authors' code the weights are exp(log w) (not renormalised; chain `simplex` to keep them on the simplex) and
the first step initialises the EMA; here the statistics of a batch set the weights of that same batch.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from morl_jax.weighting.base import (Signals, WeightOptimizer, check_length, check_num_objectives, check_vector,
                                     register, require)
from morl_jax.weighting.fixed import fixed

NEEDS = frozenset({"rewards"})


class CtwaState(NamedTuple):
    log_weights: jax.Array  # [K]
    ema: jax.Array  # [K] EMA of the per-objective covariance (or correlation) with the training signal
    steps: jax.Array  # updates so far (the first initialises the EMA)


def group_covariance(rewards: jax.Array, score: jax.Array, group_size: int, correlation: bool,
                     eps: float) -> jax.Array:
    """Per-objective covariance [K] (or correlation) of rewards [N, K] with score [N] within groups, averaged over
    groups (population statistics, as the authors' numpy code)."""
    r = rewards.reshape(-1, group_size, rewards.shape[1])
    s = score.reshape(-1, group_size)
    rc = r - r.mean(axis=1, keepdims=True)
    sc = s - s.mean(axis=1, keepdims=True)
    cov = (rc * sc[..., None]).mean(axis=1)  # [B, K]
    if not correlation:
        return cov.mean(axis=0)
    denom = rc.std(axis=1) * sc.std(axis=1)[:, None]
    valid = denom > eps
    corr = jnp.where(valid, cov / jnp.where(valid, denom, 1.0), 0.0)
    return corr.sum(axis=0) / jnp.maximum(valid.sum(axis=0), 1)


def ctwa(weights: Sequence[float] | None = None, *, targets: float | Sequence[float] = 0.1, lr: float = 0.05,
         tau: float = 0.1, correlation: bool = False, eps: float = 1e-8) -> WeightOptimizer:
    """CTWA from starting `weights` (default uniform) with per-objective covariance `targets` (the authors used
    (0.15, 0.08, 0.08) for accuracy, conciseness, clarity with lr 0.05, tau 0.1)."""
    if not 0 < tau <= 1 or lr < 0:
        raise ValueError(f"ctwa: need 0 < tau <= 1 and lr >= 0, got tau={tau}, lr={lr}")
    start = fixed(weights)
    target_vector = check_vector(np.atleast_1d(targets), "targets", "ctwa")

    def init(num_objectives: int) -> CtwaState:
        k = check_num_objectives(num_objectives, "ctwa")
        if target_vector.size != 1:
            check_length(target_vector, k, "targets", "ctwa")
        zeros = jnp.zeros((k,), jnp.float32)
        return CtwaState(jnp.log(start.init(k).weights), zeros, jnp.zeros((), jnp.int32))

    def update(signals: Signals, state: CtwaState) -> tuple[jax.Array, CtwaState]:
        require(signals, NEEDS, "ctwa")
        if signals.group_size is None or signals.group_size < 2:
            raise ValueError("ctwa: needs groups (group_size >= 2) for its within-group covariances")
        rewards = jnp.asarray(signals.rewards, jnp.float32)
        g = signals.group_size
        scalar = (rewards @ jnp.exp(state.log_weights)).reshape(-1, g)
        score = (scalar - scalar.mean(axis=1, keepdims=True)) / (scalar.std(axis=1, ddof=1, keepdims=True) + 1e-6)
        stat = group_covariance(rewards, score.reshape(-1), g, correlation, eps)
        ema = jnp.where(state.steps > 0, (1.0 - tau) * state.ema + tau * stat, stat)
        log_weights = state.log_weights + lr * jax.nn.relu(jnp.asarray(target_vector, jnp.float32) - ema)
        return jnp.exp(log_weights), CtwaState(log_weights, ema, state.steps + 1)

    return WeightOptimizer(init, update, NEEDS)


register("ctwa", ctwa)
