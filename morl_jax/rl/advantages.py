"""Advantage estimators of the GRPO family for K reward signals (docs/algorithms.md §1).

Layout: N = B*G samples with the G rollouts of a prompt contiguous (sample i belongs to prompt i // G);
`group_size` G is a static Python int. Every function is pure `jnp`, so it jits and vmaps; the public
estimators and `advantages` are already wrapped in `jax.jit` (group_size, name and level static), which
makes eager calls cheap and inlines under an outer jit.

Each scalar estimator maps outcome rewards [N] to advantages [N]. `advantages` combines K objectives:
- level="reward":    r_i = sum_k w_{i,k} r_{i,k}, then the estimator (GRPO-style scalarisation);
- level="advantage": the estimator on each objective separately, then sum_k w_{i,k} A_{i,k}, then the
  estimator's post-combination step if it has one (GDPO's batch normalisation).

An optional sample mask [N] (True = valid) removes padded or dropped samples from every statistic (group
and batch) and gives them advantage 0. Batch whitening (reinforce_pp, reinforce_pp_baseline, gdpo's last step)
weighs every sample alike by default; with `token_counts` [N] (completion lengths) each sample counts as many
times as it has tokens, as verl's `masked_whiten` over the response tokens does.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

GROUP_EPS = 1e-6  # verl's epsilon added to the group std; TRL's GDPO uses 1e-4.
WHITEN_EPS = 1e-8  # verl's masked_whiten: (x - mean) * rsqrt(var + 1e-8).
LEVELS = ("reward", "advantage")


def _as_float(x: jax.Array) -> jax.Array:
    x = jnp.asarray(x)
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _prepare(rewards: jax.Array, group_size: int, mask: jax.Array | None, name: str):
    """Validate a scalar-reward call; return (rewards [N] float, valid [N] bool)."""
    if isinstance(group_size, bool) or not isinstance(group_size, (int, np.integer)) or group_size < 1:
        raise ValueError(f"{name}: group_size must be a positive Python int, got {group_size!r}")
    rewards = _as_float(rewards)
    if rewards.ndim != 1:
        raise ValueError(f"{name}: rewards must be 1-D [N], got shape {rewards.shape}")
    n = rewards.shape[0]
    if n % group_size:
        raise ValueError(f"{name}: N={n} samples is not divisible by group_size={group_size}")
    if mask is None:
        return rewards, jnp.ones((n,), bool)
    mask = jnp.asarray(mask)
    if mask.shape != (n,):
        raise ValueError(f"{name}: mask must have shape ({n},) like the rewards, got {mask.shape}")
    return rewards, mask.astype(bool)


def _group_moments(r: jax.Array, valid: jax.Array, group_size: int):
    """Per-sample (group mean, unbiased group std, valid count in the group), each [N], over valid samples."""
    rg = r.reshape(-1, group_size)
    vg = valid.reshape(-1, group_size)
    count = vg.sum(axis=1, keepdims=True).astype(r.dtype)
    mean = jnp.where(vg, rg, 0.0).sum(axis=1, keepdims=True) / jnp.maximum(count, 1.0)
    sq = jnp.where(vg, (rg - mean) ** 2, 0.0).sum(axis=1, keepdims=True)
    std = jnp.sqrt(sq / jnp.maximum(count - 1.0, 1.0))
    return tuple(jnp.broadcast_to(x, rg.shape).reshape(-1) for x in (mean, std, count))


def _verl_group_stats(r: jax.Array, valid: jax.Array, group_size: int):
    """Group mean and std with verl's convention that a group of one sample has mean 0 and std 1."""
    mean, std, count = _group_moments(r, valid, group_size)
    single = count == 1.0
    return jnp.where(single, 0.0, mean), jnp.where(single, 1.0, std)


