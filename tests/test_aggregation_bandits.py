"""Contextual bandits: ridge statistics against the closed form, regret on a synthetic linear bandit under
sampled preferences (against the oracle and a uniform policy), greedy serving, contexts, the registry; the
preference router against the closed-form optimum of a concave synthetic problem."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from morl_jax.aggregation import Router, features, get_bandit, posterior_mean, register_bandit, train_router

D, A, M = 6, 5, 2


def _contexts(rng, n):
    x = rng.normal(size=(n, D - 1))
    return np.concatenate([x / np.linalg.norm(x, axis=1, keepdims=True), np.ones((n, 1))], axis=1).astype(np.float32)


def _play(name, rounds=150, batch=4, seed=0):
    """Per-round regret of a bandit (or 'uniform') on a linear bandit with M reward objectives: arm a's expected
    reward vector is Θ*_aᵀ x, the learner sees it with N(0, 0.3²) noise and is judged on p·r for a fresh
    preference p per context."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=(A, D, M))
    if name != "uniform":
        bandit = get_bandit(name)
        state = bandit.init(A, D, M)
        select, update = jax.jit(bandit.select), jax.jit(bandit.update)
    key = jax.random.PRNGKey(seed)
    regret = []
    for _ in range(rounds):
        x = _contexts(rng, batch)
        p = rng.dirichlet(np.ones(M), batch).astype(np.float32)
        key, draw = jax.random.split(key)
        arms = rng.integers(0, A, batch) if name == "uniform" else np.asarray(select(state, x, p, draw))
        means = np.einsum("bd,adm->bam", x, theta)
        utility = np.einsum("bam,bm->ba", means, p)
        regret.append(np.sum(utility.max(axis=1) - utility[np.arange(batch), arms]))
        if name != "uniform":
            observed = means[np.arange(batch), arms] + 0.3 * rng.normal(size=(batch, M))
            state = update(state, x, jnp.asarray(arms), observed.astype(np.float32))
    return np.array(regret)


@pytest.mark.parametrize("name", ["linucb", "thompson"])
def test_regret_is_small_and_shrinks(name):
    uniform = _play("uniform")
    regret = _play(name)
    quarter = len(regret) // 4
    assert regret.sum() < 0.1 * uniform.sum()
    assert regret[-quarter:].sum() < 0.2 * regret[:quarter].sum()  # it learns: late rounds cost far less
    assert regret[-quarter:].sum() < 0.05 * uniform[-quarter:].sum()


def test_statistics_are_the_ridge_regression_of_each_arm():
    rng = np.random.default_rng(1)
    bandit = get_bandit("linucb", ridge=0.5)
    state = bandit.init(A, D, M)
    xs, arms, rs = [], [], []
    for _ in range(4):
        x, a, r = _contexts(rng, 7), rng.integers(0, A, 7), rng.normal(size=(7, M)).astype(np.float32)
        state = bandit.update(state, x, jnp.asarray(a), r)
        xs.append(x), arms.append(a), rs.append(r)
    x, a, r = np.concatenate(xs), np.concatenate(arms), np.concatenate(rs)
    for arm in range(A):
        rows = a == arm
        expected = np.linalg.solve(x[rows].T @ x[rows] + 0.5 * np.eye(D), x[rows].T @ r[rows])
        np.testing.assert_allclose(posterior_mean(state)[arm], expected, atol=1e-4)
        assert int(state.counts[arm]) == rows.sum()


def test_linucb_bonus_is_the_confidence_width_and_greedy_serves_the_mean():
    bandit = get_bandit("linucb", alpha=2.0)
    state = bandit.init(2, D, M)
    rng = np.random.default_rng(2)
    x = _contexts(rng, 50)
    # arm 0 seen often with reward (1, 0), arm 1 twice with reward (0.8, 0): the mean favours arm 0, the width arm 1
    state = bandit.update(state, x, jnp.zeros(50, jnp.int32), np.tile([1.0, 0.0], (50, 1)).astype(np.float32))
    state = bandit.update(state, x[:2], jnp.ones(2, jnp.int32), np.tile([0.8, 0.0], (2, 1)).astype(np.float32))
    query, p = x[10:11], np.array([[1.0, 0.0]], np.float32)
    theta = np.asarray(posterior_mean(state))
    width = [np.sqrt(query[0] @ np.linalg.solve(np.asarray(state.precision[a]), query[0])) for a in range(2)]
    scores = [query[0] @ theta[a] @ p[0] + 2.0 * width[a] for a in range(2)]
    means = [query[0] @ theta[a] @ p[0] for a in range(2)]
    assert np.argmax(means) == 0 and np.argmax(scores) == 1  # the case where exploring and serving differ
    assert int(bandit.select(state, query, p, jax.random.PRNGKey(0))[0]) == 1
    assert int(bandit.greedy(state, query, p)[0]) == 0


def test_features_registry_and_errors():
    h = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(features(h), [[0.6, 0.8, 1.0], [0.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match=r"\[B, D\]"):
        features(np.zeros(3))
    with pytest.raises(KeyError, match="known: linucb, thompson"):
        get_bandit("epsilon_greedy")
    with pytest.raises(ValueError, match="already registered"):
        register_bandit("linucb", lambda: None)
    with pytest.raises(ValueError, match="alpha >= 0 and ridge > 0"):
        get_bandit("linucb", ridge=0.0)
    with pytest.raises(ValueError, match="num_arms"):
        get_bandit("thompson").init(0, D, M)


def test_router_learns_the_closed_form_optimum_of_a_concave_problem():
    # r = Σ_k p_k sqrt(m_k) on the simplex is maximised at m ∝ p² (Lagrange: p_k / (2 sqrt(m_k)) = λ).
    rng = np.random.default_rng(0)

    def reward(p, m):
        return (p * np.sqrt(m)).sum(axis=1) + 0.01 * rng.normal(size=len(p))

    router = Router(3, 3, rngs=nnx.Rngs(0))
    test = np.random.default_rng(1).dirichlet(np.ones(3), 64).astype(np.float32)
    optimum = test ** 2 / (test ** 2).sum(axis=1, keepdims=True)
    before = np.abs(np.asarray(router.weights(test)) - optimum).sum(axis=1).mean()
    np.testing.assert_allclose(router.weights(test), (test + 1e-3) / (1 + 3e-3), atol=1e-6)  # starts at p
    router, history = train_router(router, reward, rounds=300, preferences_per_round=16, draws=4, noise_scale=0.3)
    after = np.abs(np.asarray(router.weights(test)) - optimum).sum(axis=1).mean()
    assert after < 0.4 * before and after < 0.12
    assert np.mean(history[-30:]) > np.mean(history[:30])


def test_router_errors_are_named():
    with pytest.raises(ValueError, match="num_experts == num_objectives"):
        Router(3, 4, rngs=nnx.Rngs(0))
    router = Router(2, 4, prior=False, rngs=nnx.Rngs(0))
    assert router.weights(jnp.ones((5, 2))).shape == (5, 4)
    with pytest.raises(ValueError, match="draws >= 2"):
        train_router(router, lambda p, m: np.zeros(len(p)), rounds=1, draws=1)
    with pytest.raises(ValueError, match="finite rewards"):
        train_router(router, lambda p, m: np.zeros(1), rounds=1)
