"""Input checking and the masking convention shared by the jit-able Pareto functions.

Every function accepts NumPy or JAX arrays of shape (n, d) plus an optional boolean mask of shape (n,)
(True = real row). Shapes are static, so all checks here run at trace time.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.typing import ArrayLike


def float_dtype(*arrays: ArrayLike) -> jnp.dtype:
    """The float32/float64 dtype the computation runs in (integers and half precisions are promoted)."""
    dtype = jnp.result_type(*(jnp.asarray(a) for a in arrays))
    if dtype == jnp.float64:
        return jnp.dtype(jnp.float64)
    if jnp.issubdtype(dtype, jnp.floating) and dtype.itemsize >= 4:
        return jnp.dtype(dtype)
    return jnp.dtype(jnp.float32)


def as_points(points: ArrayLike, name: str = "points", dtype=None) -> jnp.ndarray:
    """Converts to a float (n, d) array, with an error that explains batching if the rank is wrong."""
    arr = jnp.asarray(points)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must have shape (n, d); got shape {arr.shape}. "
            "Use jax.vmap to map over a batch of point sets."
        )
    return arr.astype(dtype or float_dtype(arr))


def as_mask(mask: ArrayLike | None, n: int, name: str = "mask") -> jnp.ndarray:
    """Boolean (n,) mask; None means every row is real."""
    if mask is None:
        return jnp.ones((n,), dtype=bool)
    arr = jnp.asarray(mask)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match the points; got shape {arr.shape}.")
    if arr.dtype != jnp.bool_:
        raise ValueError(f"{name} must be boolean (True = real row); got dtype {arr.dtype}.")
    return arr


def as_reference(ref: ArrayLike, d: int, dtype) -> jnp.ndarray:
    """Reference point of shape (d,); a scalar is broadcast to every objective."""
    arr = jnp.asarray(ref, dtype=dtype)
    if arr.ndim == 0:
        return jnp.full((d,), arr, dtype=dtype)
    if arr.shape != (d,):
        raise ValueError(f"ref must be a scalar or have shape ({d},) to match points of dimension {d}; got {arr.shape}.")
    return arr


def prepare(points: ArrayLike, ref: ArrayLike, mask: ArrayLike | None):
    """Returns (clipped points, ref, valid) where rows that are masked out or do not strictly dominate `ref`
    are replaced by `ref` itself (an empty box: adds nothing, never hides a real point, no -inf)."""
    dtype = float_dtype(points, ref)
    pts = as_points(points, dtype=dtype)
    n, d = pts.shape
    ref_arr = as_reference(ref, d, dtype)
    valid = as_mask(mask, n) & jnp.all(pts > ref_arr, axis=-1)
    return jnp.where(valid[:, None], pts, ref_arr), ref_arr, valid
