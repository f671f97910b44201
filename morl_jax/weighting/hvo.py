"""HVO: hypervolume scoring of each sample inside its group (after HVO, hypervolume optimisation for GRPO;
docs/algorithms.md).

The reference point of a group sits slightly below the group's nadir: z_k = min_g r_k - margin * range_g r_k -
1e-6 (or, with `reference`, one fixed point for every group, which makes the score absolute: it then prefers the
balanced region of the whole front, not of the group's spread). A sample's score is either the box it dominates alone, prod_k (r_ik - z_k) (`form="box"`, the default:
it ranks every sample, dominated ones included), or its exclusive contribution to the group's hypervolume
(`form="exclusive"`: 0 for samples another one dominates). Among samples with the same weighted sum, the more
balanced one scores higher. The HVO authors also constrain summary length; that belongs to the task's rewards.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp

from morl_jax.pareto import contributions
from morl_jax.weighting.base import (Scalarization, Signals, WeightOptimizer, check_length, check_num_objectives,
                                     check_vector, register, require)

NEEDS = frozenset({"rewards"})
FORMS = ("box", "exclusive")


class HvoState(NamedTuple):
    mean_score: jax.Array  # the latest batch's mean score (for logging)


def group_scores(rewards: jax.Array, group_size: int, form: str, margin: float,
                 reference: jax.Array | None = None) -> jax.Array:
    """Scores [N] of rewards [N, K] (maximised) within groups of `group_size` contiguous samples, against each
    group's own reference (below its nadir) or a fixed `reference` [K]."""
    r = rewards.reshape(-1, group_size, rewards.shape[1])
    if reference is None:
        low, high = r.min(axis=1, keepdims=True), r.max(axis=1, keepdims=True)
        ref = low - margin * (high - low) - 1e-6
    else:
        ref = jnp.broadcast_to(jnp.minimum(reference, r.min(axis=1)), r.shape[:1] + r.shape[2:])[:, None]
    if form == "box":
        return jnp.prod(r - ref, axis=-1).reshape(-1)
    return jax.vmap(contributions)(r, ref[:, 0]).reshape(-1)


def hvo(*, form: str = "box", margin: float = 0.01, reference: Sequence[float] | None = None) -> WeightOptimizer:
    """Per-sample hypervolume scores; uniform preference weights are logged. A fixed `reference` must lie below
    every reward (samples below it are clipped to it: score 0)."""
    if form not in FORMS:
        raise ValueError(f"hvo: unknown form {form!r}; known: {', '.join(FORMS)}")
    if margin < 0:
        raise ValueError(f"hvo: margin must be >= 0, got {margin}")
    ref = check_vector(reference, "reference", "hvo")

    def init(num_objectives: int) -> HvoState:
        check_num_objectives(num_objectives, "hvo")
        check_length(ref, num_objectives, "reference", "hvo")
        return HvoState(jnp.zeros((), jnp.float32))

    def update(signals: Signals, state: HvoState) -> tuple[Scalarization, HvoState]:
        require(signals, NEEDS, "hvo")
        if signals.group_size is None:
            raise ValueError("hvo: scores samples within their group; the signals carry no group_size")
        rewards = jnp.asarray(signals.rewards, jnp.float32)
        scores = group_scores(rewards, signals.group_size, form, margin,
                              None if ref is None else jnp.asarray(ref, jnp.float32))
        k = rewards.shape[1]
        return Scalarization(scores, jnp.full((k,), 1.0 / k)), HvoState(scores.mean())

    return WeightOptimizer(init, update, NEEDS, scalarizes=True)


register("hvo", hvo)
