"""Deterministic weight vectors on the probability simplex (for EUM / MUL), no pymoo needed."""

from __future__ import annotations

import itertools
import math

import jax.numpy as jnp
import numpy as np


def simplex_lattice_size(num_objectives: int, divisions: int) -> int:
    """Number of points of the uniform simplex lattice: C(divisions + d - 1, d - 1)."""
    return math.comb(divisions + num_objectives - 1, num_objectives - 1)


def simplex_lattice(num_objectives: int, divisions: int, dtype=None) -> jnp.ndarray:
    """All weight vectors with entries in {0, 1/divisions, ..., 1} summing to 1 (Das-Dennis lattice).

    Rows are in lexicographically decreasing order, so the result is the same on every call; the corners
    (one objective only) are included. For d objectives there are C(divisions + d - 1, d - 1) rows.
    """
    if num_objectives < 1 or divisions < 1:
        raise ValueError(f"need num_objectives >= 1 and divisions >= 1; got {num_objectives}, {divisions}.")
    # Stars and bars: choose the positions of d-1 bars among divisions + d - 1 slots.
    rows = []
    for bars in itertools.combinations(range(divisions + num_objectives - 1), num_objectives - 1):
        edges = (-1,) + bars + (divisions + num_objectives - 1,)
        rows.append([edges[i + 1] - edges[i] - 1 for i in range(num_objectives)])
    counts = np.asarray(rows, dtype=np.float64)[::-1]
    return jnp.asarray(counts / divisions, dtype=dtype)
