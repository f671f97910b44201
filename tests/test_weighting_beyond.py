"""Tchebycheff, MGDA, CTWA, HVO and the conductor against hand-computed cases; scalarisations and per-sample
weights through every estimator."""

import itertools

import jax
import jax.numpy as jnp
import moocore
import numpy as np
import pytest

from morl_jax import rl, weighting
from morl_jax.rl.step import UpdateSettings, weighted_advantages
from morl_jax.weighting import Scalarization, Signals
from morl_jax.weighting.mgda import frank_wolfe


def rewards(seed=0, n=8, k=2):
    return np.random.default_rng(seed).uniform(0, 1, (n, k)).astype(np.float32)


# ---- tchebycheff ----------------------------------------------------------------------------------------


def test_tchebycheff_scores_by_hand_and_the_ideal_point_is_online():
    opt = weighting.tchebycheff([0.25, 0.75], rho=0.1, delta=0.0)
    assert opt.scalarizes and opt.needs == {"rewards"}
    r = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.2, 0.2]], np.float32)
    out, state = jax.jit(opt.update)(Signals(rewards=r), opt.init(2))
    ideal = np.array([1.0, 1.0])
    gaps = np.array([0.25, 0.75]) * (ideal - r)
    np.testing.assert_allclose(out.rewards, -gaps.max(axis=1) - 0.1 * gaps.sum(axis=1), rtol=1e-6)
    np.testing.assert_allclose(out.weights, [0.25, 0.75])
    # [0.5, 0.5] beats [1, 0] although 0.25*1 + 0.75*0 < 0.25*0.5 + 0.75*0.5 holds for both readings: the max
    assert out.rewards[2] > out.rewards[0]
    out, state = opt.update(Signals(rewards=np.array([[2.0, 0.0], [0.0, 0.0]], np.float32)), state)
    np.testing.assert_allclose(state.ideal, [2.0, 1.0])  # running maximum across batches


# ---- mgda -----------------------------------------------------------------------------------------------


def brute_force_min_norm(gram, steps=400):
    """min over a fine simplex grid of alpha^T G alpha."""
    k = gram.shape[0]
    grid = [np.array(c) / steps for c in itertools.product(range(steps + 1), repeat=k - 1) if sum(c) <= steps]
    alphas = np.array([np.append(g, 1 - g.sum()) for g in grid])
    values = np.einsum("ik,kj,ij->i", alphas, gram, alphas)
    return values.min()


@pytest.mark.parametrize("seed, k", [(0, 2), (1, 2), (2, 3), (3, 3), (4, 4)])
def test_mgda_finds_the_min_norm_point_of_the_hull(seed, k):
    g = np.random.default_rng(seed).normal(size=(k, 5))
    gram = (g @ g.T).astype(np.float32)
    alpha, state = weighting.mgda().update(Signals(gram=gram), weighting.mgda().init(k))
    assert alpha.min() >= 0 and alpha.sum() == pytest.approx(1.0, abs=1e-6)
    value = float(alpha @ gram @ alpha)
    # the grid only bounds the minimum from above (to its resolution)
    assert value <= brute_force_min_norm(gram.astype(np.float64), {2: 400, 3: 150, 4: 40}[k]) + 1e-5
    assert float(state.min_norm) == pytest.approx(np.sqrt(value), rel=1e-4)


def test_mgda_exact_faces_and_frank_wolfe_agree():
    g = np.random.default_rng(9).normal(size=(4, 6))
    gram = jnp.asarray(g @ g.T, jnp.float32)
    exact = weighting.min_norm_weights(gram)
    iterated = frank_wolfe(gram, 20000)
    assert float(exact @ gram @ exact) <= float(iterated @ gram @ iterated) + 1e-6
    np.testing.assert_allclose(float(exact @ gram @ exact), float(iterated @ gram @ iterated), rtol=1e-3)
    parallel = jnp.ones((3, 3), jnp.float32)  # identical gradients: every alpha is optimal, with norm 1
    alpha = weighting.min_norm_weights(parallel)
    assert float(alpha @ parallel @ alpha) == pytest.approx(1.0, rel=1e-5) and alpha.sum() == pytest.approx(1.0)


