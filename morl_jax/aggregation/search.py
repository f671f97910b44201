"""Weight search for an aggregate: EMORL's hierarchical zooming grid search, and the preference sweep.

`hierarchical_grid_search` is the search of EMORL's `el_aggregation.py` (Kong et al. 2025) in K dimensions:
evaluate the 3^K grid of the current box, keep the 2^K sub-cube (adjacent grid points) whose scores sum highest,
make its bounding box the new box, repeat; the answer is the best point evaluated in any iteration. EMORL
searches [0, 1]^3 for 5 iterations. A point met again in a later iteration (each kept sub-cube's corners are
grid points of the next box) is looked up instead of re-evaluated: with a deterministic score this changes
nothing but the cost, 3^K + (3^K − 2^K)(iterations − 1) evaluations instead of 3^K · iterations.

`preference_sweep` evaluates an aggregate at the mixing weights chosen for each of a set of preference vectors;
its points are the aggregate's front over those preferences (`front_metrics` summarises it).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence

import jax.numpy as jnp
import numpy as np

from morl_jax import pareto


@dataclasses.dataclass
class GridSearchResult:
    """best_weights [K] and best_score; evaluated: every distinct point scored, in order, with its score;
    boxes: the [K, 2] box searched in each iteration."""

    best_weights: np.ndarray
    best_score: float
    evaluated: list[tuple[np.ndarray, float]]
    boxes: list[np.ndarray]

    @property
    def num_evaluations(self) -> int:
        return len(self.evaluated)


def grid_points(box: np.ndarray) -> np.ndarray:
    """The 3^K points of the grid with 3 values per dimension in `box` [K, 2], in lexicographic index order
    (the last dimension varies fastest, as EMORL's nested loops)."""
    axes = [np.linspace(lo, hi, 3) for lo, hi in box]
    return np.array(list(itertools.product(*axes)), dtype=np.float64)


def best_subcube(scores: np.ndarray, num_dims: int) -> tuple[int, ...]:
    """The offset (each 0 or 1) of the 2^K sub-cube of a 3^K grid whose corner scores sum highest; ties go to the
    first offset in lexicographic order (EMORL keeps the first strict maximum)."""
    grid = np.asarray(scores, dtype=np.float64).reshape((3,) * num_dims)
    best, best_sum = None, -np.inf
    for offset in itertools.product((0, 1), repeat=num_dims):
        total = grid[tuple(slice(o, o + 2) for o in offset)].sum()
        if best is None or total > best_sum:
            best, best_sum = offset, total
    return best


def hierarchical_grid_search(score: Callable[[np.ndarray], float], num_dims: int, *, iterations: int = 5,
                             bounds: tuple[float, float] | Sequence[tuple[float, float]] = (0.0, 1.0)
                             ) -> GridSearchResult:
    """Maximise `score(weights [K]) -> float` by EMORL's zooming grid search over the box `bounds` (one (lo, hi)
    for every dimension, or one per dimension)."""
    if num_dims < 1 or iterations < 1:
        raise ValueError(f"hierarchical_grid_search: need num_dims >= 1 and iterations >= 1, got {num_dims}, "
                         f"{iterations}")
    box = np.array([bounds] * num_dims if np.ndim(bounds) == 1 else bounds, dtype=np.float64)
    if box.shape != (num_dims, 2) or not np.all(box[:, 0] < box[:, 1]):
        raise ValueError(f"hierarchical_grid_search: bounds must be (lo, hi) with lo < hi, once or per dimension "
                         f"({num_dims}), got {bounds!r}")
    memo: dict[tuple[float, ...], float] = {}
    evaluated, boxes = [], []
    for _ in range(iterations):
        boxes.append(box.copy())
        points = grid_points(box)
        scores = []
        for point in points:
            key = tuple(np.round(point, 12).tolist())
            if key not in memo:
                value = float(score(point))
                if not np.isfinite(value):
                    raise ValueError(f"hierarchical_grid_search: score({point.tolist()}) = {value} is not finite")
                memo[key] = value
                evaluated.append((point, value))
            scores.append(memo[key])
        offset = np.array(best_subcube(np.array(scores), num_dims))
        half = (box[:, 1] - box[:, 0]) / 2
        box = np.stack([box[:, 0] + offset * half, box[:, 0] + (offset + 1) * half], axis=1)
    best_point, best_score = max(evaluated, key=lambda item: item[1])
    return GridSearchResult(best_point, best_score, evaluated, boxes)


@dataclasses.dataclass
class SweepResult:
    """preferences [P, M], the mixing weights used for each [P, K], and the measured points [P, M]."""

    preferences: np.ndarray
    weights: np.ndarray
    points: np.ndarray


def preference_sweep(evaluate: Callable[[np.ndarray], np.ndarray], preferences: np.ndarray,
                     mixing: Callable[[np.ndarray], np.ndarray] | None = None) -> SweepResult:
    """For every preference vector p: weights = mixing(p) (default: p itself, the rewarded-soups recipe when
    expert k is the expert of objective k), point = evaluate(weights). Distinct weights are evaluated once."""
    preferences = np.asarray(preferences, dtype=np.float64)
    if preferences.ndim != 2 or not len(preferences):
        raise ValueError(f"preference_sweep: preferences must be [P, M] with P >= 1, got shape {preferences.shape}")
    cache: dict[tuple[float, ...], np.ndarray] = {}
    weights, points = [], []
    for p in preferences:
        w = np.asarray(p if mixing is None else mixing(p), dtype=np.float64)
        key = tuple(np.round(w, 12).tolist())
        if key not in cache:
            cache[key] = np.asarray(evaluate(w), dtype=np.float64)
        weights.append(w)
        points.append(cache[key])
    return SweepResult(preferences, np.array(weights), np.array(points))


def front_metrics(normalised_points: np.ndarray, preferences: np.ndarray) -> dict[str, float]:
    """Summary of the points a method gives for each preference, in normalised objectives (maximised, the worst
    point at 0 and the ideal at 1; see `ObjectiveSpace`).

    hypervolume (reference 0), expected_utility (EUM: mean over the preferences of the best w·z among all the
    points), utility_at_preference (mean of w_i·z_i, the point the method gives for w_i: does it follow the
    preference?), sparsity (PGMORL, of the non-dominated points), front_size (distinct non-dominated points).
    """
    z = np.asarray(normalised_points, dtype=np.float64)
    w = np.asarray(preferences, dtype=np.float64)
    if z.shape != w.shape:
        raise ValueError(f"front_metrics: one point per preference needed, got {z.shape} and {w.shape}")
    front = np.asarray(pareto.nondominated_mask(jnp.asarray(z)))
    return {"hypervolume": float(pareto.hypervolume(jnp.asarray(z), jnp.zeros(z.shape[1]))),
            "expected_utility": float(pareto.expected_utility(jnp.asarray(z), jnp.asarray(w))),
            "utility_at_preference": float(np.mean(np.sum(w * z, axis=1))),
            "sparsity": float(pareto.sparsity(jnp.asarray(z), jnp.asarray(front))),
            "front_size": int(front.sum())}
