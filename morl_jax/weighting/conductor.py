"""A MAESTRO-style conductor (Zhao et al. 2026, arXiv 2601.07208; docs/algorithms.md): a contextual bandit that
picks a weight vector per sample.

A linear head on the completion's final hidden state h gives pi(a | h) = softmax((h W + b) / temperature) over a
discrete set of weight vectors (the actions; default: the simplex lattice with `divisions` steps). Each sample
draws its action, so the weights are per sample [N, K]; the head is then trained by one Adam step of REINFORCE
with the group-relative advantage of the sample's scalarised reward as the bandit's reward:
-mean_i A_i log pi(a_i | h_i). The action distribution's randomness comes from a key in the state.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from morl_jax.pareto import simplex_lattice
from morl_jax.weighting.base import Signals, WeightOptimizer, check_num_objectives, register, require

NEEDS = frozenset({"rewards", "hidden"})


class ConductorState(NamedTuple):
    head: jax.Array  # [D, A]
    bias: jax.Array  # [A]
    adam: optax.OptState
    key: jax.Array
    action_rate: jax.Array  # [A] share of the latest batch's samples that drew each action


def group_advantages(values: jax.Array, group_size: int) -> jax.Array:
    """(v - group mean) / (group std + 1e-6), the group-relative advantage of a scalar per sample."""
    v = values.reshape(-1, group_size)
    return ((v - v.mean(axis=1, keepdims=True)) / (v.std(axis=1, ddof=1, keepdims=True) + 1e-6)).reshape(-1)


def conductor(hidden_size: int, *, divisions: int = 2, learning_rate: float = 0.01, temperature: float = 1.0,
              seed: int = 0) -> WeightOptimizer:
    """A conductor over the simplex lattice of `divisions` (K=3, divisions=2: 6 weight vectors)."""
    if hidden_size < 1 or divisions < 1 or not learning_rate > 0 or not temperature > 0:
        raise ValueError("conductor: need hidden_size >= 1, divisions >= 1, learning_rate > 0, temperature > 0")
    tx = optax.adam(learning_rate)

    def actions(k: int) -> jax.Array:
        return jnp.asarray(simplex_lattice(k, divisions), jnp.float32)

    def init(num_objectives: int) -> ConductorState:
        k = check_num_objectives(num_objectives, "conductor")
        a = actions(k).shape[0]
        head, bias = jnp.zeros((hidden_size, a), jnp.float32), jnp.zeros((a,), jnp.float32)
        return ConductorState(head, bias, tx.init((head, bias)), jax.random.PRNGKey(seed), jnp.zeros((a,)))

    def log_policy(params, hidden):
        head, bias = params
        return jax.nn.log_softmax((hidden @ head + bias) / temperature, axis=-1)

    def update(signals: Signals, state: ConductorState) -> tuple[jax.Array, ConductorState]:
        require(signals, NEEDS, "conductor")
        if signals.group_size is None or signals.group_size < 2:
            raise ValueError("conductor: its bandit reward is group-relative; it needs group_size >= 2")
        rewards = jnp.asarray(signals.rewards, jnp.float32)
        hidden = jnp.asarray(signals.hidden, jnp.float32)
        if hidden.shape != (rewards.shape[0], hidden_size):
            raise ValueError(f"conductor: hidden must be [N, D=({rewards.shape[0]}, {hidden_size})], got {hidden.shape}")
        table = actions(rewards.shape[1])
        key, draw = jax.random.split(state.key)
        params = (state.head, state.bias)
        picks = jax.random.categorical(draw, log_policy(params, hidden), axis=-1)
        weights = table[picks]  # [N, K]
        advantage = group_advantages(jnp.sum(weights * rewards, axis=-1), signals.group_size)

        def loss(p):
            chosen = jnp.take_along_axis(log_policy(p, hidden), picks[:, None], axis=-1)[:, 0]
            return -jnp.mean(jax.lax.stop_gradient(advantage) * chosen)

        updates, adam = tx.update(jax.grad(loss)(params), state.adam, params)
        head, bias = optax.apply_updates(params, updates)
        rate = jnp.bincount(picks, length=table.shape[0]) / picks.shape[0]
        return weights, ConductorState(head, bias, adam, key, rate)

    return WeightOptimizer(init, update, NEEDS)


register("conductor", conductor)
