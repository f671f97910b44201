"""The weighting phase's inputs: build the `Signals` a weight optimizer `needs`, and nothing more.

Device signals come from this step's batch (rewards, sample mask, final hidden states), from one extra forward
and batched backward pass (the per-objective gradient Gram matrix, only when `gram` is needed) and from the
policy optimiser's schedule (learning rate). Validation signals come from the validator's signal archive on the
host (latest point, archive, reference, hypervolume gain); the loop validates for them only when needed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np
import optax
from flax import nnx

from morl_jax.evaluate import Validator
from morl_jax.rl.objective_gradients import Layers, ObjectiveGradients, fused_update_applies, objective_gradients
from morl_jax.rl.step import RolloutBatch, UpdateSettings
from morl_jax.rollout import Rollouts
from morl_jax.weighting import EVAL_SIGNALS, Signals


@dataclasses.dataclass(frozen=True)
class GramSettings:
    """Transformer layers [start, stop) whose gradients enter the Gram matrix (None: every parameter), the global
    norm each per-objective gradient is clipped to (the paper: 1), and whether to reuse the K gradients for the
    update when its loss is linear in the advantages."""

    layers: Layers = None
    clip_norm: float = 1.0
    fused_update: bool = True


class SignalBuilder:
    """Builds this step's `Signals` for an optimizer that reads `needs`."""

    def __init__(self, needs: frozenset[str], graphdef: nnx.GraphDef, settings: UpdateSettings, gram: GramSettings,
                 schedule: optax.Schedule, updates_per_step: int):
        self.needs, self.graphdef, self.settings, self.gram = needs, graphdef, settings, gram
        self.schedule, self.updates_per_step = schedule, updates_per_step
        self.fused = "gram" in needs and gram.fused_update and fused_update_applies(settings)

    @property
    def needs_validation(self) -> bool:
        return bool(self.needs & EVAL_SIGNALS)

    def learning_rate(self, step: int) -> float:
        """The policy optimiser's scheduled rate at RL step `step`'s first update."""
        return float(self.schedule((step - 1) * self.updates_per_step))

    def __call__(self, step: int, params: Any, batch: RolloutBatch, rollouts: Rollouts, validator: Validator | None,
                 ref_params: Any = None) -> tuple[Signals, ObjectiveGradients | None, dict[str, Any]]:
        """(signals, the per-objective gradients when computed, their diagnostics {name: [K] or scalar})."""
        needs, fields, gradients = self.needs, {}, None
        if "rewards" in needs:
            fields["rewards"] = batch.rewards
        if "mask" in needs:
            fields["mask"] = np.ones(batch.rewards.shape[0], bool)
        if "hidden" in needs:
            fields["hidden"] = rollouts.last_hidden
        if "learning_rate" in needs:
            fields["learning_rate"] = np.float32(self.learning_rate(step))
        if "gram" in needs:
            g = self.gram
            gradients = objective_gradients(params, batch, ref_params, graphdef=self.graphdef, settings=self.settings,
                                            layers=g.layers, clip_norm=g.clip_norm, keep_gradients=self.fused)
            fields["gram"] = gradients.gram
        if self.needs_validation:
            fields.update({k: v for k, v in validator.signal_fields().items() if k in needs})
        diagnostics = {} if gradients is None else {"gradient_norm": jax.device_get(gradients.norms)}
        return Signals(group_size=self.settings.group_size, **fields), gradients, diagnostics
