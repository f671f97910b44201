"""Post-processing of weights (`weighting.chain` with floor, ema, simplex) and the config string parser."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from morl_jax import weighting
from morl_jax.weighting import Signals


class Scripted:
    """A weight optimizer that returns a given sequence of weights, to test transforms on known inputs."""

    def __new__(cls, sequence):
        sequence = jnp.asarray(sequence, jnp.float32)

        def update(signals, step):
            return sequence[step], step + 1

        return weighting.WeightOptimizer(lambda k: jnp.zeros((), jnp.int32), update, frozenset({"rewards"}))


def run(opt, steps, k=3):
    state, out = opt.init(k), []
    for _ in range(steps):
        w, state = jax.jit(opt.update)(Signals(rewards=jnp.zeros((2, k))), state)
        out.append(np.asarray(w))
    return np.stack(out), state


def test_floor_keeps_the_sum_and_lifts_every_weight_to_the_floor():
    w, _ = run(weighting.chain(Scripted([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]]), weighting.floor(0.1)), 2)
    np.testing.assert_allclose(w[0], [0.8, 0.1, 0.1], rtol=1e-6)  # (1 - 3*0.1) w + 0.1 * sum
    np.testing.assert_allclose(w[1], 0.7 * np.array([0.2, 0.3, 0.5]) + 0.1, rtol=1e-6)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-6)
    scaled, _ = run(weighting.chain(Scripted([[2.0, 0.0, 0.0]]), weighting.floor(0.1)), 1)
    np.testing.assert_allclose(scaled[0], [1.6, 0.2, 0.2], rtol=1e-6)  # a scale (e.g. hypervolume's) is kept


def test_ema_averages_over_steps_starting_from_the_first_weights():
    w, state = run(weighting.chain(Scripted([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
                                   weighting.ema(0.5)), 3)
    np.testing.assert_allclose(w, [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.25, 0.25, 0.5]], rtol=1e-6)
    assert int(state.transforms[0].count) == 3


def test_simplex_normalises_per_sample_and_leaves_zero_rows():
    transform = weighting.simplex()
    w, _ = transform.update(jnp.array([[1.0, 3.0], [0.0, 0.0]]), transform.init(2))
    np.testing.assert_allclose(w, [[0.25, 0.75], [0.0, 0.0]])


def test_transforms_apply_in_order():
    base = Scripted([[3.0, 1.0, 0.0]])
    a, _ = run(weighting.chain(base, weighting.simplex(), weighting.floor(0.1)), 1)
    b, _ = run(weighting.chain(base, weighting.floor(0.1), weighting.simplex()), 1)
    np.testing.assert_allclose(a[0], 0.7 * np.array([0.75, 0.25, 0.0]) + 0.1, rtol=1e-6)
    np.testing.assert_allclose(b[0], (0.7 * np.array([3.0, 1.0, 0.0]) + 0.4) / 4.0, rtol=1e-6)


def test_chain_keeps_needs_and_scale_only_and_a_bare_optimizer_is_unchanged():
    hv = weighting.hypervolume()
    chained = weighting.chain(hv, weighting.floor(0.05))
    assert chained.needs == hv.needs and chained.scale_only
    assert weighting.chain(hv) is hv


@pytest.mark.parametrize("spec, message", [
    ("floor:0.5", r"min_weight 0.5 x K=3 objectives exceeds 1"),
    ("ema:1.5", r"decay must be in \[0, 1\)"),
    ("clip:1", r"unknown weight transform 'clip' in 'clip:1'; known: ema, floor, simplex"),
    ("simplex:2", r"weight transform 'simplex:2'"),
])
def test_bad_transform_specs_raise(spec, message):
    with pytest.raises(ValueError, match=message):
        weighting.chain(weighting.fixed(), weighting.parse_transform(spec)).init(3)


def test_ema_refuses_per_sample_weights():
    transform = weighting.ema(0.5)
    with pytest.raises(ValueError, match="per-sample weights"):
        transform.update(jnp.ones((4, 3)), transform.init(3))
