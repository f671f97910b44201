"""Weight optimizers: fixed (validated, constant) and SAW (against the paper's formula); registry; pytrees."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from morl_jax import weighting
from morl_jax.rl.advantages import advantages
from morl_jax.weighting import Signals


def saw_reference(rewards, offsets, normalize=False):
    """SAW as in He et al.'s compute_advantage, written with numpy over the whole batch."""
    shifted = rewards.astype(np.float64) + np.asarray(offsets)
    cv = shifted.std(axis=0, ddof=1) / (np.abs(shifted.mean(axis=0)) + 1e-8)
    k = rewards.shape[1]
    return (1.0 if normalize else k) * cv / (cv.sum() + 1e-8)


def tool_rewards(seed=0, n=16):
    """Correctness in [-3, 3] and format in {0, 1}, as in SAW's tool-calling task."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(-3, 3, n), rng.integers(0, 2, n)], axis=1).astype(np.float32)


# ---- fixed ------------------------------------------------------------------------------------------------


def test_fixed_is_constant_and_normalised():
    opt = weighting.get_weight_optimizer("fixed", weights=[1.0, 3.0])
    assert opt.needs == frozenset()
    state = opt.init(2)
    update = jax.jit(opt.update)
    for _ in range(3):
        w, state = update(Signals(), state)
        np.testing.assert_allclose(w, [0.25, 0.75])
        assert w.dtype == jnp.float32
    np.testing.assert_allclose(weighting.fixed().init(4).weights, np.full(4, 0.25))


@pytest.mark.parametrize(
    "weights, message",
    [
        ([1.0, -0.5], "finite, non-negative"),
        ([1.0, np.nan], "finite, non-negative"),
        ([np.inf, 1.0], "finite, non-negative"),
        ([0.0, 0.0], "must not all be zero"),
        ([], "non-empty 1-D"),
        ([[0.5, 0.5]], "non-empty 1-D"),
    ],
)
def test_fixed_rejects_bad_weights(weights, message):
    with pytest.raises(ValueError, match=message):
        weighting.fixed(weights)


def test_init_checks_number_of_objectives():
    with pytest.raises(ValueError, match=r"fixed weights have length 3 but there are K=2 objectives"):
        weighting.fixed([0.2, 0.3, 0.5]).init(2)
    with pytest.raises(ValueError, match=r"saw offsets have length 2 but there are K=3 objectives"):
        weighting.saw([3.0, 0.0]).init(3)
    with pytest.raises(ValueError, match=r"K must be a positive int"):
        weighting.fixed().init(0)


# ---- SAW --------------------------------------------------------------------------------------------------


def saw_step(opt, signals, k=2):
    return opt.update(signals, opt.init(k))


def test_saw_matches_numpy_and_hand_values():
    opt = weighting.get_weight_optimizer("saw", offsets=[3.0, 0.0])
    assert opt.needs == frozenset({"rewards"})
    r = tool_rewards(1)
    w, state = jax.jit(opt.update)(Signals(rewards=r, group_size=4), opt.init(2))
    np.testing.assert_allclose(w, saw_reference(r, [3.0, 0.0]), rtol=1e-5)
    np.testing.assert_allclose(w.sum(), 2.0, rtol=1e-6)
    # By hand: correctness+3 = (2, 4) -> mean 3, std sqrt(2), CV sqrt(2)/3; format (0, 1) -> CV sqrt(.5)/.5.
    w, state = saw_step(opt, Signals(rewards=jnp.array([[-1.0, 0.0], [1.0, 1.0]])))
    cv = np.array([np.sqrt(2) / 3, np.sqrt(0.5) / 0.5])
    np.testing.assert_allclose(state.cv, cv, rtol=1e-5)
    np.testing.assert_allclose(w, 2 * cv / cv.sum(), rtol=1e-5)


def test_saw_uses_the_absolute_mean():
    # (-1, -3): mean -2, CV sqrt(2)/2; (1, 3): mean 2, the same CV -> equal weights.
    w, _ = saw_step(weighting.saw(), Signals(rewards=jnp.array([[-1.0, 1.0], [-3.0, 3.0]])))
    np.testing.assert_allclose(w, [1.0, 1.0], rtol=1e-6)


def test_saw_shifts_weight_to_the_less_learned_objective():
    # Objective 0 is nearly learned (homogeneous rewards), objective 1 still varies a lot.
    rng = np.random.default_rng(2)
    r = np.stack([1.0 + 0.01 * rng.normal(size=32), rng.uniform(0, 2, 32)], axis=1)
    w, _ = saw_step(weighting.saw(), Signals(rewards=r))
    assert w[1] > 10 * w[0]


def test_saw_normalize_flag_and_three_objectives():
    r = np.random.default_rng(3).uniform(0.5, 2.0, size=(12, 3)).astype(np.float32)
    w, _ = saw_step(weighting.saw(normalize=True), Signals(rewards=r), k=3)
    np.testing.assert_allclose(w, saw_reference(r, np.zeros(3), normalize=True), rtol=1e-5)
    np.testing.assert_allclose(w.sum(), 1.0, rtol=1e-6)


def test_saw_mask_restricts_statistics():
    r = tool_rewards(4)
    mask = np.ones(16, bool)
    mask[[2, 9, 10]] = False
    w, _ = saw_step(weighting.saw([3.0, 0.0]), Signals(rewards=np.where(mask[:, None], r, np.nan), mask=mask))
    np.testing.assert_allclose(w, saw_reference(r[mask], [3.0, 0.0]), rtol=1e-5)


def test_saw_constant_rewards_give_zero_weights():
    w, _ = saw_step(weighting.saw(), Signals(rewards=np.ones((4, 2))))
    np.testing.assert_array_equal(w, 0.0)


@pytest.mark.parametrize(
    "signals, message",
    [
        (Signals(), r"'saw' needs signals \['rewards'\]"),
        (Signals(rewards=np.ones((4, 3))), r"rewards must be \[N, K=2\]"),
        (Signals(rewards=np.ones((1, 2))), r"N >= 2"),
        (Signals(rewards=np.ones((4, 2)), mask=np.ones(3, bool)), r"mask must have shape \(4,\)"),
    ],
)
def test_saw_signal_errors(signals, message):
    with pytest.raises(ValueError, match=message):
        saw_step(weighting.saw(), signals)


def test_saw_rejects_bad_offsets():
    with pytest.raises(ValueError, match="saw offsets must be a non-empty 1-D sequence of finite numbers"):
        weighting.saw([np.nan, 0.0])


# ---- registry, pytrees, integration -----------------------------------------------------------------------


def test_registry():
    assert {"fixed", "saw", "hypervolume", "hypervolume_gradient", "gradient"} <= set(weighting.WEIGHT_OPTIMIZERS)
    with pytest.raises(ValueError, match=r"unknown weight optimizer 'hv'; known: .*fixed.*saw"):
        weighting.get_weight_optimizer("hv")
    with pytest.raises(ValueError, match="already registered"):
        weighting.register("fixed", weighting.fixed)

    def bogus():
        return weighting.fixed()._replace(needs=frozenset({"foo"}))

    weighting.register("test_bogus", bogus)
    try:
        with pytest.raises(ValueError, match=r"needs unknown signals \['foo'\]"):
            weighting.get_weight_optimizer("test_bogus")
    finally:
        del weighting.WEIGHT_OPTIMIZERS["test_bogus"]


def test_signals_pytree_keeps_group_size_static():
    s = Signals(rewards=jnp.ones((4, 2)), group_size=2, gram=jnp.eye(2))
    leaves, treedef = jax.tree_util.tree_flatten(s)
    assert len(leaves) == 2  # None fields have no leaves; group_size lives in the treedef
    assert jax.tree_util.tree_unflatten(treedef, leaves).group_size == 2
    assert jax.jit(lambda sig: sig.group_size * sig.rewards.sum())(s) == 16.0
    assert weighting.SIGNAL_FIELDS >= {"rewards", "group_size", "gram", "eval_point", "hv_gain", "hidden",
                                       "learning_rate"}


def test_saw_weights_drive_advantages_under_jit():
    opt = weighting.saw([3.0, 0.0])

    @jax.jit
    def step(state, rewards):
        w, state = opt.update(Signals(rewards=rewards, group_size=4), state)
        return w, advantages("gdpo", rewards, w, 4, level="advantage")

    r = tool_rewards(6)
    w, adv = step(opt.init(2), r)
    np.testing.assert_allclose(w, saw_reference(r, [3.0, 0.0]), rtol=1e-5)
    np.testing.assert_allclose(adv, advantages("gdpo", r, saw_reference(r, [3.0, 0.0]), 4, level="advantage"),
                               rtol=1e-4, atol=1e-6)
