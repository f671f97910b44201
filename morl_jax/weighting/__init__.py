"""Reward-weight optimizers (optax-style `init` / `update`) and the registry that names them."""

from morl_jax.weighting.base import (
    SIGNAL_FIELDS,
    WEIGHT_OPTIMIZERS,
    Signals,
    WeightOptimizer,
    WeightState,
    get_weight_optimizer,
    register,
)
from morl_jax.weighting.fixed import fixed
from morl_jax.weighting.saw import saw

__all__ = [
    "SIGNAL_FIELDS",
    "WEIGHT_OPTIMIZERS",
    "Signals",
    "WeightOptimizer",
    "WeightState",
    "fixed",
    "get_weight_optimizer",
    "register",
    "saw",
]
