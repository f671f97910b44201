"""Polar (random-scalarisation) hypervolume estimator for any d; differentiable.

HV(X; r) = c_d * E_w[ max_{x in X} min_i ((x_i - r_i) / w_i)_+^d ],  c_d = pi^(d/2) / (2^d Gamma(d/2 + 1)),
w uniform on the unit sphere's positive orthant (Deng & Zhang 2019; Golovin & Zhang 2020). The estimate is
unbiased, costs O(M n d) for M directions and is deterministic given the PRNG key.
"""

from __future__ import annotations

import functools


import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from morl_jax.pareto._inputs import prepare
from morl_jax.pareto.dominance import lexicographic_order


def polar_constant(d: int) -> float:
    """c_d: the volume of the unit d-ball's positive orthant."""
    return math.pi ** (d / 2) / (2**d * math.gamma(d / 2 + 1))


@functools.partial(jax.jit, static_argnames=("num_directions", "d", "dtype"))
def sphere_directions(key: jax.Array, num_directions: int, d: int, dtype=jnp.float32) -> jnp.ndarray:
    """(M, d) directions uniform on the positive orthant of the unit sphere (|Gaussian|, normalised).

    Components are floored at the dtype's epsilon so that dividing by them stays finite.
    """
    w = jnp.abs(jax.random.normal(key, (num_directions, d), dtype=dtype))
    w = w / jnp.linalg.norm(w, axis=-1, keepdims=True)
    return jnp.maximum(w, jnp.finfo(dtype).eps)


@functools.partial(jax.jit, static_argnames=("num_directions",))
def hypervolume_estimate(
    points: ArrayLike,
    ref: ArrayLike,
    num_directions: int,
    key: jax.Array,
    mask: ArrayLike | None = None,
) -> jnp.ndarray:
    """Polar Monte-Carlo estimate of the hypervolume (maximisation), for any d and static n.

    Rows masked out or not strictly dominating `ref` add 0. `jax.grad` gives a consistent estimate of the
    hypervolume gradient; ties between scalarised values go to the row that comes first in lexicographic
    order, so weakly dominated rows and later duplicates get zero gradient. Relative error shrinks as
    1/sqrt(num_directions) (a few % at 1k directions, well under 1 % at 20k).
    """
    if not isinstance(num_directions, int) or num_directions < 1:
        raise ValueError(f"num_directions must be a positive int (static); got {num_directions!r}.")
    pts, ref_arr, _ = prepare(points, ref, mask)
    n, d = pts.shape
    if n == 0:
        return jnp.zeros((), pts.dtype)
    pts = pts[lexicographic_order(pts)]
    directions = sphere_directions(key, num_directions, d, pts.dtype)
    scaled = (pts - ref_arr)[None, :, :] / directions[:, None, :]  # (M, n, d), all >= 0
    reach = jnp.min(scaled, axis=-1)  # (M, n): distance along w to the boundary of the row's box
    best = jnp.take_along_axis(reach, jnp.argmax(reach, axis=-1)[:, None], axis=-1)[:, 0]
    return polar_constant(d) * jnp.mean(best**d)
