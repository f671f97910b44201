"""PPO-clip policy loss with clip-higher, dual clip, loss aggregations and a KL penalty (docs/algorithms.md §2).

Conventions follow verl's `compute_policy_loss`, `agg_loss` and `kl_penalty`: per-token log-probs [N, C]
of the N completions, a completion mask [N, C], sequence-level advantages [N] broadcast over tokens.
Tokens outside the mask never enter a value or a gradient (their inputs are replaced by 0 first), so
padding may hold anything, including -inf.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp

LOG_RATIO_CLAMP = 20.0  # verl clamps log(pi/pi_old) and log(pi_ref/pi) to [-20, 20] before exp.
K3_MAX = 10.0  # verl clamps the k3 ("low_var_kl") estimate to [-10, 10]; k3 >= 0, so only the top matters.


def _token_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    return (values * mask).sum() / jnp.maximum(mask.sum(), 1.0)


def _seq_mean(seq_values: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean over the sequences that have at least one valid token (fully masked rows do not count)."""
    nonempty = (mask.sum(axis=-1) > 0).astype(seq_values.dtype)
    return (seq_values * nonempty).sum() / jnp.maximum(nonempty.sum(), 1.0)


def _token_mean_agg(values, mask, max_length):
    """DAPO / verl default: mean over all valid tokens of the batch (1 / sum_i |o_i|)."""
    return _token_mean(values, mask)


def _seq_mean_token_sum(values, mask, max_length):
    """Token sum per sequence, mean over sequences."""
    return _seq_mean((values * mask).sum(axis=-1), mask)


def _seq_mean_token_mean(values, mask, max_length):
    """Original GRPO: token mean per sequence (1 / |o_i|), mean over sequences."""
    per_seq = (values * mask).sum(axis=-1) / jnp.maximum(mask.sum(axis=-1), 1.0)
    return _seq_mean(per_seq, mask)


def _seq_mean_token_sum_norm(values, mask, max_length):
    """Dr.GRPO: token sum per sequence / constant max_length, mean over sequences.

    verl sums (not averages) over sequences here, i.e. its value is N times this one.
    """
    return _seq_mean((values * mask).sum(axis=-1) / max_length, mask)


LOSS_AGGREGATIONS: dict[str, Callable[[jax.Array, jax.Array, float], jax.Array]] = {
    "token-mean": _token_mean_agg,
    "seq-mean-token-sum": _seq_mean_token_sum,
    "seq-mean-token-mean": _seq_mean_token_mean,
    "seq-mean-token-sum-norm": _seq_mean_token_sum_norm,
}


def register_aggregation(name: str, fn: Callable[[jax.Array, jax.Array, float], jax.Array]) -> None:
    """Add `fn(values [N, C], mask float [N, C], max_length) -> scalar` to the aggregation registry."""
    if name in LOSS_AGGREGATIONS:
        raise ValueError(f"loss aggregation {name!r} is already registered")
    LOSS_AGGREGATIONS[name] = fn


@functools.partial(jax.jit, static_argnames=("aggregation", "max_length"))
def aggregate(
    values: jax.Array, mask: jax.Array, aggregation: str = "token-mean", *, max_length: float | None = None
) -> jax.Array:
    """Reduce per-token values [N, C] over the valid tokens of `mask` [N, C] with a registered aggregation.

    `max_length` (default C, verl's default) is the constant divisor of "seq-mean-token-sum-norm" and is
    unused by the other aggregations.
    """
    values, mask = jnp.asarray(values), jnp.asarray(mask)
    try:
        fn = LOSS_AGGREGATIONS[aggregation]
    except KeyError:
        raise ValueError(
            f"unknown loss aggregation {aggregation!r}; known: {', '.join(sorted(LOSS_AGGREGATIONS))}"
        ) from None
    if values.shape != mask.shape or values.ndim != 2:
        raise ValueError(f"values and mask must both be [N, C], got {values.shape} and {mask.shape}")
    if max_length is None:
        max_length = values.shape[-1]
    elif not max_length > 0:
        raise ValueError(f"max_length must be positive, got {max_length}")
    mask = mask.astype(jnp.promote_types(values.dtype, jnp.float32))
    return fn(jnp.where(mask > 0, values, 0.0), mask, max_length)


def masked_entropy(
    entropy: jax.Array, mask: jax.Array, *, aggregation: str = "token-mean", max_length: float | None = None
) -> jax.Array:
    """Average per-token entropy [N, C] (from the model's token_logprobs) over the valid tokens."""
    return aggregate(entropy, mask, aggregation, max_length=max_length)


