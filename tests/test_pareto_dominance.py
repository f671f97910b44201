"""Non-dominated masks against moocore.is_nondominated and a brute-force double loop."""

import jax
import moocore
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import morl_jax.pareto as P
from morl_jax.pareto.dominance import pairwise_nondominated, sweep_nondominated
from pareto_oracles import brute_nondominated, pad

SWEEP = jax.jit(sweep_nondominated, static_argnums=2)
PAIRWISE = jax.jit(pairwise_nondominated, static_argnums=2)


@pytest.mark.parametrize("keep_duplicates", [False, True])
@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_matches_moocore_and_brute_force(d, keep_duplicates):
    rng = np.random.default_rng(d)
    for trial in range(5):
        points = rng.integers(-2, 3, size=(12, d)).astype(np.float32) if trial % 2 else rng.random((12, d), dtype=np.float32)
        got = np.asarray(P.nondominated_mask(points, keep_duplicates=keep_duplicates))
        np.testing.assert_array_equal(got, brute_nondominated(points, keep_duplicates))
        np.testing.assert_array_equal(got, moocore.is_nondominated(points, maximise=True, keep_weakly=keep_duplicates))


def test_first_copy_is_the_one_kept():
    points = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 1.0], [2.0, 0.5], [1.0, 1.0]])
    np.testing.assert_array_equal(np.asarray(P.nondominated_mask(points)), [False, True, False, True, False])
    np.testing.assert_array_equal(
        np.asarray(P.nondominated_mask(points, keep_duplicates=True)), [False, True, True, True, True]
    )


@pytest.mark.parametrize("d", [2, 3])
def test_masked_rows_never_kept_and_never_dominate(d):
    rng = np.random.default_rng(3)
    points = rng.integers(0, 4, size=(9, d)).astype(np.float32)
    padded, mask, positions = pad(points, 16, rng)
    got = np.asarray(P.nondominated_mask(padded, mask))
    assert not got[~mask].any()
    np.testing.assert_array_equal(got[positions], brute_nondominated(points))


@pytest.mark.parametrize("d", [2, 3])
def test_empty_and_all_masked(d):
    assert P.nondominated_mask(np.zeros((0, d))).shape == (0,)
    assert not np.asarray(P.nondominated_mask(np.ones((4, d)), np.zeros(4, dtype=bool))).any()


def test_vmap_and_negative_zero():
    batch = np.array([[[0.0, 1.0], [-0.0, 1.0], [1.0, 0.0]], [[1.0, 1.0], [0.5, 0.5], [1.0, 1.0]]], dtype=np.float32)
    got = np.asarray(jax.vmap(P.nondominated_mask)(batch))
    np.testing.assert_array_equal(got, [[True, False, True], [True, False, False]])


def test_sweep_and_pairwise_agree_in_2d():
    """The O(n log n) 2-D path is an independent implementation of the same definition."""
    ints = st.integers(-3, 3)

    @settings(max_examples=40)
    @given(points=hnp.arrays(np.float32, (10, 2), elements=ints.map(float)), mask=hnp.arrays(bool, (10,)))
    def check(points, mask):
        for keep in (False, True):
            sweep = np.asarray(SWEEP(points, mask, keep))
            pairwise = np.asarray(PAIRWISE(points, mask, keep))
            np.testing.assert_array_equal(sweep, pairwise)
            expected = np.zeros(10, dtype=bool)
            expected[mask] = brute_nondominated(points[mask], keep)
            np.testing.assert_array_equal(sweep, expected)

    check()
