"""Polar hypervolume estimator: constant, accuracy against moocore, determinism, masks, errors."""

import math

import jax
import moocore
import numpy as np
import pytest

import morl_jax.pareto as P

ESTIMATE = jax.jit(P.hypervolume_estimate, static_argnames="num_directions")


def test_polar_constant_is_the_positive_orthant_of_the_unit_ball():
    assert P.polar_constant(1) == pytest.approx(1.0)
    assert P.polar_constant(2) == pytest.approx(math.pi / 4)
    assert P.polar_constant(3) == pytest.approx(math.pi / 6)
    assert P.polar_constant(4) == pytest.approx(math.pi**2 / 32)


def test_one_dimension_is_exact():
    points = np.array([[1.0], [3.0], [2.0]], dtype=np.float32)
    assert float(ESTIMATE(points, np.array([0.5], np.float32), 4, jax.random.key(0))) == pytest.approx(2.5)


@pytest.mark.parametrize("d", [2, 5])
def test_close_to_exact_hypervolume(d):
    rng = np.random.default_rng(d)
    points = rng.random((32, d))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    ref = np.full(d, -0.1)
    exact = moocore.hypervolume(points, ref=ref, maximise=True)
    estimate = float(ESTIMATE(points.astype(np.float32), ref.astype(np.float32), 20_000, jax.random.key(1)))
    assert estimate == pytest.approx(exact, rel=0.03)


def test_deterministic_given_the_key_and_padding_changes_nothing():
    rng = np.random.default_rng(4)
    points = rng.random((10, 3)).astype(np.float32)
    ref = np.zeros(3, np.float32)
    padded = np.concatenate([points, np.full((6, 3), 50.0, np.float32)])
    mask = np.arange(16) < 10
    outside = np.concatenate([points, -np.ones((6, 3), np.float32)])
    a = float(ESTIMATE(points, ref, 256, jax.random.key(7), np.ones(10, dtype=bool)))
    assert float(ESTIMATE(points, ref, 256, jax.random.key(7), np.ones(10, dtype=bool))) == a
    assert float(ESTIMATE(points, ref, 256, jax.random.key(8), np.ones(10, dtype=bool))) != a
    assert float(ESTIMATE(padded, ref, 256, jax.random.key(7), mask)) == pytest.approx(a, rel=1e-6)
    assert float(ESTIMATE(outside, ref, 256, jax.random.key(7), np.ones(16, dtype=bool))) == pytest.approx(a, rel=1e-6)


def test_empty_set_and_vmap():
    assert float(ESTIMATE(np.zeros((0, 2), np.float32), np.zeros(2, np.float32), 8, jax.random.key(0))) == 0.0
    batch = np.random.default_rng(5).random((3, 6, 2)).astype(np.float32)
    got = jax.vmap(lambda p: P.hypervolume_estimate(p, 0.0, 4096, jax.random.key(0)))(batch)
    exact = [moocore.hypervolume(b, ref=[0, 0], maximise=True) for b in batch]
    np.testing.assert_allclose(np.asarray(got), exact, rtol=0.05)


def test_sphere_directions_are_unit_and_positive():
    w = np.asarray(P.sphere_directions(jax.random.key(0), 1000, 4))
    np.testing.assert_allclose(np.linalg.norm(w, axis=1), 1.0, rtol=1e-5)
    assert np.all(w > 0)


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_num_directions_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match="num_directions must be a positive int"):
        P.hypervolume_estimate(np.ones((2, 2)), 0.0, bad, jax.random.key(0))
