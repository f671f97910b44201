"""The pure RL update: rewards [N, K] -> weights -> advantages -> PPO-clip epochs over minibatches.

`make_update(...)` closes over the static structure (model graphdef, optax transformation, weight optimizer,
loss settings) and returns one function of pytrees, compiled once with `jax.jit`. Rollouts are sampled
before it (models.sampling) and rewards are computed on the host in between.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from morl_jax.models import token_logprobs
from morl_jax.rl.advantages import advantages
from morl_jax.rl.losses import masked_entropy, policy_loss
from morl_jax.weighting import Signals, WeightOptimizer, WeightState


class RolloutBatch(NamedTuple):
    """One rollout on device: tokens [N, P+C] = left-padded prompt ++ completion, attention_mask [N, P+C],
    completion_mask [N, C], behaviour log-probs [N, C], rewards [N, K] (raw, per objective)."""

    tokens: jax.Array
    attention_mask: jax.Array
    completion_mask: jax.Array
    old_logprobs: jax.Array
    rewards: jax.Array


@dataclasses.dataclass(frozen=True)
class UpdateSettings:
    """Static settings of the update (hashable: part of the compiled function's identity)."""

    estimator: str = "grpo"
    level: str = "reward"
    eps: float | None = None
    group_size: int = 8
    epochs: int = 1
    minibatches: int = 1
    clip_low: float = 0.2
    clip_high: float = 0.28
    dual_clip: float | None = None
    aggregation: str = "token-mean"
    kl_coef: float = 0.0
    kl_estimator: str = "k3"
    temperature: float = 1.0
    max_length: float | None = None  # Dr.GRPO's constant for seq-mean-token-sum-norm (the generation limit)


class UpdateState(NamedTuple):
    """Everything the update changes: policy parameters, optimiser state, weight-optimiser state."""

    params: Any
    opt_state: Any
    weights: WeightState


def _minibatch_order(key: jax.Array, n: int, settings: UpdateSettings) -> jax.Array:
    """[epochs, minibatches, n // minibatches] sample indices; shuffled per epoch unless one pass of one batch."""
    size = n // settings.minibatches
    if settings.epochs == 1 and settings.minibatches == 1:
        return jnp.arange(n)[None, None]
    keys = jax.random.split(key, settings.epochs)
    perms = jax.vmap(lambda k: jax.random.permutation(k, n))(keys)
    return perms.reshape(settings.epochs, settings.minibatches, size)


def make_update(graphdef: nnx.GraphDef, tx: optax.GradientTransformation, weight_opt: WeightOptimizer,
                settings: UpdateSettings) -> Callable[..., tuple[UpdateState, dict[str, jax.Array]]]:
    """update(state, batch, key, ref_params=None) -> (state', metrics); pure and jit-able.

    The weight optimizer sees this batch's rewards first; its weights then scalarise the rewards (or the
    per-objective advantages) for every minibatch. With kl_coef = 0 there is no reference forward pass.
    """
    use_kl = settings.kl_coef > 0

    def completion_logprobs(params, tokens, attention_mask, prompt_len, with_entropy):
        model = nnx.merge(graphdef, params)
        return token_logprobs(model, tokens, attention_mask, start=prompt_len - 1,
                              temperature=settings.temperature, with_entropy=with_entropy)

    def loss_fn(params, mb, prompt_len):
        logp, entropy = completion_logprobs(params, mb["tokens"], mb["attention_mask"], prompt_len, True)
        loss, metrics = policy_loss(
            logp, mb["old_logprobs"], mb["advantages"], mb["completion_mask"],
            clip_low=settings.clip_low, clip_high=settings.clip_high, dual_clip=settings.dual_clip,
            aggregation=settings.aggregation, max_length=settings.max_length or float(mb["completion_mask"].shape[1]),
            ref_logprobs=mb.get("ref_logprobs"), kl_coef=settings.kl_coef, kl_estimator=settings.kl_estimator)
        metrics["entropy"] = masked_entropy(jax.lax.stop_gradient(entropy), mb["completion_mask"])
        return loss, metrics

    def update(state: UpdateState, batch: RolloutBatch, key: jax.Array, ref_params: Any = None):
        n, completion_len = batch.completion_mask.shape
        prompt_len = batch.tokens.shape[1] - completion_len
        weight_state = weight_opt.update(state.weights, Signals(rewards=batch.rewards,
                                                                group_size=settings.group_size))
        adv = advantages(settings.estimator, batch.rewards, weight_state.weights, settings.group_size,
                         level=settings.level, eps=settings.eps)
        data = {"tokens": batch.tokens, "attention_mask": batch.attention_mask,
                "completion_mask": batch.completion_mask, "old_logprobs": batch.old_logprobs, "advantages": adv}
        if use_kl:
            data["ref_logprobs"] = jax.lax.stop_gradient(
                completion_logprobs(ref_params, batch.tokens, batch.attention_mask, prompt_len, False))

        def one_minibatch(carry, idx):
            params, opt_state = carry
            mb = jax.tree.map(lambda x: x[idx], data)
            (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, mb, prompt_len)
            updates, opt_state = tx.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            metrics.update(loss=loss, grad_norm=optax.tree.norm(grads))
            return (params, opt_state), metrics

        order = _minibatch_order(key, n, settings).reshape(-1, n // settings.minibatches)
        if order.shape[0] == 1:  # one pass over one batch: no loop (XLA optimises a loop body less)
            (params, opt_state), metrics = one_minibatch((state.params, state.opt_state), order[0])
        else:
            (params, opt_state), per_mb = jax.lax.scan(one_minibatch, (state.params, state.opt_state), order)
            metrics = jax.tree.map(jnp.mean, per_mb)
        metrics.update(advantage_mean=jnp.mean(adv), advantage_std=jnp.std(adv),
                       advantage_abs_max=jnp.max(jnp.abs(adv)))
        return UpdateState(params, opt_state, weight_state), metrics

    return update
