"""MORL front metrics (maximisation), jit-able with optional row masks; definitions follow morl-baselines.

Metrics of an empty set (every row masked) that have no meaningful value return NaN.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from morl_jax.pareto._inputs import as_mask, as_points, float_dtype
from morl_jax.pareto.dominance import nondominated_mask


def _points_and_mask(points: ArrayLike, mask: ArrayLike | None, name: str = "points", dtype=None):
    pts = as_points(points, name, dtype)
    return pts, as_mask(mask, pts.shape[0], f"{name} mask")


def _nan_if_empty(value: jnp.ndarray, real: jnp.ndarray) -> jnp.ndarray:
    return jnp.where(jnp.any(real), value, jnp.nan)


def _masked_max(values: jnp.ndarray, real: jnp.ndarray, axis: int) -> jnp.ndarray:
    """Max over real entries along `axis` (masked entries replaced by the overall min, not -inf)."""
    if values.size == 0:
        return jnp.full(values.shape[:axis] + values.shape[axis + 1 :], jnp.nan, values.dtype)
    return jnp.max(jnp.where(real, values, jnp.min(values)), axis=axis)


def _check_weights(weights: ArrayLike, d: int, dtype) -> jnp.ndarray:
    w = jnp.asarray(weights, dtype=dtype)
    if w.ndim != 2 or w.shape[1] != d or w.shape[0] == 0:
        raise ValueError(f"weights must have shape (m, {d}) (one weight vector per row); got {w.shape}.")
    return w


@jax.jit
def cardinality(points: ArrayLike, mask: ArrayLike | None = None) -> jnp.ndarray:
    """Number of non-dominated real rows, duplicates counted once (morl-baselines logs it on the filtered front)."""
    return jnp.sum(nondominated_mask(points, mask), dtype=jnp.int32)


@jax.jit
def sparsity(points: ArrayLike, mask: ArrayLike | None = None) -> jnp.ndarray:
    """PGMORL sparsity: sum over objectives of squared gaps between sorted values, divided by (n - 1).

    Computed on the real rows as given (pass mask=nondominated_mask(points) for the front); 0 if n < 2.
    """
    pts, real = _points_and_mask(points, mask)
    if pts.shape[0] < 2:
        return jnp.zeros((), pts.dtype)
    top = jnp.max(jnp.where(real[:, None], pts, jnp.min(pts, axis=0)), axis=0)
    ordered = jnp.sort(jnp.where(real[:, None], pts, top), axis=0)  # padding sorts last with zero gaps
    gaps = jnp.diff(ordered, axis=0)
    count = jnp.sum(real)
    return jnp.where(count >= 2, jnp.sum(gaps**2) / jnp.maximum(count - 1, 1), 0.0)


@jax.jit
def expected_utility(points: ArrayLike, weights: ArrayLike, mask: ArrayLike | None = None) -> jnp.ndarray:
    """EUM: mean over weight rows w of max over points f of w·f (linear utility). NaN for an empty set."""
    pts, real = _points_and_mask(points, mask)
    w = _check_weights(weights, pts.shape[1], pts.dtype)
    utilities = w @ pts.T  # (m, n)
    return _nan_if_empty(jnp.mean(_masked_max(utilities, real[None, :], axis=1)), real)


@jax.jit
def maximum_utility_loss(
    points: ArrayLike,
    reference_front: ArrayLike,
    weights: ArrayLike,
    mask: ArrayLike | None = None,
    reference_mask: ArrayLike | None = None,
) -> jnp.ndarray:
    """MUL: max over weight rows w of (max_z w·z - max_f w·f), z in the reference front, f in points."""
    dtype = float_dtype(points, reference_front)
    pts, real = _points_and_mask(points, mask, dtype=dtype)
    ref_front, ref_real = _points_and_mask(reference_front, reference_mask, "reference_front", dtype)
    if ref_front.shape[1] != pts.shape[1]:
        raise ValueError(f"reference_front has d={ref_front.shape[1]} but points have d={pts.shape[1]}.")
    w = _check_weights(weights, pts.shape[1], dtype)
    best_reference = _masked_max(w @ ref_front.T, ref_real[None, :], axis=1)
    best_points = _masked_max(w @ pts.T, real[None, :], axis=1)
    return _nan_if_empty(_nan_if_empty(jnp.max(best_reference - best_points), real), ref_real)


def _safe_norm(v: jnp.ndarray) -> jnp.ndarray:
    """Euclidean norm along the last axis with a finite gradient at 0."""
    squared = jnp.sum(v**2, axis=-1)
    positive = squared > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1)), 0)


def _mean_nearest(distances: jnp.ndarray, real: jnp.ndarray, ref_real: jnp.ndarray) -> jnp.ndarray:
    """Mean over real reference rows (axis 0) of the min distance to a real point (axis 1)."""
    if distances.size == 0:
        return jnp.full((), jnp.nan, distances.dtype)
    nearest = jnp.min(jnp.where(real[None, :], distances, jnp.max(distances)), axis=1)
    total = jnp.sum(jnp.where(ref_real, nearest, 0))
    return _nan_if_empty(_nan_if_empty(total / jnp.maximum(jnp.sum(ref_real), 1), real), ref_real)


def _pair_differences(points, reference_front, mask, reference_mask):
    dtype = float_dtype(points, reference_front)
    pts, real = _points_and_mask(points, mask, dtype=dtype)
    ref_front, ref_real = _points_and_mask(reference_front, reference_mask, "reference_front", dtype)
    if ref_front.shape[1] != pts.shape[1]:
        raise ValueError(f"reference_front has d={ref_front.shape[1]} but points have d={pts.shape[1]}.")
    return ref_front[:, None, :] - pts[None, :, :], real, ref_real  # (|Z|, n, d): z - f


@jax.jit
def igd(
    points: ArrayLike,
    reference_front: ArrayLike,
    mask: ArrayLike | None = None,
    reference_mask: ArrayLike | None = None,
) -> jnp.ndarray:
    """IGD = mean over reference rows z of min over points f of ||z - f||_2 (pymoo IGD(Z)(F))."""
    diff, real, ref_real = _pair_differences(points, reference_front, mask, reference_mask)
    return _mean_nearest(_safe_norm(diff), real, ref_real)


@jax.jit
def igd_plus(
    points: ArrayLike,
    reference_front: ArrayLike,
    mask: ArrayLike | None = None,
    reference_mask: ArrayLike | None = None,
) -> jnp.ndarray:
    """IGD+ (maximisation) = mean over z of min over f of ||max(z - f, 0)||_2; Pareto-compliant.

    Equals moocore.igd_plus(points, ref=reference_front, maximise=True).
    """
    diff, real, ref_real = _pair_differences(points, reference_front, mask, reference_mask)
    return _mean_nearest(_safe_norm(jnp.maximum(diff, 0)), real, ref_real)


@jax.jit
def mean_pareto_step(points: ArrayLike, steps: ArrayLike, mask: ArrayLike | None = None) -> jnp.ndarray:
    """Mean training step of the Pareto-optimal checkpoints (every copy of a duplicated point counts).

    A low value means the front is made of early checkpoints. NaN for an empty set.
    """
    pts, real = _points_and_mask(points, mask)
    steps_arr = jnp.asarray(steps)
    if steps_arr.shape != (pts.shape[0],):
        raise ValueError(f"steps must have shape ({pts.shape[0]},) to match the points; got {steps_arr.shape}.")
    optimal = nondominated_mask(pts, real, keep_duplicates=True)
    total = jnp.sum(jnp.where(optimal, steps_arr.astype(pts.dtype), 0))
    return _nan_if_empty(total / jnp.maximum(jnp.sum(optimal), 1), optimal)
