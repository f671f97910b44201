"""Reward functions (`fn(prompts, completions, **columns) -> [N]`) and the RewardSet -> [N, K].

Built in: the arithmetic benchmark's `accuracy` / `clarity`, the peer workload's, the dynamic-weighting paper's
math rewards (`math_accuracy`, `math_clarity`, `Conciseness` in policy tokens), GDPO's GSM8K rewards
(`gdpo_*`), ToolRL's tool-calling rewards (`toolrl_*`), a reasoning-gym dataset's scorer and learned reward heads
(`reward_head`, trained with `python -m morl_jax.rewards.learned`). A config names
any of them, or any importable `package.module:function`, through `build_reward_set` (see `spec`).
"""

from morl_jax.rewards import markers
from morl_jax.rewards.conciseness import Conciseness
from morl_jax.rewards.gdpo import gdpo_correctness, gdpo_format, gdpo_integer
from morl_jax.rewards.learned import RewardHeadReward
from morl_jax.rewards.math import last_boxed, math_accuracy, math_clarity
from morl_jax.rewards.peer import brevity, peer_accuracy
from morl_jax.rewards.reasoning_gym import reasoning_gym_score
from morl_jax.rewards.registry import RewardFn, get_reward_fn, register_reward_fn, reward_fn_names
from morl_jax.rewards.reward_set import RewardFunctionError, RewardSet
from morl_jax.rewards.rule_based import accuracy, clarity
from morl_jax.rewards.spec import RewardSpec, build_reward_set, import_object, parse_specs
from morl_jax.rewards.toolrl import toolrl_correctness, toolrl_format

__all__ = [
    "Conciseness", "RewardFn", "RewardHeadReward", "RewardFunctionError", "RewardSet", "RewardSpec", "accuracy", "brevity",
    "build_reward_set", "clarity", "gdpo_correctness", "gdpo_format", "gdpo_integer", "get_reward_fn",
    "import_object", "last_boxed", "markers", "math_accuracy", "math_clarity", "parse_specs", "peer_accuracy",
    "reasoning_gym_score", "register_reward_fn", "reward_fn_names", "toolrl_correctness", "toolrl_format",
]
