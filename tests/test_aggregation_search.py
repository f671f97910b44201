"""Weight search: EMORL's hierarchical grid search against a transcription of EMORL's own loop, its convergence
on a bowl with a known maximiser, its cost; the preference sweep and the front metrics against brute force."""

import itertools

import numpy as np
import pytest

from morl_jax.aggregation import front_metrics, hierarchical_grid_search, preference_sweep
from morl_jax.aggregation.search import best_subcube, grid_points


def emorl_search(score, iterations):
    """EMORL's el_aggregation.hierarchical_search for 3 components, transcribed (no cache, its index arithmetic)."""
    bounds = [(0.0, 1.0)] * 3
    best_point, best_score = None, -np.inf
    for _ in range(iterations):
        axes = [np.linspace(lo, hi, 3) for lo, hi in bounds]
        grid = np.array([[x, y, z] for x in axes[0] for y in axes[1] for z in axes[2]])
        results = {tuple(p): score(p) for p in grid}
        point, value = max(results.items(), key=lambda item: item[1])
        if value > best_score:
            best_point, best_score = list(point), value
        best_sum, region = -np.inf, None
        for i, j, k in itertools.product(range(2), repeat=3):
            corners = [tuple(grid[(i + di) * 9 + (j + dj) * 3 + (k + dk)])
                       for di, dj, dk in itertools.product(range(2), repeat=3)]
            total = sum(results[c] for c in corners)
            if total > best_sum:
                best_sum, region = total, corners
        pts = np.array(region)
        bounds = [(pts[:, d].min(), pts[:, d].max()) for d in range(3)]
    return np.array(best_point), best_score


def bumpy(w):
    """A deterministic multi-modal score on [0, 1]^3."""
    return float(np.sin(7 * w[0]) * np.cos(5 * w[1]) + 0.5 * np.sin(11 * w[2] + w[0]) - (w - 0.4) @ (w - 0.6))


def test_matches_emorls_search_with_fewer_evaluations():
    for iterations in (1, 3, 5):
        calls = []
        result = hierarchical_grid_search(lambda w: calls.append(1) or bumpy(w), 3, iterations=iterations)
        expected_point, expected_score = emorl_search(bumpy, iterations)
        np.testing.assert_allclose(result.best_weights, expected_point, atol=1e-12)
        assert result.best_score == pytest.approx(expected_score, abs=1e-12)
        assert len(calls) == result.num_evaluations == 27 + 19 * (iterations - 1)  # EMORL: 27 per iteration


def test_zooms_onto_the_maximiser_of_a_bowl():
    target = np.array([0.37, 0.81, 0.05, 0.6])
    for iterations in (2, 4, 6):
        result = hierarchical_grid_search(lambda w: -np.sum((w - target) ** 2), 4, iterations=iterations)
        # The best sub-cube of an isotropic bowl holds its maximiser, so the last grid (spacing 2^-iterations)
        # has a point within half a spacing of it in every coordinate.
        assert np.linalg.norm(result.best_weights - target) <= np.sqrt(4) * 2.0 ** -(iterations + 1) + 1e-12
        assert all(np.all((box[:, 0] <= target) & (target <= box[:, 1])) for box in result.boxes)


def test_subcube_choice_and_grid_order():
    np.testing.assert_allclose(grid_points(np.array([[0.0, 1.0], [2.0, 4.0]])),
                               [[0, 2], [0, 3], [0, 4], [0.5, 2], [0.5, 3], [0.5, 4], [1, 2], [1, 3], [1, 4]])
    rng = np.random.default_rng(0)
    for k in (1, 2, 3):
        scores = rng.normal(size=3 ** k)
        grid = scores.reshape((3,) * k)
        sums = {o: grid[tuple(slice(x, x + 2) for x in o)].sum() for o in itertools.product((0, 1), repeat=k)}
        assert best_subcube(scores, k) == max(sums, key=sums.get)
    assert best_subcube(np.zeros(9), 2) == (0, 0)  # ties: the first offset, as EMORL


def test_search_errors_are_named():
    with pytest.raises(ValueError, match="not finite"):
        hierarchical_grid_search(lambda w: np.nan, 2)
    with pytest.raises(ValueError, match="lo < hi"):
        hierarchical_grid_search(lambda w: 0.0, 2, bounds=(1.0, 0.0))
    with pytest.raises(ValueError, match="iterations >= 1"):
        hierarchical_grid_search(lambda w: 0.0, 2, iterations=0)


def test_preference_sweep_evaluates_each_distinct_mixture_once():
    calls = []

    def evaluate(w):
        calls.append(w)
        return np.array([w[0], 1 - w[0]])

    prefs = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [0.5, 0.5]])
    result = preference_sweep(evaluate, prefs)
    np.testing.assert_allclose(result.points, [[1, 0], [0.5, 0.5], [0, 1], [0.5, 0.5]])
    assert len(calls) == 3
    routed = preference_sweep(evaluate, prefs, mixing=lambda p: np.round(p))
    np.testing.assert_allclose(routed.weights, [[1, 0], [0, 0], [0, 1], [0, 0]])
    with pytest.raises(ValueError, match=r"\[P, M\]"):
        preference_sweep(evaluate, np.zeros(2))


def test_front_metrics_against_brute_force():
    z = np.array([[0.9, 0.1], [0.5, 0.5], [0.1, 0.9], [0.4, 0.4], [0.5, 0.5]])
    prefs = np.array([[1.0, 0.0], [0.75, 0.25], [0.5, 0.5], [0.25, 0.75], [0.0, 1.0]])
    m = front_metrics(z, prefs)
    assert m["front_size"] == 3  # [0.4, 0.4] is dominated, the duplicate counted once
    # union of boxes [0, x] x [0, y] of the three front points
    assert m["hypervolume"] == pytest.approx(0.9 * 0.1 + 0.5 * 0.4 + 0.1 * 0.4)
    assert m["expected_utility"] == pytest.approx(np.mean([max(w @ p for p in z) for w in prefs]))
    assert m["utility_at_preference"] == pytest.approx(np.mean(np.sum(z * prefs, axis=1)))
    front = np.sort(z[:3], axis=0)
    assert m["sparsity"] == pytest.approx(np.sum(np.diff(front, axis=0) ** 2) / 2)
    with pytest.raises(ValueError, match="one point per preference"):
        front_metrics(z[:2], prefs)
