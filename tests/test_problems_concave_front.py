"""A problem whose answer is known: on a front with a concave region, every fixed linear weighting ends at an
end of the front (the convex hull), while non-linear scalarisations reach the concave region and a
hypervolume no fixed weighting reaches, and MGDA stops at a Pareto-stationary point."""

import dataclasses

import numpy as np
import pytest

from morl_jax import weighting
from morl_jax.pareto import hypervolume
from morl_jax.problems import concave_front as cf

SEEDS = (0, 1)
FIXED = ((0.3, 0.7), (0.5, 0.5), (0.7, 0.3))
SETTINGS = dataclasses.replace(cf.Settings(), steps=300, eval_every=1)


@pytest.fixture(scope="module")
def fixed_runs():
    return {(w, seed): cf.train(weighting.fixed(w), SETTINGS, seed) for w in FIXED for seed in SEEDS}


def in_concave_region(point, tol=0.05):
    """Near the front, and away from both of its ends."""
    x = point[0]
    return 0.05 < x < 0.95 and abs(point[1] - (1 - x) ** 2) < tol


def test_the_problem_is_what_it_says():
    ends = cf.front(2)
    np.testing.assert_allclose(ends, [[0.0, 1.0], [1.0, 0.0]])
    middle = cf.front(3)[1]
    assert middle[0] + middle[1] < 1.0  # below the chord between the ends: the front is not convex
    point = cf.expected_rewards(np.array([0.0, 0.0]))  # x = y = 0.5: on the front up to the noise's variance
    np.testing.assert_allclose(point, [0.5 - cf.STD**2, 0.25], atol=1e-6)


def test_every_fixed_linear_weighting_ends_on_the_convex_hull(fixed_runs):
    for (w, seed), history in fixed_runs.items():
        assert cf.on_hull(history.final_point), (w, seed, history.final_point)


@pytest.mark.parametrize("name, make", [
    ("tchebycheff", lambda: weighting.tchebycheff()),
    ("hvo", lambda: weighting.hvo(reference=tuple(cf.REFERENCE))),
])
def test_nonlinear_scalarisations_reach_the_concave_region(fixed_runs, name, make):
    """Where a run ends is its last 50 points averaged: HVO's point moves by up to 0.3 from one step to the next
    (its per-sample scores are noisy), so a single step's point depends on float rounding (XLA flags move it)."""
    best_fixed = max(h.hypervolume() for h in fixed_runs.values())
    for seed in SEEDS:
        end = cf.train(make(), SETTINGS, seed).points[-50:].mean(axis=0)
        assert in_concave_region(end, tol=0.1), (name, seed, end)
        assert float(hypervolume(end[None], cf.REFERENCE)) > 1.4 * best_fixed, (name, seed, end, best_fixed)


def test_hypervolume_gradient_covers_a_front_no_fixed_weighting_covers(fixed_runs):
    """The linear weights swing as the point's hypervolume gradient changes sides, so the checkpoints sweep the
    front: their hypervolume exceeds that of every fixed weighting's checkpoints."""
    best_fixed = max(h.archive.hypervolume() for h in fixed_runs.values())
    for seed in SEEDS:
        history = cf.train(weighting.hypervolume_gradient(step_size=0.5, archive=False), SETTINGS, seed)
        assert history.archive.hypervolume() > 1.2 * best_fixed, (seed, history.archive.hypervolume(), best_fixed)
        assert any(in_concave_region(p) for p in history.archive.points)


def test_mgda_stops_at_a_pareto_stationary_point():
    settings = dataclasses.replace(SETTINGS, level="advantage")
    for seed in SEEDS:
        history = cf.train(weighting.mgda(), settings, seed)
        x, y = history.means[-1]
        assert abs(y - 0.5) < 0.03, (seed, y)  # on the front: no common direction of improvement is left
        assert in_concave_region(history.final_point), (seed, history.final_point)
        assert float(hypervolume(history.final_point[None], cf.REFERENCE)) > 0.15