def batch_whiten(x: jax.Array, valid: jax.Array, eps: float = WHITEN_EPS, counts: jax.Array | None = None
                ) -> jax.Array:
    """verl's masked_whiten over the batch: (x - mean) * rsqrt(var + eps); invalid samples get 0.

    Sample i has weight counts_i (default 1): mean = sum c x / T, var = sum c (x - mean)^2 / (T - 1), T = sum c
    over valid samples (verl's unbiased masked variance over tokens when c are completion lengths). With
    T <= 1 the variance is taken as 0 (verl raises instead).
    """
    c = valid.astype(x.dtype) if counts is None else jnp.where(valid, counts.astype(x.dtype), 0.0)
    total = c.sum()
    mean = (c * x).sum() / jnp.maximum(total, 1.0)
    var = (c * (x - mean) ** 2).sum() / jnp.maximum(total - 1.0, 1.0)
    return jnp.where(valid, (x - mean) * jax.lax.rsqrt(var + eps), 0.0)


@functools.partial(jax.jit, static_argnames=("group_size",))
def grpo(rewards: jax.Array, group_size: int, *, eps: float = GROUP_EPS, mask: jax.Array | None = None) -> jax.Array:
    """GRPO: A_i = (r_i - mean_g) / (std_g + eps), unbiased std; a one-sample group has mean 0, std 1."""
    r, valid = _prepare(rewards, group_size, mask, "grpo")
    mean, std = _verl_group_stats(r, valid, group_size)
    return jnp.where(valid, (r - mean) / (std + eps), 0.0)


@functools.partial(jax.jit, static_argnames=("group_size",))
def drgrpo(rewards: jax.Array, group_size: int, *, mask: jax.Array | None = None) -> jax.Array:
    """Dr.GRPO (verl norm_adv_by_std_in_grpo=False): A_i = r_i - mean_g (one-sample group: mean 0)."""
    r, valid = _prepare(rewards, group_size, mask, "drgrpo")
    mean, _ = _verl_group_stats(r, valid, group_size)
    return jnp.where(valid, r - mean, 0.0)


@functools.partial(jax.jit, static_argnames=("group_size",))
def rloo(rewards: jax.Array, group_size: int, *, mask: jax.Array | None = None) -> jax.Array:
    """RLOO: A_i = r_i - mean of the other samples of the group = c/(c-1) (r_i - mean_g), c = group count.

    group_size=1 has no leave-one-out baseline and raises; a group left with one valid sample by the
    mask gives that sample advantage 0 (verl would pass the raw reward through).
    """
    if group_size == 1:
        raise ValueError("rloo: group_size=1 leaves no other rollout for the leave-one-out baseline; need >= 2")
    r, valid = _prepare(rewards, group_size, mask, "rloo")
    mean, _, count = _group_moments(r, valid, group_size)
    scale = count / jnp.maximum(count - 1.0, 1.0)
    return jnp.where(valid & (count > 1.0), scale * (r - mean), 0.0)


@functools.partial(jax.jit, static_argnames=("group_size",))
def reinforce_pp(
    rewards: jax.Array, group_size: int, *, eps: float = WHITEN_EPS, mask: jax.Array | None = None,
    token_counts: jax.Array | None = None,
) -> jax.Array:
    """REINFORCE++ (gamma=1): whiten the outcome rewards over the whole batch; no group baseline.

    `group_size` only checks the layout (it is accepted for a uniform estimator signature).
    """
    r, valid = _prepare(rewards, group_size, mask, "reinforce_pp")
    return batch_whiten(r, valid, eps, token_counts)


@functools.partial(jax.jit, static_argnames=("group_size",))
def reinforce_pp_baseline(
    rewards: jax.Array, group_size: int, *, eps: float = WHITEN_EPS, mask: jax.Array | None = None,
    token_counts: jax.Array | None = None,
) -> jax.Array:
    """REINFORCE++ with baseline: subtract the group mean (one-sample group: 0), then whiten the batch."""
    r, valid = _prepare(rewards, group_size, mask, "reinforce_pp_baseline")
    mean, _ = _verl_group_stats(r, valid, group_size)
    return batch_whiten(r - mean, valid, eps, token_counts)