def test_mgda_closed_form_for_two_gradients():
    g1, g2 = np.array([1.0, 0.0]), np.array([-0.5, 1.0])
    gram = np.array([[g1 @ g1, g1 @ g2], [g1 @ g2, g2 @ g2]], np.float32)
    alpha = weighting.min_norm_weights(jnp.asarray(gram))
    a1 = np.clip((g2 - g1) @ g2 / np.sum((g1 - g2) ** 2), 0, 1)
    np.testing.assert_allclose(alpha, [a1, 1 - a1], rtol=1e-6)
    opposite = np.array([[1.0, -1.0], [-1.0, 1.0]], np.float32)  # a Pareto-stationary point: norm 0
    _, state = weighting.mgda().update(Signals(gram=opposite), weighting.mgda().init(2))
    assert float(state.min_norm) == pytest.approx(0.0, abs=1e-6)


# ---- ctwa -----------------------------------------------------------------------------------------------


def test_ctwa_covariances_and_weight_step_by_hand():
    r = rewards(1, n=8)
    opt = weighting.ctwa([0.5, 0.5], targets=[0.3, 0.0], lr=0.2, tau=0.5)
    w, state = opt.update(Signals(rewards=r, group_size=4), opt.init(2))
    s = (r @ np.array([0.5, 0.5])).reshape(2, 4)
    score = (s - s.mean(1, keepdims=True)) / (s.std(1, ddof=1, keepdims=True) + 1e-6)
    rg = r.reshape(2, 4, 2)
    cov = ((rg - rg.mean(1, keepdims=True)) * (score - score.mean(1, keepdims=True))[..., None]).mean(1).mean(0)
    np.testing.assert_allclose(state.ema, cov, rtol=1e-5)  # the first step initialises the EMA
    expected = np.log([0.5, 0.5]) + 0.2 * np.maximum(np.array([0.3, 0.0]) - cov, 0)
    np.testing.assert_allclose(w, np.exp(expected), rtol=1e-5)
    _, state2 = opt.update(Signals(rewards=r[::-1].copy(), group_size=4), state)
    r2 = r[::-1].reshape(2, 4, 2)
    s2 = (r[::-1] @ np.asarray(w)).reshape(2, 4)
    score2 = (s2 - s2.mean(1, keepdims=True)) / (s2.std(1, ddof=1, keepdims=True) + 1e-6)
    cov2 = ((r2 - r2.mean(1, keepdims=True)) * (score2 - score2.mean(1, keepdims=True))[..., None]).mean(1).mean(0)
    np.testing.assert_allclose(state2.ema, 0.5 * cov + 0.5 * cov2, rtol=1e-4)


# ---- hvo ------------------------------------------------------------------------------------------------


def test_hvo_box_scores_by_hand_and_balance_wins():
    r = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [0.2, 0.2]], np.float32)
    out, _ = weighting.hvo(margin=0.1).update(Signals(rewards=r, group_size=4), weighting.hvo().init(2))
    ref = r.min(0) - 0.1 * (r.max(0) - r.min(0)) - 1e-6
    np.testing.assert_allclose(out.rewards, np.prod(r - ref, axis=1), rtol=1e-5)
    assert out.rewards[1] > out.rewards[0] and out.rewards[1] > out.rewards[2]  # same sum, balanced wins


def test_hvo_exclusive_contributions_match_moocore():
    r = rewards(3, n=8)
    out, _ = weighting.hvo(form="exclusive", margin=0.05).update(Signals(rewards=r, group_size=4),
                                                                weighting.hvo().init(2))
    for g in range(2):
        pts = r[g * 4:(g + 1) * 4].astype(np.float64)
        ref = pts.min(0) - 0.05 * (pts.max(0) - pts.min(0)) - 1e-6
        expected = moocore.hv_contributions(pts, ref=ref, maximise=True)
        np.testing.assert_allclose(out.rewards[g * 4:(g + 1) * 4], expected, rtol=1e-4, atol=1e-7)


def test_hvo_fixed_reference_scores_against_one_point():
    r = np.array([[1.0, 0.0], [0.5, 0.5]], np.float32)
    out, _ = weighting.hvo(reference=[-0.1, -0.1]).update(Signals(rewards=r, group_size=2), weighting.hvo().init(2))
    np.testing.assert_allclose(out.rewards, [1.1 * 0.1, 0.6 * 0.6], rtol=1e-5)


# ---- conductor ------------------------------------------------------------------------------------------


