"""Exclusive contributions (both semantics) and hypervolume improvement against moocore and brute-force
hypervolume differences."""

import jax
import moocore
import numpy as np
import pytest

import morl_jax.pareto as P
from pareto_oracles import brute_nondominated, padded_call


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def contributions(points, ref, leave_one_out=False):
    """P.contributions on the rows padded (masked, at random positions) to 16: tests share compilations."""
    return padded_call(P.contributions, points, ref, 16, leave_one_out=leave_one_out)


def hv(points, ref):
    points = np.asarray(points, dtype=np.float64).reshape(-1, len(ref))
    return moocore.hypervolume(points, ref=ref, maximise=True) if len(points) else 0.0


def brute_contributions(points, ref, leave_one_out):
    """HV(X) - HV(X without row i) by explicit set differences; X = in-box rows (non-dominated subset by
    default, first copies kept so that duplicates still cancel)."""
    inside = np.all(points > ref, axis=1)
    if leave_one_out:
        base = inside
    else:
        base = np.zeros(len(points), dtype=bool)
        base[inside] = brute_nondominated(points[inside], keep_duplicates=True)
    total = hv(points[base], ref)
    out = np.zeros(len(points))
    for i in np.flatnonzero(base):
        others = base.copy()
        others[i] = False
        out[i] = total - hv(points[others], ref)
    return out


def lattice_set(rng, n, d):
    points = rng.integers(0, 5, size=(n, d)) / 4.0
    points[-1] = points[0]  # a duplicate
    return points


@pytest.mark.parametrize("d, leave_one_out", [(2, False), (2, True), (3, False), (3, True), (4, True)])
def test_matches_moocore_and_brute_force(x64, d, leave_one_out):
    rng = np.random.default_rng(d)
    ref = np.full(d, -0.25)
    ref[0] = 0.0
    for trial in range(4):
        points = lattice_set(rng, 10, d) if trial % 2 else rng.random((10, d)) - 0.05
        got = contributions(points, ref, leave_one_out)
        np.testing.assert_allclose(got, brute_contributions(points, ref, leave_one_out), atol=1e-12)
        inside = np.all(points > ref, axis=1)
        expected = np.zeros(len(points))
        expected[inside] = moocore.hv_contributions(points[inside], ref=ref, maximise=True, ignore_dominated=not leave_one_out)
        np.testing.assert_allclose(got, expected, atol=1e-12)


def test_semantics_differ_when_a_point_exposes_another(x64):
    # Removing (2, 2) exposes (2, 1), which only (2, 2) dominated.
    points = np.array([[2.0, 2.0], [2.0, 1.0], [3.0, 0.5]])
    np.testing.assert_allclose(contributions(points, 0.0), [3.0, 0.0, 0.5])
    np.testing.assert_allclose(contributions(points, 0.0, leave_one_out=True), [2.0, 0.0, 0.5])


@pytest.mark.parametrize("leave_one_out", [False, True])
@pytest.mark.parametrize("d", [2, 3])
def test_zero_for_copies_dominated_and_boundary_rows(x64, d, leave_one_out):
    """(The padding in `contributions` adds masked rows that would dominate everything.)"""
    unit = np.ones(d)
    points = np.stack([2 * unit, 2 * unit, unit, np.r_[0.0, 3 * unit[1:]]])
    np.testing.assert_array_equal(contributions(points, 0.0, leave_one_out), np.zeros(4))
    np.testing.assert_allclose(contributions(points[:1], 0.0, leave_one_out), [2.0**d])


def test_2d_sweep_equals_generic_path_and_vmaps(x64):
    rng = np.random.default_rng(6)
    batch = rng.random((3, 30, 2))
    sweep = jax.vmap(lambda p: P.contributions(p, 0.0))(batch)
    for points, got in zip(batch, np.asarray(sweep)):
        np.testing.assert_allclose(got, brute_contributions(points, np.zeros(2), False), atol=1e-12)