class AdvantageEstimator(NamedTuple):
    """A registered estimator and the facts the rest of the code reads from it (declared once, here).

    fn: (rewards [N], group_size, *, mask, [eps], [token_counts]) -> [N]; post: (advantages [N], valid [N],
    eps, counts) -> [N], run after the objectives are combined at the advantage level; levels: where weights may
    scalarise; needs_groups: compares samples within a group (group_size >= 2); scale_invariant: multiplying
    every reward by one c > 0 leaves the advantages unchanged (so a global reward multiplier does nothing);
    whitens_batch: normalises over the batch (so token-weighted statistics apply).
    """

    fn: Callable[..., jax.Array]
    post: Callable[..., jax.Array] | None = None
    levels: tuple[str, ...] = LEVELS
    needs_groups: bool = True
    scale_invariant: bool = False
    whitens_batch: bool = False

    @property
    def takes_eps(self) -> bool:
        return "eps" in inspect.signature(self.fn).parameters


ADVANTAGE_ESTIMATORS: dict[str, AdvantageEstimator] = {}


def register_estimator(name: str, fn: Callable[..., jax.Array], **facts: Any) -> None:
    """Add an estimator to the registry with its facts (see `AdvantageEstimator`)."""
    if name in ADVANTAGE_ESTIMATORS:
        raise ValueError(f"advantage estimator {name!r} is already registered")
    estimator = AdvantageEstimator(fn, **facts)
    unknown = set(estimator.levels) - set(LEVELS)
    if unknown or not estimator.levels:
        raise ValueError(f"advantage estimator {name!r}: levels must be a non-empty subset of {LEVELS}")
    ADVANTAGE_ESTIMATORS[name] = estimator


def get_estimator(name: str) -> AdvantageEstimator:
    """The registered estimator `name`; an unknown name raises listing the known ones."""
    try:
        return ADVANTAGE_ESTIMATORS[name]
    except KeyError:
        raise ValueError(
            f"unknown advantage estimator {name!r}; known: {', '.join(sorted(ADVANTAGE_ESTIMATORS))}"
        ) from None


def _estimator_kwargs(name: str, est: AdvantageEstimator, mask, eps, token_counts) -> dict[str, Any]:
    kwargs = {"mask": mask}
    if eps is not None:
        if not est.takes_eps:
            raise ValueError(f"advantage estimator {name!r} has no eps")
        kwargs["eps"] = eps
    if token_counts is not None:
        if not est.whitens_batch:
            raise ValueError(f"advantage estimator {name!r} does not whiten the batch, so token_counts mean nothing")
        if "token_counts" in inspect.signature(est.fn).parameters:
            kwargs["token_counts"] = token_counts
    return kwargs


def _check_rewards(rewards: jax.Array) -> jax.Array:
    rewards = _as_float(rewards)
    if rewards.ndim != 2:
        raise ValueError(f"rewards must be [N, K], got shape {rewards.shape}")
    return rewards


@functools.partial(jax.jit, static_argnames=("name", "group_size"))
def objective_advantages(
    name: str,
    rewards: jax.Array,
    group_size: int,
    *,
    eps: float | None = None,
    mask: jax.Array | None = None,
    token_counts: jax.Array | None = None,
) -> jax.Array:
    """The estimator applied to each objective alone: rewards [N, K] -> advantages [N, K] (no post step)."""
    est = get_estimator(name)
    rewards = _check_rewards(rewards)
    kwargs = _estimator_kwargs(name, est, mask, eps, token_counts)
    return jax.vmap(lambda r: est.fn(r, group_size, **kwargs), in_axes=1, out_axes=1)(rewards)


@functools.partial(jax.jit, static_argnames=("name", "group_size"))
def scalar_advantages(
    name: str,
    rewards: jax.Array,
    group_size: int,
    *,
    eps: float | None = None,
    mask: jax.Array | None = None,
    token_counts: jax.Array | None = None,
) -> jax.Array:
    """Advantages [N] of an already scalarised reward [N] (a non-linear scalarisation's output), reward level."""
    est = get_estimator(name)
    if "reward" not in est.levels:
        raise ValueError(f"{name} supports level {' or '.join(repr(x) for x in est.levels)}, not a scalar reward")
    return est.fn(_as_float(rewards), group_size, **_estimator_kwargs(name, est, mask, eps, token_counts))


