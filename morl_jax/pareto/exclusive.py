"""Exclusive hypervolume contributions and hypervolume improvement under jit (maximisation)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from morl_jax.pareto import sweep2d
from morl_jax.pareto._inputs import as_mask, as_points, float_dtype, prepare
from morl_jax.pareto.dominance import nondominated_mask
from morl_jax.pareto.exact import SLICING_BUDGET, exact_cost, exact_hypervolume, hypervolume

CONTRIBUTIONS_BUDGET = 2**28  # n hypervolumes x elements per hypervolume


def _check_contributions_feasible(n: int, d: int) -> int:
    """Returns the per-hypervolume size; raises if n of them exceed CONTRIBUTIONS_BUDGET."""
    per_hv = exact_cost(n, d)
    if n * per_hv > CONTRIBUTIONS_BUDGET:
        raise ValueError(
            f"Exact contributions under jit are infeasible for the static shape (n={n}, d={d}): they take "
            f"n exact hypervolumes of {per_hv} elements each ({n * per_hv:.3g} > budget {CONTRIBUTIONS_BUDGET}). "
            "For d=2 the default (leave_one_out=False) path has no such limit; otherwise compute them on the "
            "host with moocore.hv_contributions, or use smaller point sets."
        )
    return per_hv


def _duplicated(points: jnp.ndarray, real: jnp.ndarray) -> jnp.ndarray:
    """True for real rows that have an identical real row elsewhere."""
    same = jnp.all(points[None, :, :] == points[:, None, :], axis=-1) & real[None, :]
    return real & (jnp.sum(same, axis=-1) > 1)


@functools.partial(jax.jit, static_argnames=("leave_one_out",))
def contributions(
    points: ArrayLike, ref: ArrayLike, mask: ArrayLike | None = None, leave_one_out: bool = False
) -> jnp.ndarray:
    """Exclusive hypervolume contribution HV(X) - HV(X \\ {x}) of every row, shape (n,).

    Default (moocore's ignore_dominated=True): X is the non-dominated subset, dominated rows get 0.
    leave_one_out=True: X is the whole multiset of real rows, so removing x may expose rows only x
    dominated and its contribution is smaller. In both, every copy of a duplicated point, dominated rows,
    rows outside the reference box and masked rows get 0. d=2 default: O(n log n) sweep; otherwise n exact
    hypervolumes (bounded by CONTRIBUTIONS_BUDGET, ValueError beyond).
    """
    pts, ref_arr, valid = prepare(points, ref, mask)
    n, d = pts.shape
    if n == 0:
        return jnp.zeros((0,), pts.dtype)
    if d == 2 and not leave_one_out:
        return sweep2d.contributions_2d(pts, ref_arr)
    per_hv = _check_contributions_feasible(n, d)
    first_copies = nondominated_mask(pts, valid)
    contributors = first_copies & ~_duplicated(lax.stop_gradient(pts), valid)
    base = valid if leave_one_out else first_copies

    def subset_volume(subset: jnp.ndarray) -> jnp.ndarray:
        return exact_hypervolume(jnp.where(subset[:, None], pts, ref_arr), ref_arr, subset)

    index = jnp.arange(n)
    without = lax.map(
        lambda i: subset_volume(base & (index != i)), index, batch_size=max(1, min(n, SLICING_BUDGET // per_hv))
    )
    return jnp.where(contributors, subset_volume(base) - without, 0)


@jax.jit
def hypervolume_improvement(
    archive: ArrayLike,
    new_points: ArrayLike,
    ref: ArrayLike,
    archive_mask: ArrayLike | None = None,
    new_mask: ArrayLike | None = None,
) -> jnp.ndarray:
    """HV(A ∪ P) - HV(A): the hypervolume gained by adding the rows of `new_points` to `archive`.

    Both are (n, d) arrays with optional masks. For a single new point p the gain is computed as
    vol(box(p)) - HV({min(a, p) : a in A}), the part of p's box that A leaves uncovered: its rounding error
    scales with p's box rather than with HV(A), and a dominated p gets exactly 0 in 2-D. The result is
    floored at 0 (its gradient is then 0).
    """
    dtype = float_dtype(archive, new_points, ref)
    a = as_points(archive, "archive", dtype)
    p = as_points(new_points, "new_points", dtype)
    if a.shape[1] != p.shape[1]:
        raise ValueError(f"archive has d={a.shape[1]} objectives but new_points has d={p.shape[1]}.")
    a_mask = as_mask(archive_mask, a.shape[0], "archive_mask")
    p_mask = as_mask(new_mask, p.shape[0], "new_mask")
    if p.shape[0] == 1:
        gain = _single_point_improvement(a, p[0], ref, a_mask, p_mask[0])
    else:
        union = jnp.concatenate([a, p], axis=0)
        gain = hypervolume(union, ref, jnp.concatenate([a_mask, p_mask])) - hypervolume(a, ref, a_mask)
    return jnp.where(gain > 0, gain, 0)


def _single_point_improvement(archive, point, ref, archive_mask, point_real) -> jnp.ndarray:
    """vol(box(point)) minus the volume of the archive's shadows min(a, point) inside that box."""
    (point,), ref_arr, _ = prepare(point[None], ref, point_real[None])
    shadows, _, covered = prepare(jnp.minimum(archive, point), ref_arr, archive_mask)
    return jnp.prod(point - ref_arr) - exact_hypervolume(shadows, ref_arr, covered)
