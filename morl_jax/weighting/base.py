"""Reward-weight optimizers shaped like optax's GradientTransformation: `init(K) -> state`,
`update(signals, state) -> (weights, state)`.

A weight optimizer turns training signals (batch rewards, the per-objective gradient Gram matrix, validation
points and the archive's hypervolume, hidden states, the learning rate) into the weights of the K objectives
that `morl_jax.rl.advantages` uses. Its state is a typed pytree of arrays (checkpointed with the rest of the
run) and `update` is jit-able. `needs` names the `Signals` fields `update` reads; the training loop computes
those and nothing more.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple, Sequence

import jax
import numpy as np


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Signals:
    """What a weight optimizer may read; fields it does not need (see `WeightOptimizer.needs`) may be None.

    Batch (device): rewards [N, K] (the G rollouts of a prompt contiguous), mask [N] (True = valid sample),
    hidden [N, D] (final hidden state per completion), gram [K, K] (Gram matrix of the per-objective policy
    gradients), learning_rate (the policy optimiser's scheduled rate at this step).
    Validation (host, in maximisation form: minimised objectives negated): eval_point [K] (latest validation
    point), eval_front [M, K] with eval_front_mask [M] (the archive before eval_point joined it, padded),
    eval_reference [K] (the archive's hypervolume reference), hv_gain (hypervolume the latest point added),
    eval_count (number of validations so far: a new value marks fresh validation signals).
    `group_size` is static (part of a compiled function's identity); every other field is traced.
    """

    rewards: jax.Array | None = None
    group_size: int | None = dataclasses.field(default=None, metadata=dict(static=True))
    mask: jax.Array | None = None
    hidden: jax.Array | None = None
    gram: jax.Array | None = None
    learning_rate: jax.Array | None = None
    eval_point: jax.Array | None = None
    eval_front: jax.Array | None = None
    eval_front_mask: jax.Array | None = None
    eval_reference: jax.Array | None = None
    hv_gain: jax.Array | None = None
    eval_count: jax.Array | None = None


SIGNAL_FIELDS = frozenset(f.name for f in dataclasses.fields(Signals))
EVAL_SIGNALS = frozenset({"eval_point", "eval_front", "eval_front_mask", "eval_reference", "hv_gain", "eval_count"})
"""Signals that come from a validation pass; needing any of them makes the loop validate for the optimizer."""


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Scalarization:
    """A non-linear scalarisation's output: the scalar reward of every sample [N], which replaces the weighted
    sum at the reward level (Tchebycheff, hypervolume scoring), and the preference weights [K] it was built
    from (logged as the step's weights)."""

    rewards: jax.Array
    weights: jax.Array


Weights = jax.Array | Scalarization  # [K], per-sample [N, K], or a scalarisation


def preference(weights: Weights) -> jax.Array:
    """The weights to log: [K] or [N, K] as given, a scalarisation's preference weights."""
    return weights.weights if isinstance(weights, Scalarization) else weights


class WeightOptimizer(NamedTuple):
    """init: K -> state; update: (signals, state) -> (weights, state); needs: the Signals it reads.

    The weights are [K], per sample [N, K], or, when `scalarizes`, a `Scalarization` (usable at the reward
    level only: a scalar reward per sample has no per-objective advantages to combine). `scale_only` marks
    optimizers that only rescale fixed weights by a common factor: under an advantage estimator that is
    invariant to the reward scale their effect is nil (the config refuses that pairing unless asked to allow it).
    """

    init: Callable[[int], Any]
    update: Callable[[Signals, Any], tuple[Weights, Any]]
    needs: frozenset[str]
    scale_only: bool = False
    scalarizes: bool = False


class WeightTransform(NamedTuple):
    """Post-processing of weights, composed with `chain`: init: K -> state; update: (weights, state) -> same."""

    init: Callable[[int], Any]
    update: Callable[[jax.Array, Any], tuple[jax.Array, Any]]


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


def check_vector(values: Any, name: str, optimizer: str, *, nonnegative: bool = False) -> np.ndarray | None:
    """A finite 1-D float vector from a config value (None stays None); raises naming the optimizer."""
    if values is None:
        return None
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)) or (nonnegative and np.any(v < 0)):
        kind = "finite, non-negative" if nonnegative else "finite"
        raise ValueError(f"{optimizer} {name} must be a non-empty 1-D sequence of {kind} numbers, got {values!r}")
    return v


def check_length(vector: np.ndarray | None, k: int, name: str, optimizer: str) -> None:
    if vector is not None and vector.size != k:
        raise ValueError(f"{optimizer} {name} have length {vector.size} but there are K={k} objectives")


class ChainState(NamedTuple):
    """The optimizer's state and one state per post-processing transform, in order."""

    optimizer: Any
    transforms: tuple[Any, ...]


def chain(optimizer: WeightOptimizer, *transforms: WeightTransform) -> WeightOptimizer:
    """The optimizer's weights passed through each transform in turn (like `optax.chain`); same `needs`."""
    if not transforms:
        return optimizer
    if optimizer.scalarizes:
        raise ValueError("weight transforms post-process weights, and this optimizer returns a scalarisation")

    def init(num_objectives: int) -> ChainState:
        return ChainState(optimizer.init(num_objectives), tuple(t.init(num_objectives) for t in transforms))

    def update(signals: Signals, state: ChainState) -> tuple[jax.Array, ChainState]:
        weights, inner = optimizer.update(signals, state.optimizer)
        states = []
        for transform, transform_state in zip(transforms, state.transforms):
            weights, transform_state = transform.update(weights, transform_state)
            states.append(transform_state)
        return weights, ChainState(inner, tuple(states))

    return optimizer._replace(init=init, update=update)


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


def state_metrics(state: Any, names: Sequence[str]) -> dict[str, float]:
    """Loggable numbers of an optimizer state: `weighting/<field>` for scalars, `weighting/<field>/<objective>`
    for [K] vectors (fields of nested states are joined with '.'; other shapes are skipped)."""
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        field = ".".join(str(getattr(p, "name", getattr(p, "key", getattr(p, "idx", p)))) for p in path)
        value = np.asarray(leaf)
        if value.ndim == 0:
            out[f"weighting/{field}"] = float(value)
        elif value.shape == (len(names),):
            out.update({f"weighting/{field}/{n}": float(v) for n, v in zip(names, value)})
    return out
