"""Everything a run checkpoints, in one place, with save and restore.

Device item: policy parameters and optimiser state, the weight optimizer's state, the PRNG key. Host item
(`HostRecord`, JSON): the prompt iterator's position, the reward functions' running statistics, the
validator's Pareto archives. A resumed run therefore reproduces the uninterrupted one's numbers.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

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


@dataclasses.dataclass
class RunState:
    """The mutable state of a run: device pytrees (policy, weights, key) and the stateful host objects."""

    policy: UpdateState
    weights: Any
    key: jax.Array
    iterator: PromptIterator
    reward_set: RewardSet
    validator: Validator

    def device_tree(self) -> dict[str, Any]:
        return {"policy": self.policy, "weights": self.weights, "key": self.key}

    def host_record(self) -> HostRecord:
        return HostRecord(self.iterator.state(), self.reward_set.state_dict(), self.validator.state_dict())

    def save(self, ckpt: Checkpointer, step: int) -> None:
        """Write every piece at `step` (refused, writing nothing, when a device value is NaN or inf)."""
        ckpt.save(step, self.device_tree(), dataclasses.asdict(self.host_record()))

    def restore(self, ckpt: Checkpointer) -> int:
        """Load the latest checkpoint into this state (device values take this state's shardings); its step."""
        step, device, host = ckpt.restore(self.device_tree())
        self.policy = UpdateState(*device["policy"])
        self.weights, self.key = device["weights"], device["key"]
        record = HostRecord(**host)
        self.iterator.restore(record.iterator)
        self.reward_set.load_state_dict(record.rewards)
        self.validator.load_state_dict(record.validator)
        return step
