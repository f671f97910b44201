"""The dynamic-weighting paper's methods: hypervolume (meta-reward), hypervolume_gradient and gradient, against
their formulas written out here (by hand, numpy, moocore finite differences)."""

import dataclasses

import jax
import moocore
import numpy as np
import pytest

from morl_jax import weighting
from morl_jax.checkpointing import Checkpointer
from morl_jax.weighting import Signals


def eval_signals(point, front=(), ref=(0.0, 0.0, 0.0), gain=0.0, count=1, size=8):
    front = np.asarray(front, np.float32).reshape(-1, len(ref))
    padded = np.zeros((size, len(ref)), np.float32)
    padded[:len(front)] = front
    return Signals(eval_point=np.asarray(point, np.float32), eval_front=padded,
                   eval_front_mask=np.arange(size) < len(front), eval_reference=np.asarray(ref, np.float32),
                   hv_gain=np.float32(gain), eval_count=np.int32(count))


# ---- hypervolume (the paper's meta-reward) ---------------------------------------------------------------


def test_hypervolume_multiplier_follows_the_papers_formula_and_holds_between_validations():
    opt = weighting.hypervolume([0.5, 0.25, 0.25])
    assert opt.scale_only and opt.needs == {"hv_gain", "eval_count"}
    update = jax.jit(opt.update)
    state = opt.init(3)
    w, state = update(eval_signals([0, 0, 0], gain=0.3, count=0), state)  # no validation yet: m = 1
    np.testing.assert_allclose(w, [0.5, 0.25, 0.25])
    w, state = update(eval_signals([0, 0, 0], gain=0.3, count=1), state)
    np.testing.assert_allclose(w, np.array([0.5, 0.25, 0.25]) * (0.5 + 1.5 * np.tanh(0.3)), rtol=1e-6)
    held, state = update(eval_signals([0, 0, 0], gain=5.0, count=1), state)  # same validation: m is kept
    np.testing.assert_allclose(held, w)
    w, state = update(eval_signals([0, 0, 0], gain=-1.0, count=2), state)  # a validation that did not help
    np.testing.assert_allclose(w, np.array([0.5, 0.25, 0.25]) * 0.5, rtol=1e-6)
    assert float(state.multiplier) == pytest.approx(0.5)


# ---- hypervolume_gradient -------------------------------------------------------------------------------


def moocore_gradient(point, front, ref, h=1e-5):
    """Central finite differences of HV(front + {point}) (moocore, float64), maximisation."""
    grad = np.zeros(len(point))
    for k in range(len(point)):
        up, down = np.array(point, float), np.array(point, float)
        up[k] += h
        down[k] -= h
        hv = [moocore.hypervolume(np.vstack([front, p]) if len(front) else p[None], ref=ref, maximise=True)
              for p in (up, down)]
        grad[k] = (hv[0] - hv[1]) / (2 * h)
    return grad


