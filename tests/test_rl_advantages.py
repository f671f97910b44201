"""Advantage estimators against hand values and an independent numpy reference on ragged groups (docs/algorithms.md §1)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from morl_jax import rl
from morl_jax.rl import advantages as adv_lib
from morl_jax.rl.advantages import advantages

NAMES = ["grpo", "drgrpo", "rloo", "reinforce_pp", "reinforce_pp_baseline"]


# ---- numpy reference: groups are explicit (possibly ragged) lists, formulas as in docs/algorithms.md §1 ----------------


def _ref_groupwise(name, groups, eps):
    out = []
    for g in groups:
        g = np.asarray(g, np.float64)
        if name in ("grpo", "drgrpo", "reinforce_pp_baseline"):
            mean, std = (0.0, 1.0) if g.size == 1 else (g.mean(), g.std(ddof=1))
            out.append((g - mean) / (std + eps) if name == "grpo" else g - mean)
        elif name == "rloo":
            out.append(np.array([g[i] - np.delete(g, i).mean() for i in range(g.size)]) if g.size > 1 else 0 * g)
        else:  # reinforce_pp: no group baseline
            out.append(g.copy())
    return out


def _whiten(x, eps=1e-8):
    return (x - x.mean()) / np.sqrt(x.var(ddof=1) + eps)


def ref_scalar(name, groups, eps=None):
    """Advantages for ragged groups, concatenated; `eps` is the group eps, or the whitening eps of reinforce_pp*."""
    if name.startswith("reinforce"):
        return _whiten(np.concatenate(_ref_groupwise(name, groups, 0.0)), 1e-8 if eps is None else eps)
    return np.concatenate(_ref_groupwise(name, groups, 1e-6 if eps is None else eps))


def ref_gdpo(rewards, weights, group_size, eps=1e-6, batch_eps=1e-8):
    n, k = rewards.shape
    weights = np.broadcast_to(weights, (n, k))
    pre = np.zeros(n)
    for j in range(k):
        groups = rewards[:, j].reshape(-1, group_size)
        norm = np.concatenate(_ref_groupwise("grpo", groups, eps))
        pre += weights[:, j] * norm
    return _whiten(pre, batch_eps)


def rewards_fixture(seed=0, n=12, k=3):
    return np.random.default_rng(seed).normal(size=(n, k)).astype(np.float32)


# ---- hand-computed values ---------------------------------------------------------------------------------


def test_hand_values_two_groups():
    r = jnp.array([1.0, 2.0, 3.0, 6.0, 0.0, 0.0, 0.0, 4.0])
    # group 1: mean 3, unbiased std sqrt(14/3); group 2: mean 1, std 2.
    s1 = np.sqrt(14 / 3)
    np.testing.assert_allclose(
        rl.grpo(r, 4), [-2 / s1, -1 / s1, 0, 3 / s1, -0.5, -0.5, -0.5, 1.5], rtol=1e-5
    )
    np.testing.assert_allclose(rl.drgrpo(r, 4), [-2, -1, 0, 3, -1, -1, -1, 3], rtol=1e-6)
    # leave-one-out: 1 - (2+3+6)/3, ...
    np.testing.assert_allclose(
        rl.rloo(r, 4), [1 - 11 / 3, 2 - 10 / 3, 3 - 3, 6 - 2, -4 / 3, -4 / 3, -4 / 3, 4], rtol=1e-5, atol=1e-6
    )
    # batch: mean 2, unbiased var 34/7.
    np.testing.assert_allclose(rl.reinforce_pp(r, 4), (np.asarray(r) - 2) / np.sqrt(34 / 7), rtol=1e-5)
    centred = np.array([-2, -1, 0, 3, -1, -1, -1, 3.0])  # mean 0, unbiased var 26/7
    np.testing.assert_allclose(rl.reinforce_pp_baseline(r, 4), centred / np.sqrt(26 / 7), rtol=1e-5)


def test_gdpo_hand_values():
    # Objective 1 groups (0,1),(0,1) -> ±1/sqrt2 each; objective 2 groups (0,0),(0,2) -> 0 and ±1/sqrt2.
    r = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [1.0, 2.0]])
    pre = np.array([-1, 1, -2, 2]) / np.sqrt(2)  # weights (1, 1)
    expected = pre / np.sqrt(np.sum(pre**2) / 3)  # mean 0, unbiased var
    np.testing.assert_allclose(rl.gdpo(r, 2), expected, rtol=1e-5)


def test_single_sample_groups_follow_verl():
    r = jnp.array([2.0, -3.0])
    np.testing.assert_allclose(rl.grpo(r, 1), np.array([2.0, -3.0]) / (1 + 1e-6), rtol=1e-6)
    np.testing.assert_allclose(rl.drgrpo(r, 1), [2.0, -3.0])
    with pytest.raises(ValueError, match="rloo: group_size=1"):
        rl.rloo(r, 1)


# ---- against the numpy reference --------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("group_size", [2, 3, 6])
def test_scalar_estimators_match_reference(name, group_size):
    r = rewards_fixture(1, n=12, k=1)[:, 0]
    got = adv_lib.get_estimator(name).fn(jnp.asarray(r), group_size)
    np.testing.assert_allclose(got, ref_scalar(name, r.reshape(-1, group_size)), rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("eps", [1e-4, 1e-6])
def test_eps_is_used(eps):
    r = np.array([0.0, 1e-4, 0.0, 3.0], np.float32)
    np.testing.assert_allclose(rl.grpo(r, 2, eps=eps), ref_scalar("grpo", r.reshape(2, 2), eps), rtol=1e-4)
    w = rewards_fixture(2, n=4, k=2)
    np.testing.assert_allclose(
        rl.gdpo(w, 2, eps=eps, batch_eps=1e-4), ref_gdpo(w.astype(np.float64), np.ones(2), 2, eps, 1e-4), rtol=1e-4
    )


@pytest.mark.parametrize("name", NAMES)
def test_reward_level_scalarises_first(name):
    r = rewards_fixture(3)
    w = np.array([0.5, 0.3, 0.2], np.float32)
    got = advantages(name, r, w, 4, level="reward")
    np.testing.assert_allclose(got, ref_scalar(name, (r @ w).reshape(-1, 4)), rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name", NAMES)
def test_advantage_level_combines_per_objective_estimates(name):
    r = rewards_fixture(4)
    w = np.array([0.5, 0.3, 0.2], np.float32)
    got = advantages(name, r, w, 4, level="advantage")
    expected = sum(w[j] * ref_scalar(name, r[:, j].reshape(-1, 4)) for j in range(3))
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("level", ["reward", "advantage"])
def test_per_sample_weights(level):
    r = rewards_fixture(5)
    w = np.random.default_rng(6).dirichlet(np.ones(3), size=12).astype(np.float32)
    got = advantages("grpo", r, w, 3, level=level)
    if level == "reward":
        expected = ref_scalar("grpo", np.sum(r * w, axis=1).reshape(-1, 3))
    else:
        expected = sum(w[:, j] * ref_scalar("grpo", r[:, j].reshape(-1, 3)) for j in range(3))
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(
        advantages("gdpo", r, w, 3, level="advantage"), ref_gdpo(r.astype(np.float64), w, 3), rtol=2e-5
    )


def test_gdpo_matches_reference_and_registry():
    r = rewards_fixture(7)
    w = np.array([2.0, 1.0, 0.5], np.float32)
    expected = ref_gdpo(r.astype(np.float64), w, 4)
    np.testing.assert_allclose(rl.gdpo(r, 4, w), expected, rtol=2e-5)
    np.testing.assert_allclose(advantages("gdpo", r, w, 4, level="advantage"), expected, rtol=2e-5)
    # One objective: group normalisation followed by batch whitening.
    np.testing.assert_allclose(rl.gdpo(r[:, 0], 4), _whiten(ref_scalar("grpo", r[:, 0].reshape(-1, 4))), rtol=2e-5)


def test_gdpo_separates_combinations_grpo_collapses():
    # Group A totals (0, 1) from objective 1 alone; group B totals (0, 2) from both objectives (GDPO paper).
    r = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    w = jnp.ones(2)
    a_grpo = advantages("grpo", r, w, 2)
    np.testing.assert_allclose(a_grpo[:2], a_grpo[2:], rtol=1e-6)  # both groups -> (-0.71, +0.71)
    np.testing.assert_allclose(a_grpo[:2], [-np.sqrt(0.5), np.sqrt(0.5)], rtol=1e-5)
    a_gdpo = advantages("gdpo", r, w, 2, level="advantage")
    assert not np.allclose(a_gdpo[:2], a_gdpo[2:], rtol=1e-2)
    np.testing.assert_allclose(a_gdpo[3] / a_gdpo[1], 2.0, rtol=1e-5)  # both rewards earned: twice the signal


@pytest.mark.parametrize("name", sorted(rl.ADVANTAGE_ESTIMATORS))
def test_declared_scale_invariance_holds(name):
    """The registry's `scale_invariant` fact (which the config reads to refuse no-op reward multipliers) is
    what the estimator does: invariant ones give the same advantages for c * rewards, the others c times them."""
    r = rewards_fixture(8)
    w = np.array([0.2, 0.3, 0.5], np.float32)
    c = 3.7
    est = rl.get_estimator(name)
    level = est.levels[0]
    base = advantages(name, r, w, 4, level=level)
    scaled = advantages(name, c * r, w, 4, level=level)
    if est.scale_invariant:
        np.testing.assert_allclose(scaled, base, rtol=1e-4, atol=1e-5)
    else:  # linear in the rewards
        np.testing.assert_allclose(scaled, c * base, rtol=1e-5, atol=1e-6)
        assert not np.allclose(scaled, base, rtol=1e-2)


@pytest.mark.parametrize("name", sorted(rl.ADVANTAGE_ESTIMATORS))
def test_declared_group_need_holds(name):
    """`needs_groups` (the config's group_size >= 2 check): without it the estimator ignores the grouping."""
    r = rewards_fixture(8)
    w = np.array([0.2, 0.3, 0.5], np.float32)
    level = rl.get_estimator(name).levels[0]
    same = np.allclose(advantages(name, r, w, 4, level=level), advantages(name, r, w, 2, level=level), atol=1e-6)
    assert same != rl.get_estimator(name).needs_groups


def verl_masked_whiten(values, lengths, eps=1e-8):
    """verl's masked_whiten over a [N, T] token grid where sample i fills its first lengths[i] tokens."""
    t = max(lengths)
    grid = np.repeat(np.asarray(values, np.float64)[:, None], t, axis=1)
    mask = np.arange(t)[None, :] < np.asarray(lengths)[:, None]
    mean = (grid * mask).sum() / mask.sum()
    var = (((grid - mean) ** 2) * mask).sum() / mask.sum() * mask.sum() / (mask.sum() - 1)
    return (np.asarray(values, np.float64) - mean) / np.sqrt(var + eps)


@pytest.mark.parametrize("name", ["reinforce_pp", "reinforce_pp_baseline", "gdpo"])
def test_token_weighted_whitening_is_verls_masked_whiten(name):
    r = rewards_fixture(8)
    w = np.array([0.2, 0.3, 0.5], np.float32)
    lengths = np.array([3, 9, 1, 4, 7, 2, 2, 5, 6, 1, 8, 3])
    level = rl.get_estimator(name).levels[0]
    got = advantages(name, r, w, 4, level=level, token_counts=jnp.asarray(lengths))
    if name == "gdpo":
        pre = np.stack([rl.grpo(jnp.asarray(r[:, k]), 4) for k in range(r.shape[1])], axis=1) @ w
    elif name == "reinforce_pp":
        pre = r @ w
    else:
        s = r @ w
        pre = s - np.repeat(s.reshape(-1, 4).mean(axis=1), 4)
    np.testing.assert_allclose(got, verl_masked_whiten(np.asarray(pre), lengths), rtol=1e-4, atol=1e-5)
    per_sample = advantages(name, r, w, 4, level=level)
    assert not np.allclose(got, per_sample, atol=1e-3)  # the weighting by length matters here


def test_token_counts_are_refused_by_estimators_that_do_not_whiten():
    with pytest.raises(ValueError, match="'grpo' does not whiten the batch"):
        advantages("grpo", rewards_fixture(8), np.ones(3), 4, token_counts=jnp.ones(rewards_fixture(8).shape[0]))


# ---- masks ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_mask_excludes_samples_from_statistics(name):
    r = rewards_fixture(9, n=12, k=1)[:, 0].astype(np.float64)
    mask = np.ones(12, bool)
    mask[[1, 6, 7]] = False  # groups of 4: sizes become 3, 2, 4
    r_bad = np.where(mask, r, np.nan)  # masked samples may hold anything
    got = np.asarray(adv_lib.get_estimator(name).fn(jnp.asarray(r_bad, jnp.float32), 4, mask=jnp.asarray(mask)))
    groups = [r[i * 4 : (i + 1) * 4][mask[i * 4 : (i + 1) * 4]] for i in range(3)]
    np.testing.assert_allclose(got[mask], ref_scalar(name, groups), rtol=2e-5, atol=2e-6)
    np.testing.assert_array_equal(got[~mask], 0.0)


def test_mask_single_valid_sample_in_group():
    r = jnp.array([5.0, 7.0, 1.0, 3.0])
    mask = jnp.array([True, False, True, True])
    s = np.sqrt(2) + 1e-6  # group (1, 3): std sqrt(2); group (5, -): one sample, mean 0 and std 1
    np.testing.assert_allclose(rl.grpo(r, 2, mask=mask), [5 / (1 + 1e-6), 0, -1 / s, 1 / s], rtol=1e-5)
    np.testing.assert_allclose(rl.rloo(r, 2, mask=mask), [0, 0, -2, 2], rtol=1e-6)


def test_mask_in_gdpo_and_advantages():
    r = rewards_fixture(10).astype(np.float64)
    mask = np.ones(12, bool)
    mask[[0, 5]] = False
    w = np.array([1.0, 2.0, 0.5])
    got = np.asarray(advantages("gdpo", jnp.where(mask[:, None], r, jnp.inf), w, 4, level="advantage", mask=mask))
    pre = np.zeros(mask.sum())
    for j in range(3):
        groups = [r[i * 4 : (i + 1) * 4, j][mask[i * 4 : (i + 1) * 4]] for i in range(3)]
        pre += w[j] * np.concatenate(_ref_groupwise("grpo", groups, 1e-6))
    np.testing.assert_allclose(got[mask], _whiten(pre), rtol=2e-5, atol=2e-6)
    np.testing.assert_array_equal(got[~mask], 0.0)


def test_fully_masked_batch_gives_zeros():
    r = rewards_fixture(11)
    for name in NAMES:
        np.testing.assert_array_equal(advantages(name, r, jnp.ones(3), 4, mask=jnp.zeros(12, bool)), 0.0)


# ---- jit, registry, errors --------------------------------------------------------------------------------


def test_jit_matches_eager():
    r = rewards_fixture(12)
    w = jnp.array([0.2, 0.3, 0.5])
    f = jax.jit(advantages, static_argnames=("name", "group_size", "level"))
    for name, level in [("grpo", "reward"), ("rloo", "advantage"), ("gdpo", "advantage")]:
        np.testing.assert_allclose(
            f(name=name, rewards=r, weights=w, group_size=4, level=level),
            advantages(name, r, w, 4, level=level), rtol=1e-6, atol=1e-7,
        )


def test_register_custom_estimator():
    def sign(rewards, group_size, *, mask=None):
        r, valid = adv_lib._prepare(rewards, group_size, mask, "sign")
        return jnp.where(valid, jnp.sign(r), 0.0)

    rl.register_estimator("test_sign", sign)
    try:
        np.testing.assert_array_equal(advantages("test_sign", jnp.array([[-2.0], [3.0]]), jnp.ones(1), 2), [-1, 1])
        with pytest.raises(ValueError, match="already registered"):
            rl.register_estimator("test_sign", sign)
        with pytest.raises(ValueError, match="has no eps"):
            advantages("test_sign", jnp.ones((2, 1)), jnp.ones(1), 2, eps=1e-3)
    finally:
        del rl.ADVANTAGE_ESTIMATORS["test_sign"]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: advantages("ppo", jnp.ones((4, 2)), jnp.ones(2), 2), r"unknown advantage estimator 'ppo'; known: .*gdpo"),
        (lambda: advantages("grpo", jnp.ones(4), jnp.ones(1), 2), r"rewards must be \[N, K\]"),
        (lambda: advantages("grpo", jnp.ones((4, 2)), jnp.ones(3), 2), r"weights must be \[K\]=\(2,\)"),
        (lambda: advantages("grpo", jnp.ones((4, 2)), jnp.ones((4, 3)), 2), r"got \(4, 3\)"),
        (lambda: advantages("grpo", jnp.ones((4, 2)), jnp.ones((2, 2)), 2), r"\[N, K\]=\(4, 2\)"),
        (lambda: advantages("grpo", jnp.ones((6, 2)), jnp.ones(2), 4), r"N=6 samples is not divisible by group_size=4"),
        (lambda: advantages("grpo", jnp.ones((4, 2)), jnp.ones(2), 2, level="token"), r"unknown level 'token'"),
        (lambda: advantages("gdpo", jnp.ones((4, 2)), jnp.ones(2), 2), r"gdpo supports level 'advantage', not 'reward'"),
        (lambda: advantages("rloo", jnp.ones((4, 2)), jnp.ones(2), 2, eps=1e-4), r"'rloo' has no eps"),
        (lambda: advantages("grpo", jnp.ones((4, 2)), jnp.ones(2), 2, batch_eps=1e-4), r"'grpo' has no batch"),
        (lambda: rl.grpo(jnp.ones(4), 2.0), r"group_size must be a positive Python int"),
        (lambda: rl.grpo(jnp.ones(4), 0), r"group_size must be a positive Python int"),
        (lambda: rl.grpo(jnp.ones(4), 2, mask=jnp.ones(3, bool)), r"mask must have shape \(4,\)"),
        (lambda: rl.grpo(jnp.ones((4, 1)), 2), r"rewards must be 1-D"),
    ],
)
def test_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