def test_float32_contributions():
    rng = np.random.default_rng(8)
    points = rng.random((12, 3)).astype(np.float32)
    got = contributions(points, 0.0)
    np.testing.assert_allclose(got, brute_contributions(points.astype(np.float64), np.zeros(3), False), atol=1e-6)


def test_infeasible_contributions_raise():
    with pytest.raises(ValueError, match=r"contributions.*n=150, d=4.*moocore.hv_contributions"):
        P.contributions(np.zeros((150, 4)), 0.0)
    with pytest.raises(ValueError, match=r"Feasible exact sizes"):
        P.contributions(np.zeros((300, 4)), 0.0)


# -------------------------------------------------------------------------------- improvement


def test_hypervolume_improvement_matches_moocore(x64):
    d = 3
    rng = np.random.default_rng(d)
    archive, new = rng.random((8, d)), rng.random((3, d))
    ref = np.full(d, 0.1)
    improvement = jax.jit(P.hypervolume_improvement)  # masks always given: one compilation
    everything, all_new = np.ones(8, dtype=bool), np.ones(3, dtype=bool)
    cases = [
        (archive, new, everything, all_new),
        (archive, archive[:3] * 0.5, everything, all_new),  # dominated new points add nothing
        (archive, new, everything, np.array([True, False, True])),
        (archive, new, np.zeros(8, dtype=bool), all_new),  # empty archive
    ]
    for a, p, a_mask, p_mask in cases:
        expected = hv(np.concatenate([a[a_mask], p[p_mask]]), ref) - hv(a[a_mask], ref)
        got = float(improvement(a, p, ref, a_mask, p_mask))
        assert got == pytest.approx(expected, abs=1e-12) and got >= 0


@pytest.mark.parametrize("d", [2, 3])
def test_single_point_improvement_matches_moocore(x64, d):
    """One new point takes the box-minus-shadows path."""
    rng = np.random.default_rng(10 + d)
    archive = rng.random((8, d))
    archive[3] = 1.2  # would dominate everything, but is masked out
    ref = np.full(d, 0.1)
    mask = np.arange(8) != 3
    candidates = np.concatenate([rng.random((6, d)), archive[:2] * 0.9, archive[3:4], np.full((1, d), 0.05)])
    gains = jax.vmap(lambda p: P.hypervolume_improvement(archive, p[None], ref, mask))(candidates)
    for point, got in zip(candidates, np.asarray(gains)):
        expected = hv(np.vstack([archive[mask], point]), ref) - hv(archive[mask], ref)
        assert got == pytest.approx(expected, abs=1e-12)
    assert np.all(np.asarray(gains)[6:8] == 0)  # dominated by the archive
    assert np.asarray(gains)[8] > 0  # archive[3] is masked out, so re-adding it gains


def test_single_point_improvement_of_a_dominated_point_is_exactly_zero_in_float32():
    rng = np.random.default_rng(12)
    archive = rng.random((50, 2)).astype(np.float32)
    dominated = archive * np.float32(0.999)
    gains = jax.vmap(lambda p: P.hypervolume_improvement(archive, p[None], np.zeros(2, np.float32)))(dominated)
    assert np.all(np.asarray(gains) == 0)


def test_hypervolume_improvement_gradient_flows_to_the_new_point(x64):
    archive = np.array([[1.0, 3.0], [3.0, 1.0]])
    new = np.array([[2.0, 2.0]])
    grad = np.asarray(jax.grad(P.hypervolume_improvement, argnums=1)(archive, new, 0.0))
    np.testing.assert_allclose(grad, [[1.0, 1.0]])  # the exclusive box is [1, 2] x [1, 2]


def test_hypervolume_improvement_dimension_mismatch():
    with pytest.raises(ValueError, match=r"archive has d=2 objectives but new_points has d=3"):
        P.hypervolume_improvement(np.ones((2, 2)), np.ones((1, 3)), 0.0)
