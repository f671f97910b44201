"""Everything a run checkpoints, in one place, with save and restore.

Device item: policy parameters and optimiser state, the weight optimizer's state, the PRNG key. Host item
(`HostRecord`, JSON): the prompt iterator's position, the reward functions' running statistics, the
validator's Pareto archives. A resumed run therefore reproduces the uninterrupted one's numbers.

A policy that trains LoRA adapters only (`adapters_only`) checkpoints only the adapters and their optimizer state:
the frozen base weights come from the pretrained model (or the seed) every time the run starts.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
from flax import nnx

from morl_jax.checkpointing import Checkpointer
from morl_jax.evaluate import Validator
from morl_jax.rewards import RewardSet
from morl_jax.rl.step import UpdateState
from morl_jax.tasks import PromptIterator


@dataclasses.dataclass
class HostRecord:
    """The host side of a checkpoint: iterator position, reward-function state, validator archives."""

    iterator: dict[str, Any]
    rewards: dict[str, Any]
    validator: dict[str, Any]


def trainable(params: nnx.State, adapters_only: bool) -> nnx.State:
    """The parameters that train (and are checkpointed): all, or only the LoRA adapters."""
    return nnx.filter_state(params, nnx.LoRAParam) if adapters_only else params


def with_trainable(params: nnx.State, part: nnx.State, adapters_only: bool) -> nnx.State:
    """`params` with its trainable part replaced by `part` (as `trainable` selects it)."""
    return nnx.merge_state(params, part) if adapters_only else part


@dataclasses.dataclass
class RunState:
    """The mutable state of a run: device pytrees (policy, weights, key) and the stateful host objects."""

    policy: UpdateState
    weights: Any
    key: jax.Array
    iterator: PromptIterator
    reward_set: RewardSet
    validator: Validator
    adapters_only: bool = False

    def device_tree(self) -> dict[str, Any]:
        policy = UpdateState(trainable(self.policy.params, self.adapters_only), self.policy.opt_state)
        return {"policy": policy, "weights": self.weights, "key": self.key}

    def host_record(self) -> HostRecord:
        return HostRecord(self.iterator.state(), self.reward_set.state_dict(), self.validator.state_dict())

    def save(self, ckpt: Checkpointer, step: int) -> None:
        """Write every piece at `step` (refused, writing nothing, when a device value is NaN or inf)."""
        ckpt.save(step, self.device_tree(), dataclasses.asdict(self.host_record()))

    def restore(self, ckpt: Checkpointer, message: Callable[[str], None]) -> int:
        """Load the newest checkpoint that restores into this state (device values take this state's shardings);
        its step, 0 when there is none (a skipped damaged one is reported through `message`)."""
        restored = ckpt.restore_latest(self.device_tree(), message)
        if restored is None:
            return 0
        step, device, host = restored
        params, opt_state = device["policy"]
        self.policy = UpdateState(with_trainable(self.policy.params, params, self.adapters_only), opt_state)
        self.weights, self.key = device["weights"], device["key"]
        record = HostRecord(**host)
        self.iterator.restore(record.iterator)
        self.reward_set.load_state_dict(record.rewards)
        self.validator.load_state_dict(record.validator)
        return step
