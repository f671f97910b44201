"""Post-processing of weights, composed after an optimizer with `weighting.chain` (config: `weighting.post`).

    chain(gradient(), floor(0.05), ema(0.9))      # or in a config: weighting.post = ("floor:0.05", "ema:0.9")

Each transform keeps the weights' scale unless it says otherwise, so it also composes with per-sample weights
[N, K] and with the scale-only `hypervolume` optimizer.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from morl_jax.weighting.base import WeightTransform


def floor(min_weight: float) -> WeightTransform:
    """Mix towards uniform so every weight is at least `min_weight` times the weights' sum: w + f(sum(w) - K w).

    Keeps the sum; needs 0 <= min_weight <= 1/K (checked at init). Keeps every objective in play.
    """
    if not 0.0 <= min_weight < 1.0:
        raise ValueError(f"floor: min_weight must be in [0, 1), got {min_weight}")

    def init(num_objectives: int) -> tuple:
        if min_weight * num_objectives > 1.0:
            raise ValueError(f"floor: min_weight {min_weight} x K={num_objectives} objectives exceeds 1")
        return ()

    def update(weights: jax.Array, state: tuple) -> tuple[jax.Array, tuple]:
        k = weights.shape[-1]
        total = weights.sum(axis=-1, keepdims=True)
        return (1.0 - k * min_weight) * weights + min_weight * total, state

    return WeightTransform(init, update)


class EmaState(NamedTuple):
    average: jax.Array  # the running average (meaningless while count == 0)
    count: jax.Array


def ema(decay: float) -> WeightTransform:
    """Exponential moving average of the weights over steps: a_t = decay a_{t-1} + (1 - decay) w_t, a_1 = w_1.

    Smooths noisy per-batch weights (e.g. SAW's). Weights [K] only: a per-sample average has no meaning.
    """
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"ema: decay must be in [0, 1), got {decay}")

    def init(num_objectives: int) -> EmaState:
        return EmaState(jnp.zeros((num_objectives,), jnp.float32), jnp.zeros((), jnp.int32))

    def update(weights: jax.Array, state: EmaState) -> tuple[jax.Array, EmaState]:
        if weights.ndim != 1:
            raise ValueError(f"ema: averages weights [K] over steps; got per-sample weights {weights.shape}")
        average = jnp.where(state.count > 0, decay * state.average + (1.0 - decay) * weights, weights)
        return average, EmaState(average, state.count + 1)

    return WeightTransform(init, update)


def simplex() -> WeightTransform:
    """Divide by the sum (per sample for [N, K] weights), so the weights lie on the simplex; zeros stay zeros."""

    def update(weights: jax.Array, state: tuple) -> tuple[jax.Array, tuple]:
        total = weights.sum(axis=-1, keepdims=True)
        return jnp.where(total > 0, weights / jnp.where(total > 0, total, 1.0), weights), state

    return WeightTransform(lambda num_objectives: (), update)


WEIGHT_TRANSFORMS: dict[str, Callable[..., WeightTransform]] = {"floor": floor, "ema": ema, "simplex": simplex}


def parse_transform(spec: str) -> WeightTransform:
    """'floor:0.05' -> floor(0.05); 'simplex' -> simplex(). Unknown names raise listing the known ones."""
    name, _, arg = spec.partition(":")
    if name not in WEIGHT_TRANSFORMS:
        raise ValueError(f"unknown weight transform {name!r} in {spec!r}; known: {', '.join(sorted(WEIGHT_TRANSFORMS))}")
    try:
        return WEIGHT_TRANSFORMS[name](*([float(arg)] if arg else []))
    except TypeError as e:
        raise ValueError(f"weight transform {spec!r}: {e}") from None
