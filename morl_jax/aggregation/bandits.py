"""Contextual bandits that pick the experts' mixing weights per prompt (arms: a discrete set of weight vectors).

The context x [d] is a feature vector of the prompt (`features`: the shared start's final hidden state at the
prompt's last token, unit-normalised, plus a bias 1). An arm's reward is a vector r [M] (the sample's normalised
objectives), and what the user wants is the preference-weighted reward p·r. Each arm keeps one ridge regression
of r on x, the disjoint linear model of LinUCB:

    A_a = λ I + Σ x xᵀ,    B_a = Σ x rᵀ,    Θ_a = A_a⁻¹ B_a  [d, M],    E[p·r | x, a] ≈ xᵀ Θ_a p

so one bandit, trained under sampled preferences, serves every preference (the statistics do not depend on p).

* `linucb` (Li et al. 2010): arm = argmax_a xᵀ Θ_a p + α ‖x‖_{A_a⁻¹}.
* `thompson` (linear Thompson sampling, Agrawal & Goyal 2013): arm = argmax_a xᵀ θ̃_a with
  θ̃_a ~ N(Θ_a p, v² A_a⁻¹), drawn for every context.

`greedy` (both): argmax_a xᵀ Θ_a p, for serving after training. Everything is jit-able; a batch of contexts is
one round (the statistics are updated after it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import cho_solve, solve_triangular


class BanditState(NamedTuple):
    """precision [A, d, d] (λ I + Σ x xᵀ per arm), targets [A, d, M] (Σ x rᵀ per arm), counts [A] (pulls)."""

    precision: jax.Array
    targets: jax.Array
    counts: jax.Array


class ContextualBandit(NamedTuple):
    """init(num_arms, dim, num_rewards) -> state; select(state, contexts [B, d], preferences [B, M], key) ->
    arms [B] (exploring); greedy(state, contexts, preferences) -> arms [B]; update(state, contexts, arms,
    rewards [B, M]) -> state."""

    name: str
    init: Callable[[int, int, int], BanditState]
    select: Callable[[BanditState, jax.Array, jax.Array, jax.Array], jax.Array]
    greedy: Callable[[BanditState, jax.Array, jax.Array], jax.Array]
    update: Callable[[BanditState, jax.Array, jax.Array, jax.Array], BanditState]


def features(hidden: Any) -> np.ndarray:
    """Bandit contexts from hidden states [B, D]: unit-normalised rows with a bias 1 appended -> [B, D + 1]."""
    h = np.asarray(hidden, dtype=np.float32)
    if h.ndim != 2:
        raise ValueError(f"features: hidden states must be [B, D], got shape {h.shape}")
    h = h / np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-6)
    return np.concatenate([h, np.ones((len(h), 1), np.float32)], axis=1)


def _init(ridge: float) -> Callable[[int, int, int], BanditState]:
    def init(num_arms: int, dim: int, num_rewards: int) -> BanditState:
        if num_arms < 1 or dim < 1 or num_rewards < 1:
            raise ValueError(f"bandit init: need num_arms, dim, num_rewards >= 1, got {num_arms}, {dim}, {num_rewards}")
        eye = jnp.eye(dim, dtype=jnp.float32) * ridge
        return BanditState(jnp.broadcast_to(eye, (num_arms, dim, dim)), jnp.zeros((num_arms, dim, num_rewards)),
                           jnp.zeros((num_arms,), jnp.int32))

    return init


def posterior_mean(state: BanditState) -> jax.Array:
    """Θ [A, d, M]: every arm's ridge-regression coefficients."""
    return jnp.linalg.solve(state.precision, state.targets)


def _mean_scores(state: BanditState, contexts: jax.Array, preferences: jax.Array) -> jax.Array:
    """xᵀ Θ_a p for every context and arm -> [B, A]."""
    return jnp.einsum("bd,adm,bm->ba", contexts, posterior_mean(state), preferences)


