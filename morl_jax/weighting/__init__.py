"""Reward-weight optimizers (optax-style `init` / `update(signals, state) -> (weights, state)`), post-processing
transforms, and the registry that names them."""

from morl_jax.weighting.base import (
    EVAL_SIGNALS,
    SIGNAL_FIELDS,
    WEIGHT_OPTIMIZERS,
    ChainState,
    Scalarization,
    Signals,
    WeightOptimizer,
    WeightTransform,
    chain,
    get_weight_optimizer,
    preference,
    register,
)
from morl_jax.weighting.conductor import ConductorState, conductor
from morl_jax.weighting.ctwa import CtwaState, ctwa
from morl_jax.weighting.fixed import FixedState, fixed
from morl_jax.weighting.gradient import GradientState, gradient
from morl_jax.weighting.hypervolume import (HypervolumeGradientState, HypervolumeState, hypervolume,
                                            hypervolume_gradient, normalised_hv_gradient)
from morl_jax.weighting.hvo import HvoState, hvo
from morl_jax.weighting.mgda import MgdaState, mgda, min_norm_weights
from morl_jax.weighting.saw import SawState, saw
from morl_jax.weighting.tchebycheff import TchebycheffState, tchebycheff
from morl_jax.weighting.transforms import WEIGHT_TRANSFORMS, ema, floor, parse_transform, simplex

__all__ = [
    "ConductorState", "CtwaState", "HvoState", "MgdaState", "TchebycheffState", "conductor", "ctwa", "hvo", "mgda",
    "min_norm_weights", "tchebycheff",
    "EVAL_SIGNALS", "SIGNAL_FIELDS", "WEIGHT_OPTIMIZERS", "WEIGHT_TRANSFORMS", "ChainState", "FixedState",
    "GradientState", "HypervolumeGradientState", "HypervolumeState", "SawState", "Scalarization", "Signals", "WeightOptimizer",
    "WeightTransform", "chain", "ema", "fixed", "floor", "get_weight_optimizer", "gradient", "hypervolume",
    "hypervolume_gradient", "normalised_hv_gradient", "parse_transform", "preference", "register", "saw", "simplex",
]
