"""The pure RL update: (rewards [N, K], weights) -> advantages -> PPO-clip epochs over minibatches -> optax.

`update(state, batch, weights, key, ref_params, graphdef=..., settings=...)` is one jit'd function; the model
structure and the hashable `UpdateSettings` are static arguments, so every run with equal settings shares one
compilation. The weights come from the weighting phase before it (`morl_jax.weighting`); the rollout is
sampled before that (models.sampling) and rewarded on the host.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from morl_jax.models import token_logprobs
from morl_jax.optimizers import OptimizerSettings, build_optimizer
from morl_jax.rl.advantages import advantages, scalar_advantages
from morl_jax.rl.losses import masked_entropy, policy_loss
from morl_jax.weighting import Scalarization
from morl_jax.weighting.base import Weights

WHITENING = ("sample", "token")
FIRST_MINIBATCH_METRICS = ("ratio_mean", "ratio_max", "approx_kl", "clip_frac_low", "clip_frac_high")


class RolloutBatch(NamedTuple):
    """One rollout on device: tokens [N, P+C] = left-padded prompt ++ completion, attention_mask [N, P+C],
    completion_mask [N, C], behaviour log-probs [N, C], rewards [N, K] (raw, per objective)."""

    tokens: jax.Array
    attention_mask: jax.Array
    completion_mask: jax.Array
    old_logprobs: jax.Array
    rewards: jax.Array

    @property
    def prompt_len(self) -> int:
        return self.tokens.shape[1] - self.completion_mask.shape[1]


@dataclasses.dataclass(frozen=True)
class UpdateSettings:
    """Static settings of the update (hashable: part of the compiled function's identity)."""

    optimizer: OptimizerSettings = OptimizerSettings()
    estimator: str = "grpo"
    level: str = "reward"
    eps: float | None = None
    whitening: str = "sample"  # batch whitening statistics per "sample" or per "token" (verl's masked_whiten)
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
    micro_batches: int = 1  # gradient accumulation: each minibatch's gradient summed over this many micro-batches

    @property
    def use_kl(self) -> bool:
        return self.kl_coef > 0


class UpdateState(NamedTuple):
    """What the update changes: policy parameters and optimiser state."""

    params: Any
    opt_state: Any


def completion_logprobs(graphdef: nnx.GraphDef, params: Any, batch: RolloutBatch, settings: UpdateSettings,
                        with_entropy: bool = False) -> Any:
    """Per-token log-probs [N, C] of the completions at the sampling temperature (and entropies)."""
    model = nnx.merge(graphdef, params)
    return token_logprobs(model, batch.tokens, batch.attention_mask, start=batch.prompt_len - 1,
                          temperature=settings.temperature, with_entropy=with_entropy)


def token_counts(batch: RolloutBatch, settings: UpdateSettings) -> jax.Array | None:
    """Completion lengths when batch whitening is token-weighted, else None."""
    return batch.completion_mask.sum(axis=1) if settings.whitening == "token" else None


def weighted_advantages(rewards: jax.Array, weights: Weights, settings: UpdateSettings,
                        counts: jax.Array | None = None) -> jax.Array:
    """Advantages [N] of rewards [N, K] under `weights` [K] or [N, K], or of a scalarisation's rewards."""
    if isinstance(weights, Scalarization):
        if settings.level != "reward":
            raise ValueError("a scalarisation replaces the weighted sum of rewards: it needs level='reward'")
        return scalar_advantages(settings.estimator, weights.rewards, settings.group_size, eps=settings.eps,
                                 token_counts=counts)
    return advantages(settings.estimator, rewards, weights, settings.group_size, level=settings.level,
                      eps=settings.eps, token_counts=counts)


def batch_advantages(batch: RolloutBatch, weights: Weights, settings: UpdateSettings) -> jax.Array:
    """Advantages [N] of a rollout batch under `weights` (token counts from its completion mask if needed)."""
    return weighted_advantages(batch.rewards, weights, settings, token_counts(batch, settings))


def reference_logprobs(graphdef: nnx.GraphDef, ref_params: Any, batch: RolloutBatch, settings: UpdateSettings
                       ) -> jax.Array | None:
    """The frozen reference's log-probs of the completions (None without a KL term)."""
    if not settings.use_kl:
        return None
    return jax.lax.stop_gradient(completion_logprobs(graphdef, ref_params, batch, settings))


def loss_and_metrics(settings: UpdateSettings, logp: jax.Array, entropy: jax.Array, old_logprobs: jax.Array,
                     adv: jax.Array, completion_mask: jax.Array, ref_logprobs: jax.Array | None
                     ) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The PPO-clip loss (+ KL) of per-token log-probs and its metrics (entropy included)."""
    loss, metrics = policy_loss(
        logp, old_logprobs, adv, completion_mask, clip_low=settings.clip_low, clip_high=settings.clip_high,
        dual_clip=settings.dual_clip, aggregation=settings.aggregation,
        max_length=settings.max_length or float(completion_mask.shape[1]), ref_logprobs=ref_logprobs,
        kl_coef=settings.kl_coef, kl_estimator=settings.kl_estimator)
    metrics["entropy"] = masked_entropy(jax.lax.stop_gradient(entropy), completion_mask)
    return loss, metrics


def _minibatch_order(key: jax.Array, n: int, settings: UpdateSettings) -> jax.Array:
    """[epochs * minibatches, n // minibatches] sample indices; shuffled per epoch unless one pass of one batch."""
    size = n // settings.minibatches
    if settings.epochs == 1 and settings.minibatches == 1:
        return jnp.arange(n)[None]
    keys = jax.random.split(key, settings.epochs)
    perms = jax.vmap(lambda k: jax.random.permutation(k, n))(keys)
    return perms.reshape(settings.epochs * settings.minibatches, size)


# Aggregations whose normaliser is a count over the batch (valid tokens, or non-empty rows), so a minibatch's loss
# is the normaliser-weighted sum of its micro-batches' losses.
ACCUMULABLE_AGGREGATIONS = ("token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")


def aggregation_count(aggregation: str, mask: jax.Array) -> jax.Array:
    """The normaliser of a built-in loss aggregation over completion_mask [N, C]: valid tokens or non-empty rows."""
    if aggregation not in ACCUMULABLE_AGGREGATIONS:
        raise ValueError(f"gradient accumulation supports the aggregations {ACCUMULABLE_AGGREGATIONS}, "
                         f"not {aggregation!r}")
    mask = mask.astype(jnp.float32)
    return mask.sum() if aggregation == "token-mean" else (mask.sum(axis=-1) > 0).sum().astype(jnp.float32)


def advantage_metrics(adv: jax.Array) -> dict[str, jax.Array]:
    return dict(advantage_mean=jnp.mean(adv), advantage_std=jnp.std(adv), advantage_abs_max=jnp.max(jnp.abs(adv)))


@functools.partial(jax.jit, static_argnames=("graphdef", "settings"), donate_argnames=("state",))
def update(state: UpdateState, batch: RolloutBatch, weights: Weights, key: jax.Array, ref_params: Any = None, *,
           graphdef: nnx.GraphDef, settings: UpdateSettings) -> tuple[UpdateState, dict[str, jax.Array]]:
    """advantages under `weights` ([K], [N, K] or a scalarisation), then `epochs` passes of PPO-clip over
    `minibatches` shuffled minibatches, each one optimizer step (its gradient accumulated over `micro_batches`
    micro-batches when that is > 1, to bound activation memory).

    Without a KL term (kl_coef = 0) `ref_params` is ignored and there is no reference forward pass.
    """
    tx = build_optimizer(settings.optimizer)
    n = batch.completion_mask.shape[0]
    adv = batch_advantages(batch, weights, settings)
    ref = reference_logprobs(graphdef, ref_params, batch, settings)
    data = {"batch": batch, "adv": adv, "ref": ref}

    def loss_fn(params, mb):
        logp, entropy = completion_logprobs(graphdef, params, mb["batch"], settings, with_entropy=True)
        b = mb["batch"]
        return loss_and_metrics(settings, logp, entropy, b.old_logprobs, mb["adv"], b.completion_mask, mb["ref"])

    def minibatch_gradient(params, mb):
        """Loss, metrics and gradient of a minibatch: at once, or summed over `micro_batches` micro-batches (rows
        j, j + k, j + 2k, ... so each stays spread over the data-parallel devices), each weighted by its share of
        the loss's normaliser, which makes the sum the minibatch's exact gradient (one optimizer step)."""
        k = settings.micro_batches
        if k == 1:
            (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, mb)
            return loss, metrics, grads
        micro = jax.tree.map(lambda x: x.reshape((x.shape[0] // k, k) + x.shape[1:]).swapaxes(0, 1), mb)
        counts = jax.vmap(lambda mask: aggregation_count(settings.aggregation, mask))(micro["batch"].completion_mask)
        shares = counts / jnp.maximum(jnp.sum(counts), 1.0)

        def accumulate(total, xs):
            m, share = xs
            (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, m)
            return jax.tree.map(lambda t, g: t + share.astype(g.dtype) * g, total, grads), (share * loss, metrics)

        grads, (losses, per_micro) = jax.lax.scan(accumulate, jax.tree.map(jnp.zeros_like, params), (micro, shares))
        metrics = {name: jnp.max(v) if name.endswith("_max") else jnp.sum(shares * v) for name, v in per_micro.items()}
        return jnp.sum(losses), metrics, grads

    def one_minibatch(carry, idx):
        params, opt_state = carry
        mb = jax.tree.map(lambda x: x[idx], data)
        loss, metrics, grads = minibatch_gradient(params, mb)
        updates, opt_state = tx.update(grads, opt_state, params)
        metrics.update(loss=loss, grad_norm=optax.tree.norm(grads))
        return (optax.apply_updates(params, updates), opt_state), metrics

    order = _minibatch_order(key, n, settings)
    if order.shape[0] == 1:  # one pass over one batch: no loop (XLA optimises a loop body less)
        (params, opt_state), metrics = one_minibatch(tuple(state), order[0])
        first = metrics
    else:
        (params, opt_state), per_mb = jax.lax.scan(one_minibatch, tuple(state), order)
        metrics, first = jax.tree.map(jnp.mean, per_mb), jax.tree.map(lambda x: x[0], per_mb)
    # Before any step of this update the policy is the behaviour policy: ratio 1, nothing clipped, no KL.
    metrics.update({f"first_minibatch/{k}": first[k] for k in FIRST_MINIBATCH_METRICS})
    metrics.update(advantage_metrics(adv))
    return UpdateState(params, opt_state), metrics
