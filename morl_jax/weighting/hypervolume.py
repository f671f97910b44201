"""Weights guided by the hypervolume of the validation archive (docs/algorithms.md, "Hypervolume-guided").

`hypervolume` is the dynamic-reward-weighting paper's method as its code runs it: fixed weights times a
meta-reward multiplier m = low + span * tanh(max(dHV, 0)) from the hypervolume the latest validation point
added to the archive (reference: the initial model's point). m scales every reward of the step alike, so under
an estimator that is invariant to the reward scale (GRPO with std normalisation, REINFORCE++ whitening, GDPO)
it changes nothing: `scale_only` makes the config refuse that pairing unless the user opts in.

`hypervolume_gradient` adapts the weights themselves: mirror ascent on the simplex along the gradient of the
archive's hypervolume with respect to the latest validation point (objectives normalised by the archive's
spread), so the objective whose improvement would grow the front most gains weight.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp

from morl_jax.pareto import hypervolume_improvement
from morl_jax.weighting.base import Signals, WeightOptimizer, check_num_objectives, register, require
from morl_jax.weighting.fixed import fixed


class HypervolumeState(NamedTuple):
    base: jax.Array  # [K] the fixed weights
    multiplier: jax.Array  # the meta-reward multiplier of the latest validation (1 before the first)
    seen: jax.Array  # eval_count of the validation it came from


def hypervolume(weights: Sequence[float] | None = None, *, low: float = 0.5, span: float = 1.5) -> WeightOptimizer:
    """Fixed weights x (low + span * tanh(max(hv_gain, 0))), recomputed at every fresh validation.

    The paper's constants are low = 0.5, span = 1.5, so m is in [0.5, 2): a validation that did not grow the
    front halves the next step's rewards. `hv_gain` is in the objectives' own units (as in the paper).
    """
    base = fixed(weights)
    needs = frozenset({"hv_gain", "eval_count"})

    def init(num_objectives: int) -> HypervolumeState:
        return HypervolumeState(base.init(num_objectives).weights, jnp.ones((), jnp.float32),
                                jnp.zeros((), jnp.int32))

    def update(signals: Signals, state: HypervolumeState) -> tuple[jax.Array, HypervolumeState]:
        require(signals, needs, "hypervolume")
        fresh = signals.eval_count > state.seen
        gain = jnp.maximum(jnp.asarray(signals.hv_gain, jnp.float32), 0.0)
        multiplier = jnp.where(fresh, low + span * jnp.tanh(gain), state.multiplier)
        seen = jnp.maximum(state.seen, signals.eval_count).astype(jnp.int32)
        return state.base * multiplier, HypervolumeState(state.base, multiplier, seen)

    return WeightOptimizer(init, update, needs, scale_only=True)


class HypervolumeGradientState(NamedTuple):
    log_weights: jax.Array  # [K]
    direction: jax.Array  # [K] the latest normalised hypervolume gradient (sums to 1)
    seen: jax.Array  # eval_count of the validation it came from


def normalised_hv_gradient(point: jax.Array, front: jax.Array, front_mask: jax.Array, reference: jax.Array,
                           margin: float, archive: bool = True) -> jax.Array:
    """Gradient [K] of HV(front + {point}) w.r.t. the point (of HV({point}) alone when not `archive`), with
    objectives scaled to the archive's spread.

    In maximisation form. Coordinates become (x - reference) / spread, spread_k = the largest |x_k - ref_k|
    over the archive and the point. A point that the archive dominates, or that does not beat the reference,
    has gradient 0; it is first moved by the smallest uniform shift that puts it on the front strictly above
    the reference (plus `margin`), so the gradient names the objectives whose improvement would then grow the
    front most.
    """
    dtype = jnp.float32
    point, front, reference = (jnp.asarray(x, dtype) for x in (point, front, reference))
    mask = jnp.asarray(front_mask, bool)
    spread = jnp.maximum(jnp.abs(point - reference),
                         jnp.max(jnp.where(mask[:, None], jnp.abs(front - reference), 0.0), axis=0))
    spread = jnp.where(spread > 0, spread, 1.0)
    z = (point - reference) / spread
    f = (front - reference) / spread
    if not archive:
        mask = jnp.zeros_like(mask)
    # p + d*1 is weakly dominated by q iff d <= min_k (q_k - p_k): beat every q, and the reference (0).
    behind_front = jnp.max(jnp.where(mask, jnp.min(f - z, axis=1), -jnp.inf))
    shift = jnp.maximum(0.0, jnp.maximum(behind_front, -jnp.min(z)) + margin)
    zeros = jnp.zeros_like(reference)
    gain = lambda p: hypervolume_improvement(f, p[None], zeros, mask)  # noqa: E731
    return jax.grad(gain)(z + shift)


def hypervolume_gradient(weights: Sequence[float] | None = None, *, step_size: float = 0.5,
                         margin: float = 0.02, archive: bool = True) -> WeightOptimizer:
    """w <- softmax(log w + step_size * g / sum(g)), g = `normalised_hv_gradient`, at every fresh validation.

    `weights` are the initial weights (default uniform). The gradient is normalised to sum 1, so `step_size`
    is the largest change of a log-weight per validation.
    """
    if not step_size > 0:
        raise ValueError(f"hypervolume_gradient: step_size must be > 0, got {step_size}")
    start = fixed(weights)
    needs = frozenset({"eval_point", "eval_front", "eval_front_mask", "eval_reference", "eval_count"})

    def init(num_objectives: int) -> HypervolumeGradientState:
        k = check_num_objectives(num_objectives, "hypervolume_gradient")
        return HypervolumeGradientState(jnp.log(start.init(k).weights), jnp.zeros((k,), jnp.float32),
                                        jnp.zeros((), jnp.int32))

    def update(signals: Signals, state: HypervolumeGradientState) -> tuple[jax.Array, HypervolumeGradientState]:
        require(signals, needs, "hypervolume_gradient")
        fresh = signals.eval_count > state.seen
        g = normalised_hv_gradient(signals.eval_point, signals.eval_front, signals.eval_front_mask,
                                   signals.eval_reference, margin, archive)
        direction = g / jnp.maximum(g.sum(), 1e-12)
        log_weights = jax.nn.log_softmax(state.log_weights + jnp.where(fresh, step_size, 0.0) * direction)
        new = HypervolumeGradientState(log_weights, jnp.where(fresh, direction, state.direction),
                                       jnp.maximum(state.seen, signals.eval_count).astype(jnp.int32))
        return jnp.exp(log_weights), new

    return WeightOptimizer(init, update, needs)


register("hypervolume", hypervolume)
register("hypervolume_gradient", hypervolume_gradient)
