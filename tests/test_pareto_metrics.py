"""MORL metrics against hand-checked values and moocore; masks; empty sets; the simplex lattice."""

import math

import jax
import moocore
import numpy as np
import pytest

import morl_jax.pareto as P

FRONT = np.array([[0.0, 3.0], [1.0, 2.0], [1.0, 2.0], [3.0, 0.0], [0.5, 0.5]])  # a duplicate, a dominated row


def test_cardinality_counts_distinct_non_dominated_points():
    assert int(P.cardinality(FRONT)) == 3
    assert int(P.cardinality(FRONT, np.array([True, False, True, True, True]))) == 3
    assert int(P.cardinality(FRONT, np.zeros(5, dtype=bool))) == 0


def test_sparsity_hand_checked():
    # Objective 0 sorted: 0, 1, 3 -> gaps 1, 2; objective 1 sorted: 0, 2, 3 -> gaps 2, 1. (1+4+4+1)/(3-1) = 5.
    points = np.array([[0.0, 3.0], [1.0, 2.0], [3.0, 0.0]])
    assert float(P.sparsity(points)) == pytest.approx(5.0)
    padded = np.concatenate([points, [[100.0, -100.0]]])
    assert float(P.sparsity(padded, np.array([True, True, True, False]))) == pytest.approx(5.0)
    assert float(P.sparsity(points[:1])) == 0.0
    assert float(P.sparsity(points, np.array([False, True, False]))) == 0.0


def test_expected_utility_hand_checked():
    weights = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    # max_f w.f: 3, 1.5, 3 -> mean 2.5.
    assert float(P.expected_utility(FRONT, weights)) == pytest.approx(2.5)
    mask = np.array([True, True, True, False, True])  # without (3, 0): 1, 1.5, 3
    assert float(P.expected_utility(FRONT, weights, mask)) == pytest.approx(5.5 / 3)
    assert math.isnan(float(P.expected_utility(FRONT, weights, np.zeros(5, dtype=bool))))


def test_maximum_utility_loss_hand_checked():
    weights = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    reference = np.array([[4.0, 0.0], [2.0, 2.0], [0.0, 3.0]])
    # reference best: 4, 2, 3; FRONT best: 3, 1.5, 3 -> losses 1, 0.5, 0.
    assert float(P.maximum_utility_loss(FRONT, reference, weights)) == pytest.approx(1.0)
    assert float(P.maximum_utility_loss(reference, reference, weights)) == pytest.approx(0.0)


def test_igd_and_igd_plus_hand_checked():
    reference = np.array([[2.0, 2.0], [0.0, 4.0]])
    points = np.array([[1.0, 1.0], [3.0, 3.0]])
    # IGD: (2,2) nearest at distance sqrt(2); (0,4) nearest (1,1): sqrt(10) vs (3,3): sqrt(10).
    assert float(P.igd(points, reference)) == pytest.approx((math.sqrt(2) + math.sqrt(10)) / 2)
    # IGD+: (3,3) dominates (2,2) -> 0; for (0,4): (1,1) -> ||(0,3)|| = 3, (3,3) -> ||(0,1)|| = 1.
    assert float(P.igd_plus(points, reference)) == pytest.approx(0.5)


def test_igd_and_igd_plus_match_moocore():
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        for _ in range(5):
            points, reference = rng.random((7, 3)), rng.random((5, 3))
            got_plus = float(P.igd_plus(points, reference))
            assert got_plus == pytest.approx(moocore.igd_plus(points, ref=reference, maximise=True), rel=1e-12)
            assert float(P.igd(points, reference)) == pytest.approx(moocore.igd(points, ref=reference), rel=1e-12)


def test_distance_metrics_ignore_masked_rows_and_have_finite_gradients():
    reference = np.array([[2.0, 2.0], [0.0, 4.0], [9.0, 9.0]])
    ref_mask = np.array([True, True, False])
    points = np.array([[1.0, 1.0], [3.0, 3.0], [-50.0, 50.0]])
    mask = np.array([True, True, False])
    assert float(P.igd_plus(points, reference, mask, ref_mask)) == pytest.approx(0.5)
    assert math.isnan(float(P.igd(points, reference, np.zeros(3, dtype=bool))))
    grad = np.asarray(jax.grad(P.igd_plus)(np.array([[2.0, 2.0], [0.0, 4.0]]), reference[:2]))
    assert np.all(np.isfinite(grad))  # zero distances: the norm's gradient stays finite


def test_mean_pareto_step_counts_every_optimal_checkpoint():
    steps = np.array([10, 20, 30, 40, 50])
    # optimal rows: 0, 1, 2 (the duplicate counts: both checkpoints are Pareto-optimal), 3.
    assert float(P.mean_pareto_step(FRONT, steps)) == pytest.approx((10 + 20 + 30 + 40) / 4)
    assert math.isnan(float(P.mean_pareto_step(FRONT, steps, np.zeros(5, dtype=bool))))
    with pytest.raises(ValueError, match=r"steps must have shape \(5,\)"):
        P.mean_pareto_step(FRONT, steps[:3])


def test_weight_shape_errors():
    with pytest.raises(ValueError, match=r"weights must have shape \(m, 2\)"):
        P.expected_utility(FRONT, np.ones(2))
    with pytest.raises(ValueError, match=r"reference_front has d=3 but points have d=2"):
        P.igd(FRONT, np.ones((2, 3)))


@pytest.mark.parametrize("d, divisions", [(2, 4), (3, 5), (5, 3)])
def test_simplex_lattice(d, divisions):
    w = np.asarray(P.simplex_lattice(d, divisions))
    assert w.shape == (P.simplex_lattice_size(d, divisions), d) == (math.comb(divisions + d - 1, d - 1), d)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-6)
    assert np.all(w >= 0)
    assert len({tuple(np.rint(row * divisions).astype(int)) for row in w}) == len(w)  # distinct lattice points
    np.testing.assert_array_equal(w, np.asarray(P.simplex_lattice(d, divisions)))  # deterministic
    for k in range(d):  # the corners are included
        assert any(np.allclose(row, np.eye(d)[k]) for row in w)


def test_simplex_lattice_values_and_errors():
    np.testing.assert_allclose(np.asarray(P.simplex_lattice(2, 2)), [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    with pytest.raises(ValueError, match="divisions >= 1"):
        P.simplex_lattice(3, 0)


def test_expected_utility_with_the_lattice_is_filter_invariant():
    weights = P.simplex_lattice(2, 10)
    keep = np.asarray(P.nondominated_mask(FRONT))
    assert float(P.expected_utility(FRONT, weights)) == pytest.approx(float(P.expected_utility(FRONT[keep], weights)))
