"""Reward functions (`fn(prompts, completions, **columns) -> [N]`) and the RewardSet -> [N, K]."""

from morl_jax.rewards import markers
from morl_jax.rewards.conciseness import Conciseness
from morl_jax.rewards.peer import brevity, peer_accuracy
from morl_jax.rewards.registry import RewardFn, get_reward_fn, register_reward_fn, reward_fn_names
from morl_jax.rewards.reward_set import RewardFunctionError, RewardSet
from morl_jax.rewards.rule_based import accuracy, clarity

__all__ = [
    "Conciseness", "RewardFn", "RewardFunctionError", "RewardSet", "accuracy", "brevity",
    "clarity", "get_reward_fn", "markers", "peer_accuracy", "register_reward_fn",
    "reward_fn_names",
]
