"""Pareto dominance under maximisation: non-dominated masks for static-shape (masked) point sets."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from morl_jax.pareto import sweep2d
from morl_jax.pareto._inputs import as_mask, as_points


def pairwise_nondominated(points: jnp.ndarray, mask: jnp.ndarray, keep_duplicates: bool) -> jnp.ndarray:
    """O(n^2 d) pairwise test: row i survives unless a real row dominates it (or, without
    keep_duplicates, an identical real row has a lower index)."""
    p = lax.stop_gradient(points)
    n = p.shape[0]
    other_ge = jnp.all(p[None, :, :] >= p[:, None, :], axis=-1)  # [i, j]: p_j >= p_i everywhere
    other_gt = jnp.any(p[None, :, :] > p[:, None, :], axis=-1)  # [i, j]: p_j > p_i somewhere
    real_other = mask[None, :]
    dominated = jnp.any(other_ge & other_gt & real_other, axis=-1)
    keep = mask & ~dominated
    if keep_duplicates:
        return keep
    earlier = jnp.arange(n)[None, :] < jnp.arange(n)[:, None]
    earlier_copy = jnp.any(other_ge & ~other_gt & real_other & earlier, axis=-1)
    return keep & ~earlier_copy


def sweep_nondominated(points: jnp.ndarray, mask: jnp.ndarray, keep_duplicates: bool) -> jnp.ndarray:
    """O(n log n) version for d = 2; masked rows are moved to -inf, which only comparisons see."""
    p = jnp.where(mask[:, None], lax.stop_gradient(points), -jnp.inf)
    st = sweep2d.staircase(p[:, 0], p[:, 1], -jnp.inf)
    return mask & (st.front if keep_duplicates else st.first_copy)


@functools.partial(jax.jit, static_argnames=("keep_duplicates",))
def nondominated_mask(points: ArrayLike, mask: ArrayLike | None = None, keep_duplicates: bool = False) -> jnp.ndarray:
    """Boolean (n,) mask of the non-dominated real rows of `points` (maximisation).

    `x` dominates `y` when `x >= y` everywhere and `x > y` somewhere; identical rows do not dominate each
    other. By default only the first copy of a duplicated point is kept (as moocore.is_nondominated and
    morl-baselines' filter); `keep_duplicates=True` keeps every copy. Masked rows (False) are never kept
    and never dominate anything. O(n log n) for d = 2, O(n^2 d) time and memory otherwise.
    """
    pts = as_points(points)
    n, d = pts.shape
    real = as_mask(mask, n)
    if n == 0:
        return real
    if d == 2:
        return sweep_nondominated(pts, real, keep_duplicates)
    return pairwise_nondominated(pts, real, keep_duplicates)


def lexicographic_order(points: jnp.ndarray) -> jnp.ndarray:
    """Row permutation sorting by the first coordinate descending, then the next, ..., then row index.

    A row that dominates another always comes first, so "first in this order" breaks ties in favour of
    dominating rows.
    """
    p = lax.stop_gradient(points)
    n, d = p.shape
    keys = tuple(0.0 - p[:, k] for k in range(d)) + (lax.iota(jnp.int32, n),)
    return lax.sort(keys, num_keys=len(keys))[-1]
