"""Hypervolume gradients: the 2-D closed form, central finite differences of moocore for d >= 3, zeros
for dominated / outside / masked rows, no NaN anywhere, vmap, and the polar estimator's gradient."""

import jax
import moocore
import numpy as np
import pytest

import morl_jax.pareto as P
from pareto_oracles import front_2d_gradient, padded_call


# One jitted gradient shared by the tests, so equal shapes compile once.
HV_GRAD = jax.jit(jax.grad(P.hypervolume))


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def finite_difference(points, ref, mask, rows, eps=1e-6):
    """Central differences of moocore's HV of the real rows, w.r.t. the given rows (generic points)."""
    grad = np.zeros_like(points)
    for i in rows:
        for k in range(points.shape[1]):
            hi, lo = points.copy(), points.copy()
            hi[i, k] += eps
            lo[i, k] -= eps
            grad[i, k] = (
                moocore.hypervolume(hi[mask], ref=ref, maximise=True) - moocore.hypervolume(lo[mask], ref=ref, maximise=True)
            ) / (2 * eps)
    return grad


def generic_set_with_special_rows(rng, n, d):
    """Random rows plus a strictly dominated row (0), a weakly dominated row (1), an outside row (2),
    a row on the reference boundary (3) and a masked-out row (4) that would dominate everything."""
    points = rng.random((n, d)) + 0.05
    points = 0.2 + points / np.linalg.norm(points, axis=1, keepdims=True) * (1 + 0.1 * rng.random((n, 1)))
    points[0] = points[5] * 0.9
    points[1] = points[6]
    points[1, 0] -= 0.05
    points[2, 0] = -0.3
    points[3, d - 1] = 0.0
    points[4] = 10.0
    mask = np.ones(n, dtype=bool)
    mask[4] = False
    return points, mask


def test_2d_gradient_equals_closed_form(x64):
    rng = np.random.default_rng(0)
    points, mask = generic_set_with_special_rows(rng, 12, 2)
    ref = np.zeros(2)
    grad = np.asarray(HV_GRAD(points, ref, mask))
    expected = np.zeros_like(points)
    expected[mask] = front_2d_gradient(points[mask], ref)
    np.testing.assert_allclose(grad, expected, atol=1e-14)
    assert np.all(grad[:5] == 0)
    assert np.count_nonzero(expected.any(axis=1)) >= 3  # the test sees a real front


@pytest.mark.parametrize("d, n", [(2, 12), (3, 12), (4, 12), (7, 12)])
def test_gradient_matches_finite_differences(x64, d, n):
    rng = np.random.default_rng(d)
    points, mask = generic_set_with_special_rows(rng, n, d)
    ref = np.zeros(d)
    grad = np.asarray(HV_GRAD(points, ref, mask))
    # Rows 0-4 and row 6 (which shares all but one coordinate with row 1) sit on kinks of HV, where only
    # one-sided derivatives exist; central differences are compared on the other rows.
    generic = np.setdiff1d(np.arange(5, n), [6])
    np.testing.assert_allclose(grad[generic], finite_difference(points, ref, mask, generic)[generic], atol=1e-7)
    assert np.all(grad[:5] == 0)  # dominated, weakly dominated, outside, boundary, masked
    assert np.all(grad >= 0) and np.any(grad > 0)


@pytest.mark.parametrize("d", [2, 3])
def test_one_copy_of_a_duplicate_gets_the_face_the_others_nothing(x64, d):
    points = np.array([[1.0, 2.0, 1.5][:d], [2.0, 1.0, 1.0][:d], [1.0, 2.0, 1.5][:d]])
    grad = padded_call(HV_GRAD, points, 0.0, 12)
    single = padded_call(HV_GRAD, points[:2], 0.0, 12)
    np.testing.assert_allclose(grad[1], single[1], atol=1e-14)
    copies = grad[[0, 2]]
    assert np.count_nonzero(copies.any(axis=1)) == 1
    np.testing.assert_allclose(copies.sum(axis=0), single[0], atol=1e-14)


@pytest.mark.parametrize("d, dtype", [(2, np.float32), (3, np.float32), (2, np.float64), (3, np.float64), (7, np.float64)])
def test_no_nan_in_degenerate_cases(dtype, d):
    n = 12
    cases = {
        "all masked": (np.ones((n, d)), np.zeros(n, dtype=bool)),
        "all on the reference": (np.zeros((n, d)), np.ones(n, dtype=bool)),
        "all identical": (np.ones((n, d)), np.ones(n, dtype=bool)),
        "mixed with huge masked rows": (np.concatenate([np.ones((n - 2, d)), np.full((2, d), 1e30)]), np.arange(n) < n - 2),
    }
    with jax.enable_x64(dtype == np.float64):
        for name, (points, mask) in cases.items():
            grad = np.asarray(HV_GRAD(points.astype(dtype), np.zeros(d, dtype), mask))
            assert np.all(np.isfinite(grad)), name
            assert np.all(grad[~mask] == 0), name


def test_gradient_under_vmap(x64):
    rng = np.random.default_rng(1)
    batch = rng.random((4, 8, 2))
    masks = rng.random((4, 8)) < 0.8
    grads = jax.vmap(jax.grad(P.hypervolume))(batch, np.zeros((4, 2)), masks)
    for points, mask, grad in zip(batch, masks, np.asarray(grads)):
        expected = np.zeros_like(points)
        expected[mask] = front_2d_gradient(points[mask], np.zeros(2))
        np.testing.assert_allclose(grad, expected, atol=1e-14)


def test_gradient_with_respect_to_the_reference_point(x64):
    points = np.array([[3.0, 1.0], [1.0, 2.0]])
    grad_ref = np.asarray(jax.grad(P.hypervolume, argnums=1)(points, np.zeros(2)))
    # Moving r_x right removes a strip of height max y = 2; moving r_y up removes a strip of width max x = 3.
    np.testing.assert_allclose(grad_ref, [-2.0, -3.0])


def test_estimator_gradient_approximates_the_exact_gradient(x64):
    rng = np.random.default_rng(2)
    points = rng.random((6, 3)) + 0.1
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    points[0] = points[1] * 0.8
    exact = padded_call(HV_GRAD, points, 0.0, 12)
    estimate = np.asarray(jax.grad(P.hypervolume_estimate)(points, 0.0, 50_000, jax.random.key(0)))
    np.testing.assert_allclose(estimate, exact, atol=0.03 * np.abs(exact).max())
    assert np.all(estimate[0] == 0)  # a dominated row never wins a direction
