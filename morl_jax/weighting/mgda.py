"""MGDA: the min-norm convex combination of the per-objective gradients (Desideri 2012; Sener & Koltun 2018).

With the Gram matrix G_kj = <g_k, g_j> of the per-objective policy gradients, the weights are
alpha* = argmin_{alpha in simplex} alpha^T G alpha: the common direction that improves every objective, whose
norm is 0 exactly at a Pareto-stationary point. K = 2 has a closed form; beyond, Frank-Wolfe with exact line
search on G. Up to K = 10 the minimum is found exactly over the simplex's faces instead (Frank-Wolfe converges
slowly when the minimum lies on a face). At the advantage level (no post step) the update's gradient is then sum_k alpha_k g_k itself.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from morl_jax.weighting.base import Signals, WeightOptimizer, check_num_objectives, register, require

NEEDS = frozenset({"gram"})


class MgdaState(NamedTuple):
    min_norm: jax.Array  # sqrt(alpha^T G alpha) of the latest step: 0 at a Pareto-stationary point


EXACT_MAX_K = 10  # up to 2^10 - 1 faces of the simplex, each a small linear system


def _faces(k: int) -> np.ndarray:
    """Every non-empty subset of the K vertices, as a boolean mask [2^K - 1, K]."""
    return np.array([[(i >> j) & 1 for j in range(k)] for i in range(1, 2**k)], bool)


def _exact_min_norm(gram: jax.Array) -> jax.Array:
    """The min-norm point by enumerating the faces: on each, the KKT system of min a^T G a s.t. sum(a) = 1 (least
    squares, so parallel gradients are fine); the best feasible (a >= 0) solution wins. Vertices are always
    feasible, so there always is one."""
    k = gram.shape[0]

    def solve(face):
        inside = face[:, None] & face[None, :]
        system = jnp.where(inside, gram, 0.0) + jnp.diag(jnp.where(face, 0.0, 1.0))
        ones = face.astype(gram.dtype)
        kkt = jnp.block([[system, ones[:, None]], [ones[None, :], jnp.zeros((1, 1), gram.dtype)]])
        rhs = jnp.zeros((k + 1,), gram.dtype).at[k].set(1.0)
        alpha = jnp.where(face, jnp.linalg.lstsq(kkt, rhs)[0][:k], 0.0)
        feasible = (alpha.min() >= -1e-6) & (jnp.abs(alpha.sum() - 1.0) < 1e-4)
        return alpha, jnp.where(feasible, alpha @ gram @ alpha, jnp.inf)

    alphas, values = jax.vmap(solve)(jnp.asarray(_faces(k)))
    best = jnp.clip(alphas[jnp.argmin(values)], 0.0, None)
    return best / best.sum()


def min_norm_weights(gram: jax.Array, iterations: int = 256) -> jax.Array:
    """argmin over the simplex of alpha^T G alpha: closed form for K = 2, exact over the simplex's faces up to
    K = 10, Frank-Wolfe with exact line search beyond."""
    k = gram.shape[0]
    if k == 1:
        return jnp.ones((1,), gram.dtype)
    if k == 2:
        denom = gram[0, 0] + gram[1, 1] - 2 * gram[0, 1]
        a = jnp.where(denom > 0, (gram[1, 1] - gram[0, 1]) / jnp.where(denom > 0, denom, 1.0), 0.5)
        a = jnp.clip(a, 0.0, 1.0)
        return jnp.stack([a, 1.0 - a])
    if k <= EXACT_MAX_K:
        return _exact_min_norm(gram)
    return frank_wolfe(gram, iterations)


def frank_wolfe(gram: jax.Array, iterations: int) -> jax.Array:
    """`iterations` Frank-Wolfe steps with exact line search on alpha^T G alpha over the simplex, from uniform."""
    k = gram.shape[0]

    def step(alpha, _):
        grad = gram @ alpha
        vertex = jax.nn.one_hot(jnp.argmin(grad), k, dtype=gram.dtype)
        d = vertex - alpha
        curvature = d @ gram @ d
        gamma = jnp.where(curvature > 0, jnp.clip(-(d @ grad) / jnp.where(curvature > 0, curvature, 1.0), 0, 1), 0)
        return alpha + gamma * d, None

    alpha, _ = jax.lax.scan(step, jnp.full((k,), 1.0 / k, gram.dtype), None, length=iterations)
    return alpha


def mgda(iterations: int = 256) -> WeightOptimizer:
    """Min-norm weights from the Gram matrix (`iterations` of Frank-Wolfe only beyond K = 10)."""
    if iterations < 1:
        raise ValueError(f"mgda: iterations must be >= 1, got {iterations}")

    def init(num_objectives: int) -> MgdaState:
        check_num_objectives(num_objectives, "mgda")
        return MgdaState(jnp.zeros((), jnp.float32))

    def update(signals: Signals, state: MgdaState) -> tuple[jax.Array, MgdaState]:
        require(signals, NEEDS, "mgda")
        gram = jnp.asarray(signals.gram, jnp.float32)
        alpha = min_norm_weights(gram, iterations)
        return alpha, MgdaState(jnp.sqrt(jnp.maximum(alpha @ gram @ alpha, 0.0)))

    return WeightOptimizer(init, update, NEEDS)


register("mgda", mgda)
