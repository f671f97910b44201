"""The one optax builder for every trained part (RL policy, SFT warm start, reward heads).

`OptimizerSettings` is frozen and hashable, so it can be a static argument of a jit'd step: the step builds
its optax chain from it inside the trace, and two runs with equal settings share one compilation.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import optax
from flax import nnx

SCHEDULES = ("constant", "linear", "cosine")


@dataclasses.dataclass(frozen=True)
class OptimizerSettings:
    """Adam(W) after optional global-norm clipping, with a linear warm-up then a constant/linear/cosine decay.

    `total_steps` counts optimizer updates (warm-up included); a decaying schedule reaches
    `end_factor * learning_rate` at the end. `weight_decay` > 0 makes it AdamW (decoupled decay), 0 plain Adam.
    """

    learning_rate: float = 1e-3
    schedule: str = "constant"
    warmup_steps: int = 0
    total_steps: int = 1
    end_factor: float = 0.0
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    grad_clip: float = 1.0  # 0 disables clipping
    adapters_only: bool = False  # update only LoRA adapters (nnx.LoRAParam): no state, no update for other weights

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; known: {', '.join(SCHEDULES)}")
        if not self.learning_rate > 0 or self.warmup_steps < 0 or self.total_steps < 1 or self.grad_clip < 0:
            raise ValueError(f"invalid optimizer settings {self}")


def learning_rate_schedule(s: OptimizerSettings) -> optax.Schedule:
    """The learning rate at each optimizer update count."""
    warmup = min(s.warmup_steps, s.total_steps - 1)
    decay_steps = max(1, s.total_steps - warmup)
    end = s.end_factor * s.learning_rate
    body = {
        "constant": optax.constant_schedule(s.learning_rate),
        "linear": optax.linear_schedule(s.learning_rate, end, decay_steps),
        "cosine": optax.cosine_decay_schedule(s.learning_rate, decay_steps, alpha=s.end_factor),
    }[s.schedule]
    if not warmup:
        return body
    return optax.join_schedules([optax.linear_schedule(0.0, s.learning_rate, warmup), body], [warmup])


def build_optimizer(s: OptimizerSettings) -> optax.GradientTransformation:
    """The optax chain the settings describe."""
    schedule = learning_rate_schedule(s)
    if s.weight_decay:
        adam = optax.adamw(schedule, b1=s.b1, b2=s.b2, eps=s.eps, weight_decay=s.weight_decay)
    else:
        adam = optax.adam(schedule, b1=s.b1, b2=s.b2, eps=s.eps)
    tx = optax.chain(optax.clip_by_global_norm(s.grad_clip), adam) if s.grad_clip else adam
    if not s.adapters_only:
        return tx
    return optax.multi_transform({"adapter": tx, "frozen": optax.set_to_zero()}, adapter_labels)


def adapter_labels(params: Any) -> Any:
    """"adapter" for every LoRA parameter of an nnx State, "frozen" for the rest (multi_transform's labels)."""
    return jax.tree.map(lambda v: "adapter" if isinstance(v, nnx.LoRAParam) else "frozen", params,
                        is_leaf=lambda x: isinstance(x, nnx.Variable))
