"""Independent NumPy reference implementations for the pareto tests (no morl_jax, no moocore)."""

import itertools

import numpy as np


def brute_nondominated(points: np.ndarray, keep_duplicates: bool = False) -> np.ndarray:
    """Row i is kept unless another row dominates it (maximisation), or an identical earlier row exists."""
    n = len(points)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            ge, gt = np.all(points[j] >= points[i]), np.any(points[j] > points[i])
            if ge and gt:
                keep[i] = False
            if ge and not gt and j < i and not keep_duplicates:
                keep[i] = False
    return keep


def grid_hypervolume(points: np.ndarray, ref: np.ndarray, step: float) -> float:
    """Counts the lattice cells (side `step`, anchored at ref) whose upper corner some point weakly dominates.

    Exact when every coordinate of the points and ref is ref_i + (integer) * step.
    """
    points = np.asarray(points, dtype=np.float64)
    inside = points[np.all(points > ref, axis=1)]
    if len(inside) == 0:
        return 0.0
    counts = np.rint((inside.max(axis=0) - ref) / step).astype(int)
    axes = [ref[k] + step * np.arange(1, counts[k] + 1) for k in range(len(ref))]
    corners = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(ref))
    covered = np.any(np.all(inside[None, :, :] >= corners[:, None, :], axis=-1), axis=-1)
    return float(covered.sum()) * step ** len(ref)


def inclusion_exclusion_hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """Sum over non-empty subsets of the in-box rows of (-1)^(|S|+1) * volume of their common box."""
    inside = [p for p in np.asarray(points, dtype=np.float64) if np.all(p > ref)]
    total = 0.0
    for size in range(1, len(inside) + 1):
        for subset in itertools.combinations(inside, size):
            total += (-1) ** (size + 1) * np.prod(np.min(subset, axis=0) - ref)
    return total


def front_2d_gradient(points: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Closed-form 2-D gradient: for front point i (x descending), (y_i - y_prev, x_i - x_next)."""
    grad = np.zeros_like(points, dtype=np.float64)
    inside = np.all(points > ref, axis=1)
    keep = np.zeros(len(points), dtype=bool)
    keep[np.flatnonzero(inside)] = brute_nondominated(points[inside])
    front = sorted(np.flatnonzero(keep), key=lambda i: -points[i, 0])
    for pos, i in enumerate(front):
        y_prev = points[front[pos - 1], 1] if pos > 0 else ref[1]
        x_next = points[front[pos + 1], 0] if pos + 1 < len(front) else ref[0]
        grad[i] = [points[i, 1] - y_prev, points[i, 0] - x_next]
    return grad


def pad(points: np.ndarray, size: int, rng: np.random.Generator, scale: float = 100.0):
    """Pads to `size` rows with large random rows (that would dominate everything if not masked), at
    random positions. Returns (padded points, mask, positions of the real rows)."""
    n, d = points.shape
    filler = scale * (1.0 + rng.random((size - n, d)))
    order = rng.permutation(size)
    padded = np.concatenate([points, filler])[order]
    mask = (order < n)
    positions = np.argsort(order)[:n]
    return padded, mask, positions


def padded_call(fn, points, ref, size: int = 16, seed: int = 0, **kwargs):
    """Calls fn(padded points, ref vector, mask, **kwargs) with the rows padded to a standard static size,
    so tests share compilations (and exercise masking); returns fn's output for the real rows if it is
    per-row, else the output."""
    points = np.asarray(points)
    d = points.shape[1]
    padded, mask, positions = pad(points, size, np.random.default_rng(seed))
    ref = np.broadcast_to(np.asarray(ref, dtype=points.dtype), (d,)).copy()
    out = np.asarray(fn(padded.astype(points.dtype), ref, mask, **kwargs))
    return out[positions] if out.shape[:1] == (size,) else out