def test_conductor_draws_per_sample_weights_and_takes_the_reinforce_step():
    opt = weighting.conductor(hidden_size=3, divisions=2, learning_rate=0.1, seed=1)
    state = opt.init(2)
    actions = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    hidden = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    r = rewards(4, n=8)
    w, new = jax.jit(opt.update)(Signals(rewards=r, hidden=hidden, group_size=4), state)
    assert w.shape == (8, 2)
    picks = np.array([int(np.argmin(np.abs(actions - row).sum(1))) for row in np.asarray(w)])
    np.testing.assert_allclose(w, actions[picks], atol=1e-6)  # every row is one of the lattice's actions
    s = (np.asarray(w) * r).sum(1).reshape(2, 4)
    adv = ((s - s.mean(1, keepdims=True)) / (s.std(1, ddof=1, keepdims=True) + 1e-6)).reshape(-1)
    # The head starts at zero: pi is uniform, and the REINFORCE gradient is -mean_i A_i (onehot(a_i) - 1/A) h_i.
    grad_head = -np.einsum("n,nd,na->da", adv, hidden, np.eye(3)[picks] - 1 / 3) / 8
    step = np.sign(grad_head) * 0.1  # Adam's first step: lr * sign(g) wherever g is not ~0
    big = np.abs(grad_head) > 1e-3
    np.testing.assert_allclose(np.asarray(new.head)[big], -step[big], rtol=1e-3)
    np.testing.assert_allclose(new.action_rate, np.bincount(picks, minlength=3) / 8)


def test_conductor_learns_which_weights_pay_in_which_context():
    """In context A every completion is strong on objective 0 and weak on 1, in context B the reverse. A sample
    that weights its strong objective scores above its group, so the head learns to pick it by context."""
    opt = weighting.conductor(hidden_size=2, divisions=1, learning_rate=0.05, seed=0)
    state = opt.init(2)
    update = jax.jit(opt.update)
    rng = np.random.default_rng(0)
    for _ in range(200):
        context = np.repeat(rng.integers(0, 2, 4), 4)
        hidden = np.eye(2, dtype=np.float32)[context]
        strong = rng.uniform(0.7, 1.0, 16).astype(np.float32)
        weak = rng.uniform(0.0, 0.3, 16).astype(np.float32)
        r = np.where((context == 0)[:, None], np.stack([strong, weak], 1), np.stack([weak, strong], 1))
        _, state = update(Signals(rewards=r, hidden=hidden, group_size=4), state)
    logits = np.asarray(state.head) + np.asarray(state.bias)  # rows: context A, context B
    # the actions of divisions=1 are [1, 0] (objective 0) and [0, 1] (objective 1)
    assert np.argmax(logits[0]) == 0 and np.argmax(logits[1]) == 1
    assert min(logits[0, 0] - logits[0, 1], logits[1, 1] - logits[1, 0]) > 1.0


# ---- scalarisations and per-sample weights through every estimator ----------------------------------------


@pytest.mark.parametrize("name", sorted(rl.ADVANTAGE_ESTIMATORS))
def test_scalarisations_and_per_sample_weights_reach_every_estimator(name):
    est = rl.get_estimator(name)
    r = rewards(5, n=8, k=3)
    per_sample = np.random.default_rng(6).dirichlet(np.ones(3), 8).astype(np.float32)
    for level in est.levels:
        settings = UpdateSettings(estimator=name, level=level, group_size=4)
        got = weighted_advantages(jnp.asarray(r), jnp.asarray(per_sample), settings)
        if level == "reward":
            expected = est.fn(jnp.asarray((r * per_sample).sum(1)), 4)
        else:
            per_objective = np.stack([est.fn(jnp.asarray(r[:, k]), 4) for k in range(3)], 1)
            combined = (per_objective * per_sample).sum(1)
            expected = combined if est.post is None else est.post(jnp.asarray(combined), jnp.ones(8, bool), 1e-8,
                                                                   None)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    scores = jnp.asarray(np.random.default_rng(7).normal(size=8), jnp.float32)
    scalarized = Scalarization(scores, jnp.full((3,), 1 / 3))
    if "reward" in est.levels:
        np.testing.assert_allclose(weighted_advantages(jnp.asarray(r), scalarized, UpdateSettings(estimator=name,
                                                                                                  group_size=4)),
                                   est.fn(scores, 4), rtol=1e-6)
    with pytest.raises(ValueError, match="scalarisation .* needs level='reward'|supports level"):
        weighted_advantages(jnp.asarray(r), scalarized, UpdateSettings(estimator=name, level="advantage",
                                                                       group_size=4))


def test_new_optimizers_are_registered_and_transforms_refuse_scalarisations():
    assert {"tchebycheff", "mgda", "ctwa", "hvo", "conductor"} <= set(weighting.WEIGHT_OPTIMIZERS)
    with pytest.raises(ValueError, match="returns a scalarisation"):
        weighting.chain(weighting.tchebycheff(), weighting.floor(0.1))
