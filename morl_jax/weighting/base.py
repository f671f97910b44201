"""Reward-weight optimizers shaped like optax's GradientTransformation: `init(K)`, `update(state, signals)`.

A weight optimizer turns training signals (rewards, gradient Gram matrices, validation points, ...) into the
weights of the K objectives used by `morl_jax.rl.advantages`. Its state is a pytree of plain arrays, so it
is checkpointed with the rest of the training state, and `update` is jit-able.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import numpy as np


class WeightState(NamedTuple):
    """weights [K] (or [N, K] for per-sample optimizers), step (int32 updates so far), optimizer `extra`."""

    weights: jax.Array
    step: jax.Array
    extra: Any


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Signals:
    """What a weight optimizer may read; fields it does not need (see `WeightOptimizer.needs`) may be None.

    rewards [N, K] (groups of `group_size` contiguous rollouts), mask [N] (True = valid sample), gram [K, K]
    (per-objective policy-gradient Gram matrix), eval_point [K] (latest validation objective vector),
    hv_gain (scalar), hidden [N, D] (final hidden state per completion), learning_rate (scalar).
    `group_size` is static (a jit cache key); every other field is traced.
    """

    rewards: jax.Array | None = None
    group_size: int | None = dataclasses.field(default=None, metadata=dict(static=True))
    mask: jax.Array | None = None
    gram: jax.Array | None = None
    eval_point: jax.Array | None = None
    hv_gain: jax.Array | None = None
    hidden: jax.Array | None = None
    learning_rate: jax.Array | None = None


SIGNAL_FIELDS = frozenset(f.name for f in dataclasses.fields(Signals))


class WeightOptimizer(NamedTuple):
    """init: K -> state; update: (state, signals) -> state; needs: the Signals fields update reads."""

    init: Callable[[int], WeightState]
    update: Callable[[WeightState, Signals], WeightState]
    needs: frozenset[str]


def require(signals: Signals, needs: frozenset[str], optimizer: str) -> None:
    """Raise naming the optimizer and the fields when a needed signal is missing (None)."""
    missing = sorted(name for name in needs if getattr(signals, name) is None)
    if missing:
        raise ValueError(f"weight optimizer {optimizer!r} needs signals {missing}, which are None")


def check_num_objectives(num_objectives: int, optimizer: str) -> int:
    """Validate K given to `init`: a positive Python int."""
    if isinstance(num_objectives, bool) or not isinstance(num_objectives, (int, np.integer)) or num_objectives < 1:
        raise ValueError(f"weight optimizer {optimizer!r}: K must be a positive int, got {num_objectives!r}")
    return int(num_objectives)


WEIGHT_OPTIMIZERS: dict[str, Callable[..., WeightOptimizer]] = {}


def register(name: str, factory: Callable[..., WeightOptimizer]) -> Callable[..., WeightOptimizer]:
    """Add `factory(**kwargs) -> WeightOptimizer` to the registry under `name`; returns the factory."""
    if name in WEIGHT_OPTIMIZERS:
        raise ValueError(f"weight optimizer {name!r} is already registered")
    WEIGHT_OPTIMIZERS[name] = factory
    return factory


def get_weight_optimizer(name: str, **kwargs: Any) -> WeightOptimizer:
    """Build the registered weight optimizer `name`; an unknown name raises listing the known ones."""
    try:
        factory = WEIGHT_OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"unknown weight optimizer {name!r}; known: {', '.join(sorted(WEIGHT_OPTIMIZERS))}") from None
    optimizer = factory(**kwargs)
    unknown = optimizer.needs - SIGNAL_FIELDS
    if unknown:
        raise ValueError(f"weight optimizer {name!r} needs unknown signals {sorted(unknown)}")
    return optimizer