def test_hv_gradient_of_a_lone_point_favours_its_weakest_objective():
    # One point, no archive: HV = prod(z), dHV/dz_k = prod of the other coordinates, so the smallest margin
    # over the reference gets the largest gradient. Coordinates are scaled by the point's own margins (spread).
    g = weighting.normalised_hv_gradient(np.array([0.2, -30.0, 0.9]), np.zeros((8, 3)), np.zeros(8, bool),
                                         np.array([0.0, -96.0, 0.0]), margin=0.02)
    np.testing.assert_allclose(g, [1.0, 1.0, 1.0], rtol=1e-5)  # z = (1, 1, 1) after scaling by the spread
    front = np.array([[0.6, -40.0, 0.9]])
    g = weighting.normalised_hv_gradient(np.array([0.2, -30.0, 0.9]), np.vstack([front, np.zeros((7, 3))]),
                                         np.arange(8) < 1, np.zeros(3), margin=0.02)
    assert g.shape == (3,) and np.all(np.asarray(g) >= 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hv_gradient_matches_moocore_finite_differences(seed):
    rng = np.random.default_rng(seed)
    ref = np.array([0.0, -100.0, 0.0])
    front = np.column_stack([rng.uniform(0.1, 0.9, 5), rng.uniform(-90, -10, 5), rng.uniform(0.1, 0.9, 5)])
    point = np.array([0.95, -5.0, 0.95])  # dominates none of the front's corners fully: strictly on the front
    padded = np.vstack([front, np.zeros((3, 3))])
    g = np.asarray(weighting.normalised_hv_gradient(point, padded, np.arange(8) < 5, ref, margin=0.0), np.float64)
    spread = np.maximum(np.abs(point - ref), np.abs(front - ref).max(axis=0))
    expected = moocore_gradient((point - ref) / spread, (front - ref) / spread, np.zeros(3))
    np.testing.assert_allclose(g, expected, rtol=1e-3, atol=1e-6)


def test_a_dominated_point_is_moved_onto_the_front_before_differentiating():
    ref = np.zeros(2)
    front = np.array([[1.0, 0.5], [0.5, 1.0]])
    point = np.array([0.4, 0.4])  # dominated by both: its own gradient would be 0
    margin = 0.05
    g = np.asarray(weighting.normalised_hv_gradient(point, front, np.ones(2, bool), ref, margin=margin))
    spread = np.array([1.0, 1.0])
    z = point / spread
    shift = max(np.min(front - z, axis=1).max(), -z.min()) + margin  # = 0.1 + 0.05
    np.testing.assert_allclose(shift, 0.15)
    expected = moocore_gradient(z + shift, front, ref)
    np.testing.assert_allclose(g, expected, rtol=1e-3)
    assert np.all(g > 0)


def test_hypervolume_gradient_takes_a_mirror_step_on_fresh_validations_only():
    opt = weighting.hypervolume_gradient([0.5, 0.25, 0.25], step_size=0.8)
    state = opt.init(3)
    signals = eval_signals([0.2, -30.0, 0.9], front=[[0.6, -40.0, 0.5]], ref=[0.0, -96.0, 0.0], count=1)
    w, state = jax.jit(opt.update)(signals, state)
    g = np.asarray(weighting.normalised_hv_gradient(signals.eval_point, signals.eval_front, signals.eval_front_mask,
                                                    signals.eval_reference, 0.02))
    expected = np.array([0.5, 0.25, 0.25]) * np.exp(0.8 * g / g.sum())
    np.testing.assert_allclose(w, expected / expected.sum(), rtol=1e-5)
    np.testing.assert_allclose(state.direction, g / g.sum(), rtol=1e-5)
    assert np.argmax(np.asarray(w) / [0.5, 0.25, 0.25]) == 0  # accuracy lags the front most: it gains weight
    again, state = opt.update(signals, state)  # the same validation again: no step
    np.testing.assert_allclose(again, w, rtol=1e-6)


# ---- gradient (mirror descent on the Gram matrix) -------------------------------------------------------


def test_gradient_update_is_the_papers_exponentiated_step():
    opt = weighting.gradient(reg=1e-5)
    assert opt.needs == {"gram", "learning_rate"}
    gram = np.array([[1.0, 0.2, -0.1], [0.2, 0.5, 0.0], [-0.1, 0.0, 0.8]], np.float32)
    w, state = jax.jit(opt.update)(Signals(gram=gram, learning_rate=np.float32(1e-6)), opt.init(3))
    s = gram.sum(axis=1)
    expected = np.exp(np.log(np.full(3, 1 / 3)) + 0.1 * s)
    np.testing.assert_allclose(w, expected / expected.sum(), rtol=1e-6)
    np.testing.assert_allclose(state.score, s, rtol=1e-6)
    w2, _ = opt.update(Signals(gram=gram, learning_rate=np.float32(1e-6)), state)
    expected = expected * np.exp(0.1 * s)
    np.testing.assert_allclose(w2, expected / expected.sum(), rtol=1e-6)


def test_gradient_accumulates_scores_over_steps_before_a_weight_step():
    opt = weighting.gradient([0.2, 0.8], reg=1.0, accumulation_steps=2)
    g1, g2 = np.array([[1.0, 0.0], [0.0, 0.0]]), np.array([[0.0, 0.0], [0.0, 3.0]])
    w, state = opt.update(Signals(gram=g1, learning_rate=np.float32(0.5)), opt.init(2))
    np.testing.assert_allclose(w, [0.2, 0.8], rtol=1e-6)  # first of two: no step yet
    w, state = opt.update(Signals(gram=g2, learning_rate=np.float32(0.5)), state)
    mean_score = np.array([1.0, 3.0]) / 2
    expected = np.array([0.2, 0.8]) * np.exp(0.5 * mean_score)
    np.testing.assert_allclose(w, expected / expected.sum(), rtol=1e-6)
    assert int(state.score_count) == 0 and np.all(np.asarray(state.score_sum) == 0)


@pytest.mark.parametrize("kwargs, message", [(dict(reg=0.0), "reg"), (dict(accumulation_steps=0), "accumulation")])
def test_gradient_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        weighting.gradient(**kwargs)


def test_gradient_checks_the_gram_shape_and_needs():
    opt = weighting.gradient()
    with pytest.raises(ValueError, match=r"gram must be \[K, K\]=\(3, 3\)"):
        opt.update(Signals(gram=np.eye(2), learning_rate=np.float32(1.0)), opt.init(3))
    with pytest.raises(ValueError, match=r"'gradient' needs signals \['gram', 'learning_rate'\]"):
        opt.update(Signals(), opt.init(3))


# ---- every state round-trips through a checkpoint -------------------------------------------------------


def _advanced_states():
    signals = dataclasses.replace(
        eval_signals([0.2, -30.0, 0.9], front=[[0.6, -40.0, 0.5]], ref=[0.0, -96.0, 0.0], gain=0.2),
        rewards=np.random.default_rng(0).uniform(0, 1, (8, 3)).astype(np.float32), group_size=4,
        gram=np.eye(3, dtype=np.float32), learning_rate=np.float32(1e-5),
        hidden=np.random.default_rng(1).normal(size=(8, 4)).astype(np.float32))
    optimizers = {"fixed": weighting.fixed(), "saw": weighting.saw(), "hypervolume": weighting.hypervolume(),
                  "hypervolume_gradient": weighting.hypervolume_gradient(), "gradient": weighting.gradient(),
                  "chained": weighting.chain(weighting.gradient(), weighting.floor(0.05), weighting.ema(0.9)),
                  "tchebycheff": weighting.tchebycheff(), "mgda": weighting.mgda(), "ctwa": weighting.ctwa(),
                  "hvo": weighting.hvo(), "conductor": weighting.conductor(hidden_size=4)}
    states = {}
    for name, opt in optimizers.items():
        state = opt.init(3)
        for _ in range(2):
            _, state = opt.update(signals, state)
        states[name] = state
    return optimizers, states


def test_every_optimizer_state_round_trips_through_a_checkpoint(tmp_path):
    optimizers, states = _advanced_states()
    ckpt = Checkpointer(str(tmp_path))
    ckpt.save(1, states, {})
    _, restored, _ = ckpt.restore({name: opt.init(3) for name, opt in optimizers.items()})
    ckpt.close()
    for name, state in states.items():
        assert type(restored[name]) is type(state), name
        jax.tree.map(np.testing.assert_array_equal, restored[name], state)
