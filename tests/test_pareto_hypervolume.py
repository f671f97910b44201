"""Exact jit hypervolume against moocore, a lattice-cell count and inclusion-exclusion; invariances,
masks, vmap, dtypes and the infeasible-shape error."""

import jax
import jax.numpy as jnp
import moocore
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import morl_jax.pareto as P
from pareto_oracles import grid_hypervolume, inclusion_exclusion_hypervolume, pad, padded_call


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def moocore_hv(points, ref, mask=None):
    points = np.asarray(points, dtype=np.float64)
    if mask is not None:
        points = points[mask]
    return moocore.hypervolume(points, ref=np.asarray(ref, dtype=np.float64), maximise=True) if len(points) else 0.0


def grid_points(rng, n, d, levels=5):
    """Points on a coarse lattice, so ties, duplicates and dominated rows are common."""
    return rng.integers(0, levels, size=(n, d)) / 4.0


# Static sizes per d: every exact method is exercised, and tests pad to these sizes to share compilations.
SIZES = {1: 16, 2: 16, 3: 16, 4: 16, 5: 16, 6: 16, 7: 12}


def hv(points, ref):
    """P.hypervolume on the rows padded (masked) to SIZES[d]."""
    points = np.asarray(points)
    return float(padded_call(P.hypervolume, points, ref, SIZES[points.shape[1]]))


@pytest.mark.parametrize("d", sorted(SIZES))
def test_matches_moocore_on_random_sets(x64, d):
    rng = np.random.default_rng(d)
    n = SIZES[d] - 3
    ref = np.full(d, -0.25)
    ref[0] = 0.0  # some rows sit on or below the reference in the first objective
    for trial in range(6):
        points = grid_points(rng, n, d) if trial % 2 else rng.random((n, d)) - 0.1
        got = hv(points, ref)
        assert got == pytest.approx(moocore_hv(points, ref), rel=1e-12, abs=1e-14)


def test_inclusion_exclusion_is_used_and_exact(x64):
    rng = np.random.default_rng(7)
    points = rng.random((12, 7))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    assert P.exact_method(12, 7) == "inclusion_exclusion"
    assert hv(points, np.zeros(7)) == pytest.approx(moocore_hv(points, np.zeros(7)), rel=1e-12)
    small = points[:8, :4] + 0.1 * rng.random((8, 4))
    assert hv(small, np.zeros(4)) == pytest.approx(inclusion_exclusion_hypervolume(small, np.zeros(4)), rel=1e-12)


@pytest.mark.parametrize("d", [2, 3, 4])
def test_matches_lattice_cell_count(x64, d):
    rng = np.random.default_rng(10 + d)
    ref = np.full(d, -0.5)
    for _ in range(4):
        points = grid_points(rng, SIZES[d] - 2, d) - 0.5
        assert hv(points, ref) == pytest.approx(grid_hypervolume(points, ref, 0.25), abs=1e-12)


EDGE_CASES = {
    "single point": ([[2.0, 3.0]], [0.0, 0.0], 6.0),
    "duplicates only": ([[1.0, 1.0]] * 4, [0.0, 0.0], 1.0),
    "dominated chain": ([[1.0, 1.0], [2.0, 2.0], [0.5, 1.5]], [0.0, 0.0], 4.0),
    "on the boundary": ([[0.0, 5.0], [3.0, 0.0], [1.0, 1.0]], [0.0, 0.0], 1.0),
    "outside the box": ([[-1.0, 5.0], [2.0, 2.0]], [0.0, 0.0], 4.0),
    "all outside": ([[-1.0, 5.0], [5.0, -2.0]], [0.0, 0.0], 0.0),
    "negative coordinates, non-zero ref": ([[-2.0, -1.0], [-1.0, -3.0]], [-4.0, -5.0], 2.0 * 4.0 + 1.0 * 2.0),
    "1-D": ([[1.0], [3.0], [2.0]], [0.5], 2.5),
    "3-D line": ([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]], [0.0, 0.0, 0.0], 8.0),
    "3-D degenerate plane": ([[1.0, 2.0, 1.0], [2.0, 1.0, 1.0]], [0.0, 0.0, 0.0], 3.0),
    "3-D touching ref in one coordinate": ([[1.0, 2.0, 0.0], [1.0, 1.0, 1.0]], [0.0, 0.0, 0.0], 1.0),
    "4-D staircase": ([[2, 1, 1, 1], [1, 2, 1, 1], [1, 1, 2, 1], [1, 1, 1, 2]], [0, 0, 0, 0], 5.0),
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_cases(x64, case):
    points, ref, expected = EDGE_CASES[case]
    points = np.asarray(points, dtype=np.float64)
    assert hv(points, ref) == pytest.approx(expected, abs=1e-12)
    assert moocore_hv(points, ref) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("d", [2, 3, 5])
def test_empty_and_all_masked(x64, d):
    assert float(P.hypervolume(np.zeros((0, d)), np.zeros(d))) == 0.0
    points = np.ones((SIZES[d], d))
    assert float(P.hypervolume(points, np.zeros(d), np.zeros(SIZES[d], dtype=bool))) == 0.0