def _k1(logprobs: jax.Array, ref_logprobs: jax.Array) -> jax.Array:
    """k1 = log pi - log pi_ref: unbiased for KL(pi || pi_ref) on samples of pi, but can be negative."""
    return logprobs - ref_logprobs


def _k2(logprobs: jax.Array, ref_logprobs: jax.Array) -> jax.Array:
    """k2 = (log pi - log pi_ref)^2 / 2: non-negative, biased (verl "mse")."""
    return 0.5 * (logprobs - ref_logprobs) ** 2


def _k3(logprobs: jax.Array, ref_logprobs: jax.Array) -> jax.Array:
    """k3 = exp(ref - logp) - (ref - logp) - 1: unbiased and non-negative (verl "low_var_kl"), clamped."""
    d = jnp.clip(ref_logprobs - logprobs, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    return jnp.minimum(jnp.exp(d) - d - 1.0, K3_MAX)


KL_ESTIMATORS: dict[str, Callable[[jax.Array, jax.Array], jax.Array]] = {"k1": _k1, "k2": _k2, "k3": _k3}
KL_LOSS_ESTIMATORS = ("k2", "k3")
"""Estimators usable as a loss term. k1's gradient, E_pi[grad log pi], is zero in expectation: as a loss it
penalises nothing (it is fine as a logged estimate of the KL)."""


@functools.partial(jax.jit, static_argnames=("estimator",))
def kl_divergence(logprobs: jax.Array, ref_logprobs: jax.Array, estimator: str = "k3") -> jax.Array:
    """Per-token estimate of KL(pi || pi_ref) from the sampled tokens' log-probs (Schulman's k1/k2/k3)."""
    try:
        fn = KL_ESTIMATORS[estimator]
    except KeyError:
        raise ValueError(f"unknown KL estimator {estimator!r}; known: {', '.join(sorted(KL_ESTIMATORS))}") from None
    return fn(logprobs, ref_logprobs)


def _check_inputs(logprobs, old_logprobs, advantages, mask, ref_logprobs, clip_low, clip_high, dual_clip, kl_coef):
    if logprobs.ndim != 2:
        raise ValueError(f"logprobs must be [N, C], got shape {logprobs.shape}")
    for label, x in (("old_logprobs", old_logprobs), ("mask", mask), ("ref_logprobs", ref_logprobs)):
        if x is not None and x.shape != logprobs.shape:
            raise ValueError(f"{label} must have the shape of logprobs {logprobs.shape}, got {x.shape}")
    if advantages.shape != logprobs.shape[:1]:
        raise ValueError(f"advantages must be [N]=({logprobs.shape[0]},), got {advantages.shape}")
    if not 0.0 <= clip_low < 1.0 or not clip_high >= 0.0:
        raise ValueError(f"need 0 <= clip_low < 1 and clip_high >= 0, got {clip_low}, {clip_high}")
    if dual_clip is not None and not dual_clip > 1.0:
        raise ValueError(f"dual_clip must be > 1 (verl clip_ratio_c), got {dual_clip}")
    if isinstance(kl_coef, (int, float)):
        if kl_coef < 0:
            raise ValueError(f"kl_coef must be >= 0, got {kl_coef}")
        if kl_coef != 0 and ref_logprobs is None:
            raise ValueError(f"kl_coef={kl_coef} needs ref_logprobs (pass kl_coef=0 to skip the KL term)")


def _check_kl_estimator(kl_estimator: str, active: bool) -> None:
    if kl_estimator not in KL_ESTIMATORS:
        raise ValueError(f"unknown KL estimator {kl_estimator!r}; known: {', '.join(sorted(KL_ESTIMATORS))}")
    if active and kl_estimator not in KL_LOSS_ESTIMATORS:
        raise ValueError(f"KL estimator {kl_estimator!r} cannot be a loss term: its expected gradient is zero; "
                         f"use one of {', '.join(KL_LOSS_ESTIMATORS)}")


def policy_loss(
    logprobs: jax.Array,
    old_logprobs: jax.Array,
    advantages: jax.Array,
    mask: jax.Array,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    dual_clip: float | None = None,
    aggregation: str = "token-mean",
    max_length: float | None = None,
    ref_logprobs: jax.Array | None = None,
    kl_coef: float = 0.0,
    kl_estimator: str = "k3",
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """PPO-clip loss (+ kl_coef * KL to a frozen reference) and metrics; differentiate w.r.t. logprobs.

    Per token, with ratio = exp(logp - old): L = max(-A ratio, -A clip(ratio, 1 - clip_low, 1 + clip_high))
    (clip-higher: DAPO uses clip_high=0.28); with `dual_clip` c > 1, tokens with A < 0 use min(L, -A c).
    L is reduced with `aggregation`; the KL term is reduced the same way and is absent (no "kl" metric)
    when kl_coef == 0 or ref_logprobs is None; a non-zero Python kl_coef without ref_logprobs raises.
    Advantages, old and reference log-probs are constants (stop_gradient).

    Metrics: pg_loss; kl; clip_frac_low / clip_frac_high (valid tokens whose gradient the clip zeroes:
    A < 0 and ratio < 1 - clip_low / A > 0 and ratio > 1 + clip_high); dual_clip_frac; ratio_mean,
    ratio_max; approx_kl = token mean of ratio - 1 - log ratio (k3 estimate of KL(pi_old || pi)).
    """
    logprobs = jnp.asarray(logprobs)
    old_logprobs = jnp.asarray(old_logprobs)
    advantages = jnp.asarray(advantages)
    mask = jnp.asarray(mask)
    ref_logprobs = None if ref_logprobs is None else jnp.asarray(ref_logprobs)
    _check_inputs(logprobs, old_logprobs, advantages, mask, ref_logprobs, clip_low, clip_high, dual_clip, kl_coef)
    if isinstance(kl_coef, (int, float)) and kl_coef == 0:
        ref_logprobs = None
    _check_kl_estimator(kl_estimator, ref_logprobs is not None)
    dtype = jnp.promote_types(logprobs.dtype, jnp.float32)
    floats = [None if x is None else x.astype(dtype) for x in (logprobs, old_logprobs, advantages, ref_logprobs)]
    logprobs, old_logprobs, advantages, ref_logprobs = floats
    return _policy_loss(
        logprobs, old_logprobs, advantages, mask.astype(bool), ref_logprobs, kl_coef, clip_low, clip_high, dual_clip,
        aggregation=aggregation, max_length=max_length, kl_estimator=kl_estimator,
    )


@functools.partial(jax.jit, static_argnames=("aggregation", "max_length", "kl_estimator"))
def _policy_loss(
    logprobs, old_logprobs, advantages, mask, ref_logprobs, kl_coef, clip_low, clip_high, dual_clip,
    *, aggregation, max_length, kl_estimator,
):
    """The math of `policy_loss` on validated inputs (float log-probs, bool mask); ref_logprobs None: no KL."""
    dtype = logprobs.dtype
    valid = mask
    m = valid.astype(dtype)
    logp = jnp.where(valid, logprobs, 0.0)
    old = jax.lax.stop_gradient(jnp.where(valid, old_logprobs, 0.0))
    adv = jax.lax.stop_gradient(advantages)[:, None]

    log_ratio = jnp.clip(logp - old, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
    ratio = jnp.exp(log_ratio)
    clipped_ratio = jnp.clip(ratio, 1.0 - clip_low, 1.0 + clip_high)
    token_loss = jnp.maximum(-adv * ratio, -adv * clipped_ratio)
    metrics = {}
    if dual_clip is not None:
        bound = -adv * dual_clip
        dual_active = (adv < 0) & (token_loss > bound)
        token_loss = jnp.where(adv < 0, jnp.minimum(token_loss, bound), token_loss)
        metrics["dual_clip_frac"] = _token_mean(dual_active.astype(dtype), m)

    pg_loss = aggregate(token_loss, m, aggregation, max_length=max_length)
    loss = pg_loss
    if ref_logprobs is not None:
        ref = jax.lax.stop_gradient(jnp.where(valid, ref_logprobs, 0.0))
        kl = aggregate(kl_divergence(logp, ref, kl_estimator), m, aggregation, max_length=max_length)
        loss = loss + kl_coef * kl
        metrics["kl"] = jax.lax.stop_gradient(kl)

    r = jax.lax.stop_gradient(ratio)
    metrics.update(
        pg_loss=jax.lax.stop_gradient(pg_loss),
        clip_frac_low=_token_mean(((adv < 0) & (r < 1.0 - clip_low)).astype(dtype), m),
        clip_frac_high=_token_mean(((adv > 0) & (r > 1.0 + clip_high)).astype(dtype), m),
        ratio_mean=_token_mean(r, m),
        ratio_max=jnp.max(jnp.where(valid, r, 0.0)),
        approx_kl=_token_mean(r - 1.0 - jax.lax.stop_gradient(log_ratio), m),
    )
    return loss, metrics
