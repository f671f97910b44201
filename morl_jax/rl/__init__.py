"""RL building blocks: advantage estimators and the PPO-clip policy loss (pure functions, jit-friendly).

The multi-objective entry point is `morl_jax.rl.advantages.advantages(name, rewards, weights, group_size)`;
the package keeps the name `advantages` for that module rather than shadowing it with the function.
"""

from morl_jax.rl import advantages, losses
from morl_jax.rl.advantages import (
    ADVANTAGE_ESTIMATORS,
    AdvantageEstimator,
    batch_whiten,
    drgrpo,
    gdpo,
    get_estimator,
    grpo,
    register_estimator,
    reinforce_pp,
    reinforce_pp_baseline,
    rloo,
    scalar_advantages,
)
from morl_jax.rl.losses import (
    KL_ESTIMATORS,
    LOSS_AGGREGATIONS,
    aggregate,
    kl_divergence,
    masked_entropy,
    policy_loss,
    register_aggregation,
)

__all__ = [
    "ADVANTAGE_ESTIMATORS",
    "KL_ESTIMATORS",
    "LOSS_AGGREGATIONS",
    "AdvantageEstimator",
    "advantages",
    "aggregate",
    "batch_whiten",
    "drgrpo",
    "gdpo",
    "get_estimator",
    "grpo",
    "kl_divergence",
    "losses",
    "masked_entropy",
    "policy_loss",
    "register_aggregation",
    "register_estimator",
    "reinforce_pp",
    "reinforce_pp_baseline",
    "rloo",
    "scalar_advantages",
]