@pytest.mark.parametrize("scale", [1e-6, 1e6])
@pytest.mark.parametrize("d", [2, 3])
def test_large_and_tiny_scales(x64, scale, d):
    rng = np.random.default_rng(3)
    points = scale * rng.random((SIZES[d] - 4, d))
    ref = np.full(d, -0.1 * scale)
    expected = moocore_hv(points, ref)
    assert hv(points, ref) == pytest.approx(expected, rel=1e-12)
    # float32 keeps ~7 digits at any scale (no absolute epsilons inside the method).
    assert hv(points.astype(np.float32), ref.astype(np.float32)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("d", [2, 3, 4])
def test_float32_close_to_float64_reference(d):
    rng = np.random.default_rng(20 + d)
    points = rng.random((SIZES[d] - 1, d)).astype(np.float32)
    assert hv(points, np.zeros(d, np.float32)) == pytest.approx(moocore_hv(points, np.zeros(d)), rel=2e-6)


def test_output_dtype_follows_the_input():
    points = np.ones((3, 2), dtype=np.float32)
    assert P.hypervolume(points, np.zeros(2, np.float32)).dtype == jnp.float32
    with jax.enable_x64(True):
        assert P.hypervolume(points.astype(np.float64), np.zeros(2)).dtype == jnp.float64


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("size", [7, 16, 29])
def test_masks_at_several_static_sizes(x64, d, size):
    rng = np.random.default_rng(d * 10 + size)
    points = grid_points(rng, 6, d)
    padded, mask, _ = pad(points, size, rng)
    assert float(P.hypervolume(padded, np.zeros(d), mask)) == pytest.approx(moocore_hv(points, np.zeros(d)), abs=1e-12)


@pytest.mark.parametrize("d", [2, 3])
def test_vmap_over_a_batch_of_fronts(x64, d):
    rng = np.random.default_rng(30 + d)
    batch = rng.random((5, 10, d))
    masks = rng.random((5, 10)) < 0.7
    refs = -rng.random((5, d))
    got = jax.vmap(P.hypervolume)(batch, refs, masks)
    expected = [moocore_hv(b, r, m) for b, r, m in zip(batch, refs, masks)]
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------------------ property-based tests

N_PAD = 8


@st.composite
def padded_sets(draw, d):
    n = draw(st.integers(1, N_PAD))
    points = draw(hnp.arrays(np.int64, (n, d), elements=st.integers(-1, 5))).astype(np.float64)
    return points


@pytest.mark.parametrize("d", [2, 3, 4])
def test_property_lattice_count_and_invariances(x64, d):
    """HV equals the lattice count, and is invariant to permutation and to adding dominated rows,
    duplicates and rows outside the box; positive per-axis scaling multiplies it by prod(scale)."""
    ref = np.full(d, -1.0)

    def padded_hv(points, ref_point):
        rows, mask = np.zeros((2 * N_PAD, d)), np.zeros(2 * N_PAD, dtype=bool)
        rows[: len(points)], mask[: len(points)] = points, True
        return float(P.hypervolume(rows, ref_point, mask))

    @settings(max_examples=25)
    @given(points=padded_sets(d), seed=st.integers(0, 2**16), data=st.data())
    def check(points, seed, data):
        rng = np.random.default_rng(seed)
        value = padded_hv(points, ref)
        assert value == pytest.approx(grid_hypervolume(points, ref, 1.0), abs=1e-9)
        assert padded_hv(points[rng.permutation(len(points))], ref) == pytest.approx(value, abs=1e-9)
        extra = points[rng.integers(0, len(points), size=min(len(points), N_PAD))].copy()
        kind = data.draw(st.sampled_from(["duplicate", "dominated", "outside"]))
        if kind == "dominated":
            extra -= rng.integers(0, 3, size=extra.shape)
        elif kind == "outside":
            extra[:, rng.integers(0, d)] = -1.0 - rng.integers(0, 3)
        assert padded_hv(np.concatenate([points, extra]), ref) == pytest.approx(value, abs=1e-9)
        scale = 0.5 + rng.random(d) * 3
        assert padded_hv(points * scale, ref * scale) == pytest.approx(value * np.prod(scale), rel=1e-9, abs=1e-9)

    check()


# ---------------------------------------------------------------------------------------- errors


def test_infeasible_shapes_raise_a_clear_error():
    with pytest.raises(ValueError, match=r"n=300, d=4.*d=4: n<=256.*hypervolume_estimate.*ParetoArchive"):
        P.hypervolume(np.zeros((300, 4)), 0.0)
    with pytest.raises(ValueError, match=r"inclusion-exclusion"):
        P.hypervolume(np.zeros((20, 8)), 0.0)
    assert P.exact_method(256, 4) == "slicing" and P.exact_method(4096, 3) == "slicing"
    assert P.exact_method(10**6, 2) == "sweep"
    # The cheaper exact method wins where both are feasible.
    assert P.exact_method(14, 5) == "slicing" and P.exact_method(12, 7) == "inclusion_exclusion"


def test_input_validation():
    with pytest.raises(ValueError, match=r"shape \(n, d\).*vmap"):
        P.hypervolume(np.ones((2, 3, 2)), 0.0)
    with pytest.raises(ValueError, match=r"ref must be a scalar or have shape \(2,\)"):
        P.hypervolume(np.ones((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match=r"mask must have shape \(3,\)"):
        P.hypervolume(np.ones((3, 2)), 0.0, np.ones(4, dtype=bool))
    with pytest.raises(ValueError, match=r"mask must be boolean"):
        P.hypervolume(np.ones((3, 2)), 0.0, np.ones(3))