@functools.partial(jax.jit, static_argnames=("name", "group_size", "level"))
def advantages(
    name: str,
    rewards: jax.Array,
    weights: jax.Array,
    group_size: int,
    *,
    level: str = "reward",
    eps: float | None = None,
    batch_eps: float | None = None,
    mask: jax.Array | None = None,
    token_counts: jax.Array | None = None,
) -> jax.Array:
    """Advantages [N] of K objectives: rewards [N, K], weights [K] or per-sample [N, K].

    `eps` overrides the estimator's own epsilon (group std for grpo/gdpo, whitening for reinforce_pp*);
    `batch_eps` overrides the epsilon of the post-combination step (gdpo's batch whitening). Passing
    either to an estimator without that epsilon raises rather than being silently ignored. `token_counts` [N]
    weighs batch whitening by completion length (verl); estimators that do not whiten the batch refuse it.
    """
    est = get_estimator(name)
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; known: {', '.join(LEVELS)}")
    if level not in est.levels:
        raise ValueError(f"{name} supports level {' or '.join(repr(x) for x in est.levels)}, not {level!r}")
    rewards = _check_rewards(rewards)
    n, k = rewards.shape
    weights = _as_float(weights)
    if weights.shape not in ((k,), (n, k)):
        raise ValueError(
            f"weights must be [K]=({k},) or [N, K]=({n}, {k}) to match rewards {rewards.shape}, "
            f"got {weights.shape}"
        )
    kwargs = _estimator_kwargs(name, est, mask, eps, token_counts)
    if batch_eps is not None and est.post is None:
        raise ValueError(f"advantage estimator {name!r} has no batch normalisation, so no batch_eps")

    if level == "reward":
        return est.fn(jnp.sum(rewards * weights, axis=-1), group_size, **kwargs)
    per_objective = objective_advantages(name, rewards, group_size, eps=eps, mask=mask, token_counts=token_counts)
    combined = jnp.sum(per_objective * weights, axis=-1)
    if est.post is None:
        return combined
    valid = jnp.ones((n,), bool) if mask is None else jnp.asarray(mask).astype(bool)
    return est.post(combined, valid, WHITEN_EPS if batch_eps is None else batch_eps, token_counts)


def gdpo(
    rewards: jax.Array,
    group_size: int,
    weights: jax.Array | None = None,
    *,
    eps: float = GROUP_EPS,
    batch_eps: float = WHITEN_EPS,
    mask: jax.Array | None = None,
    token_counts: jax.Array | None = None,
) -> jax.Array:
    """GDPO: group-normalise each objective, sum with weights, then normalise over the batch.

    Â_{i,k} = (r_{i,k} - mean_g r_k)/(std_g r_k + eps); A^pre_i = sum_k w_k Â_{i,k};
    A_i = (A^pre_i - mean_batch) * rsqrt(var_batch + batch_eps). Defaults are verl's (group eps 1e-6,
    masked_whiten 1e-8); TRL uses eps=1e-4 and divides the batch step by (std + 1e-4) instead, which
    differs from this by O(1e-4 / std). rewards [N] (one objective) or [N, K]; weights default to ones
    (TRL's default reward_weights).
    """
    rewards = _as_float(rewards)
    if rewards.ndim == 1:
        rewards = rewards[:, None]
    if weights is None:
        weights = jnp.ones(rewards.shape[-1:], rewards.dtype)
    return advantages(
        "gdpo", rewards, weights, group_size, level="advantage", eps=eps, batch_eps=batch_eps, mask=mask,
        token_counts=token_counts)


register_estimator("grpo", grpo, scale_invariant=True)
register_estimator("drgrpo", drgrpo)
register_estimator("rloo", rloo)
register_estimator("reinforce_pp", reinforce_pp, needs_groups=False, scale_invariant=True, whitens_batch=True)
register_estimator("reinforce_pp_baseline", reinforce_pp_baseline, scale_invariant=True, whitens_batch=True)
register_estimator("gdpo", grpo, post=batch_whiten, levels=("advantage",), scale_invariant=True,
                   whitens_batch=True)
