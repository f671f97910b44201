"""Preference-conditioned routing: a small network from a preference vector to the experts' mixing weights.

One served model then answers any preference: the router maps p [M] to weights on the simplex [K], and the
aggregate decodes with them. In the spirit of PWE-MoE's routers (Tang et al. 2024, arXiv 2406.09770), only the
router is trained, on sampled preferences; here the rewards of decoded text are not differentiable in the
weights, so it is trained by REINFORCE with logistic-normal exploration:

    z = f_φ(p) + σ ε,  ε ~ N(0, I),   weights = softmax(z),   loss = −mean_i A_i log N(z_i; f_φ(p_i), σ² I)

with A_i the reward p·r of draw i normalised within the draws of its preference (a group-relative baseline, as
GRPO's). Preferences are drawn from a symmetric Dirichlet. With `prior=True` (one expert per objective) the
router adds log p to its output and its last layer starts at zero, so before training it returns p itself (the
rewarded-soups recipe) and training only has to learn the correction.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

PRIOR_FLOOR = 1e-3  # log(p + floor): a preference of 0 still gives a finite logit


class Router(nnx.Module):
    """p [..., M] -> mixing logits [..., K]: a tanh MLP (plus log p with `prior`, which needs K == M)."""

    def __init__(self, num_objectives: int, num_experts: int, *, hidden_size: int = 32, prior: bool = True,
                 rngs: nnx.Rngs):
        if num_objectives < 1 or num_experts < 1 or hidden_size < 1:
            raise ValueError(f"Router: need num_objectives, num_experts, hidden_size >= 1, got {num_objectives}, "
                             f"{num_experts}, {hidden_size}")
        if prior and num_experts != num_objectives:
            raise ValueError(f"Router: prior=True maps objective k to expert k, so it needs num_experts == "
                             f"num_objectives (got {num_experts} and {num_objectives})")
        self.prior = prior
        self.hidden = nnx.Linear(num_objectives, hidden_size, rngs=rngs)
        self.out = nnx.Linear(hidden_size, num_experts, kernel_init=nnx.initializers.zeros, rngs=rngs)

    def __call__(self, preferences: jax.Array) -> jax.Array:
        logits = self.out(jnp.tanh(self.hidden(preferences)))
        return logits + jnp.log(preferences + PRIOR_FLOOR) if self.prior else logits

    def weights(self, preferences: jax.Array) -> jax.Array:
        """The mixing weights (softmax of the logits) for preferences [..., M] -> [..., K]."""
        return jax.nn.softmax(self(preferences), axis=-1)


def train_router(router: Router, reward_fn: Callable[[np.ndarray, np.ndarray], np.ndarray], *, rounds: int,
                 preferences_per_round: int = 8, draws: int = 4, noise_scale: float = 0.5,
                 learning_rate: float = 0.01, concentration: float = 1.0, seed: int = 0,
                 log: Callable[[str], None] | None = None) -> tuple[Router, list[float]]:
    """Train `router` in place for `rounds` rounds; returns it and the mean reward of every round.

    Each round draws `preferences_per_round` preferences ~ Dirichlet(concentration) and `draws` mixing-weight
    samples for each, asks `reward_fn(preferences [N, M], weights [N, K]) -> rewards [N]` (N = preferences x
    draws; rows of one preference are contiguous), and takes one Adam step on the REINFORCE loss.
    """
    if rounds < 1 or preferences_per_round < 1 or draws < 2 or not noise_scale > 0 or not learning_rate > 0:
        raise ValueError("train_router: need rounds >= 1, preferences_per_round >= 1, draws >= 2 (the baseline is "
                         "the other draws of the same preference), noise_scale > 0, learning_rate > 0")
    graphdef, params = nnx.split(router)
    tx = optax.adam(learning_rate)
    opt_state = tx.init(params)
    num_objectives = router.hidden.in_features

    @jax.jit
    def propose(params, preferences, key):
        logits = nnx.merge(graphdef, params)(preferences)
        z = logits + noise_scale * jax.random.normal(key, logits.shape)
        return z, jax.nn.softmax(z, axis=-1)

    @jax.jit
    def step(params, opt_state, preferences, z, rewards):
        groups = rewards.reshape(-1, draws)
        advantages = ((groups - groups.mean(axis=1, keepdims=True))
                      / (groups.std(axis=1, keepdims=True) + 1e-6)).reshape(-1)

        def loss(p):
            logits = nnx.merge(graphdef, p)(preferences)
            log_density = -jnp.sum((z - logits) ** 2, axis=-1) / (2 * noise_scale ** 2)
            return -jnp.mean(advantages * log_density)

        updates, opt_state = tx.update(jax.grad(loss)(params), opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    rng = np.random.default_rng(seed)
    key = jax.random.PRNGKey(seed)
    history = []
    for r in range(rounds):
        preferences = rng.dirichlet(np.full(num_objectives, concentration), size=preferences_per_round)
        preferences = np.repeat(preferences, draws, axis=0).astype(np.float32)
        key, draw = jax.random.split(key)
        z, weights = propose(params, jnp.asarray(preferences), draw)
        rewards = np.asarray(reward_fn(preferences, np.asarray(weights)), dtype=np.float32)
        if rewards.shape != (len(preferences),) or not np.all(np.isfinite(rewards)):
            raise ValueError(f"train_router: reward_fn must return {len(preferences)} finite rewards, got "
                             f"shape {rewards.shape}")
        params, opt_state = step(params, opt_state, jnp.asarray(preferences), z, jnp.asarray(rewards))
        history.append(float(rewards.mean()))
        if log is not None and ((r + 1) % max(1, rounds // 5) == 0 or r + 1 == rounds):
            log(f"router round {r + 1}/{rounds}: mean reward {np.mean(history[-max(1, rounds // 5):]):.4f}")
    nnx.update(router, params)
    return router, history