def greedy(state: BanditState, contexts: jax.Array, preferences: jax.Array) -> jax.Array:
    """The arm with the highest estimated preference-weighted reward for each context -> [B]."""
    return jnp.argmax(_mean_scores(state, contexts, preferences), axis=1)


def update(state: BanditState, contexts: jax.Array, arms: jax.Array, rewards: jax.Array) -> BanditState:
    """Add one round's observations (context, pulled arm, reward vector) to the pulled arms' statistics."""
    onehot = jax.nn.one_hot(arms, state.counts.shape[0], dtype=contexts.dtype)
    return BanditState(state.precision + jnp.einsum("ba,bi,bj->aij", onehot, contexts, contexts),
                       state.targets + jnp.einsum("ba,bi,bm->aim", onehot, contexts, rewards.astype(contexts.dtype)),
                       state.counts + jnp.sum(onehot, axis=0).astype(jnp.int32))


def _check(alpha_name: str, value: float, ridge: float, name: str) -> None:
    if not value >= 0 or not ridge > 0:
        raise ValueError(f"{name}: need {alpha_name} >= 0 and ridge > 0, got {value}, {ridge}")


def linucb(alpha: float = 1.0, ridge: float = 1.0) -> ContextualBandit:
    """LinUCB with disjoint linear models; `alpha` scales the confidence width, `ridge` is λ."""
    _check("alpha", alpha, ridge, "linucb")

    def select(state: BanditState, contexts: jax.Array, preferences: jax.Array, key: jax.Array) -> jax.Array:
        del key  # deterministic
        chol = jnp.linalg.cholesky(state.precision)  # [A, d, d]
        solved = jax.vmap(lambda c: cho_solve((c, True), contexts.T))(chol)  # A_a⁻¹ xᵀ: [A, d, B]
        width = jnp.sqrt(jnp.maximum(jnp.einsum("bd,adb->ba", contexts, solved), 0.0))
        return jnp.argmax(_mean_scores(state, contexts, preferences) + alpha * width, axis=1)

    return ContextualBandit("linucb", _init(ridge), select, greedy, update)


def thompson(scale: float = 0.5, ridge: float = 1.0) -> ContextualBandit:
    """Linear Thompson sampling; `scale` is v, the posterior's standard-deviation multiplier, `ridge` is λ."""
    _check("scale", scale, ridge, "thompson")

    def select(state: BanditState, contexts: jax.Array, preferences: jax.Array, key: jax.Array) -> jax.Array:
        mean = jnp.einsum("adm,bm->bad", posterior_mean(state), preferences)  # Θ_a p per context: [B, A, d]
        chol = jnp.linalg.cholesky(state.precision)  # A = L Lᵀ, so L⁻ᵀ z ~ N(0, A⁻¹)
        z = jax.random.normal(key, mean.shape, mean.dtype)
        noise = jax.vmap(lambda c, zs: solve_triangular(c, zs.T, lower=True, trans="T").T, in_axes=(0, 1),
                         out_axes=1)(chol, z)
        return jnp.argmax(jnp.einsum("bd,bad->ba", contexts, mean + scale * noise), axis=1)

    return ContextualBandit("thompson", _init(ridge), select, greedy, update)


BANDITS: dict[str, Callable[..., ContextualBandit]] = {}


def register_bandit(name: str, factory: Callable[..., ContextualBandit]) -> Callable[..., ContextualBandit]:
    """Add `factory(**kwargs) -> ContextualBandit` to the registry under `name` (an error if it is taken)."""
    if name in BANDITS:
        raise ValueError(f"bandit {name!r} is already registered")
    BANDITS[name] = factory
    return factory


def get_bandit(name: str, **kwargs: Any) -> ContextualBandit:
    """Build the registered bandit `name` with its options; an unknown name lists the known ones."""
    if name not in BANDITS:
        raise KeyError(f"unknown bandit {name!r}; known: {', '.join(BANDITS)}")
    return BANDITS[name](**kwargs)


register_bandit("linucb", linucb)
register_bandit("thompson", thompson)
