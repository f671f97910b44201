"""Reward-weight optimizers (optax-style `init` / `update(signals, state) -> (weights, state)`), post-processing
transforms, and the registry that names them."""

from morl_jax.weighting.base import (
    EVAL_SIGNALS,
    SIGNAL_FIELDS,
    WEIGHT_OPTIMIZERS,
    ChainState,
    Signals,
    WeightOptimizer,
    WeightTransform,
    chain,
    get_weight_optimizer,
    register,
)
from morl_jax.weighting.fixed import FixedState, fixed
from morl_jax.weighting.gradient import GradientState, gradient
from morl_jax.weighting.hypervolume import (HypervolumeGradientState, HypervolumeState, hypervolume,
                                            hypervolume_gradient, normalised_hv_gradient)
from morl_jax.weighting.saw import SawState, saw
from morl_jax.weighting.transforms import WEIGHT_TRANSFORMS, ema, floor, parse_transform, simplex

__all__ = [
    "EVAL_SIGNALS", "SIGNAL_FIELDS", "WEIGHT_OPTIMIZERS", "WEIGHT_TRANSFORMS", "ChainState", "FixedState",
    "GradientState", "HypervolumeGradientState", "HypervolumeState", "SawState", "Signals", "WeightOptimizer",
    "WeightTransform", "chain", "ema", "fixed", "floor", "get_weight_optimizer", "gradient", "hypervolume",
    "hypervolume_gradient", "normalised_hv_gradient", "parse_transform", "register", "saw", "simplex",
]
