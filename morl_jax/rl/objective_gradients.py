"""Per-objective policy gradients from one forward pass, their Gram matrix, and the update that reuses them.

For the gradient-based weighting: g_k is the gradient of the PPO surrogate with clipping disabled,
-agg(A_k * pi / pi_old) (+ the KL term, as the paper includes it), where A_k are the advantages of objective k
alone. The policy runs forward once (`jax.vjp`); its pullback is applied to the K cotangents d loss_k / d logp
in turn, so the K gradients cost one forward and K backward passes instead of K of each. Each
g_k is clipped to a global norm over a chosen set of layers before G_kj = <g_k, g_j>.

When the update's loss is linear in the advantages (advantage-level weighting without a post-combination
step, one epoch of one minibatch), its gradient under weights w is sum_k w_k g_k: `apply_objective_gradients`
then updates the policy from the K gradients already computed, with no further forward or backward pass.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from morl_jax.optimizers import build_optimizer
from morl_jax.rl.advantages import get_estimator, objective_advantages
from morl_jax.rl.losses import LOG_RATIO_CLAMP, aggregate, kl_divergence
from morl_jax.rl.step import (FIRST_MINIBATCH_METRICS, RolloutBatch, UpdateSettings, UpdateState, advantage_metrics,
                              completion_logprobs, loss_and_metrics, reference_logprobs, token_counts)

Layers = tuple[int, int] | None  # transformer layers [start, stop) whose parameters enter the Gram matrix


class ObjectiveGradients(NamedTuple):
    """gram [K, K] of the clipped per-objective gradients over the chosen layers, norms [K] before clipping;
    for the fused update also the K policy-gradient pytrees of every parameter (leading axis K), the KL term's
    gradient, and the forward pass's per-token log-probs, entropies, per-objective advantages [N, K], reference
    log-probs."""

    gram: jax.Array
    norms: jax.Array
    grads: Any = None
    kl_grads: Any = None
    forward: dict[str, Any] | None = None


def in_layers(path: tuple[Any, ...], layers: Layers) -> bool:
    """Whether a parameter path lies in transformer layers [start, stop) (every parameter when layers is None)."""
    if layers is None:
        return True
    keys = [getattr(p, "key", getattr(p, "idx", None)) for p in path[:2]]
    return keys[0] == "layers" and isinstance(keys[1], int) and layers[0] <= keys[1] < layers[1]


def partition(tree: Any, chosen: Callable[[tuple[Any, ...]], bool]) -> tuple[list[Any], Callable[[list[Any]], Any]]:
    """(the leaves whose path is chosen, merge(new chosen leaves) -> the whole tree with them replaced)."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    picks = [chosen(path) for path, _ in leaves]
    if not any(picks):
        raise ValueError("the layer selection for the per-objective gradients matches no parameter")

    def merge(new: list[Any]) -> Any:
        it = iter(new)
        return jax.tree_util.tree_unflatten(treedef, [next(it) if p else x for p, (_, x) in zip(picks, leaves)])

    return [x for p, (_, x) in zip(picks, leaves) if p], merge


def clipped_gram(grads: list[jax.Array], clip_norm: float) -> tuple[jax.Array, jax.Array]:
    """(Gram [K, K] of the K gradients each clipped to global norm `clip_norm` (0: no clipping), norms [K])."""
    inner = sum(jnp.einsum("kx,jx->kj", g.reshape(g.shape[0], -1), g.reshape(g.shape[0], -1),
                           preferred_element_type=jnp.float32) for g in grads)
    norms = jnp.sqrt(jnp.maximum(jnp.diagonal(inner), 0.0))
    scale = jnp.minimum(1.0, clip_norm / jnp.maximum(norms, 1e-30)) if clip_norm else jnp.ones_like(norms)
    return inner * scale[:, None] * scale[None, :], norms


def fused_update_applies(settings: UpdateSettings) -> bool:
    """Whether the update's loss is linear in the advantages, so its gradient is sum_k w_k g_k."""
    est = get_estimator(settings.estimator)
    return (settings.level == "advantage" and est.post is None and settings.epochs == 1 and settings.minibatches == 1
            and settings.micro_batches == 1)


@functools.partial(jax.jit, static_argnames=("graphdef", "settings", "layers", "clip_norm", "keep_gradients"))
def objective_gradients(params: Any, batch: RolloutBatch, ref_params: Any = None, *, graphdef: nnx.GraphDef,
                        settings: UpdateSettings, layers: Layers = None, clip_norm: float = 1.0,
                        keep_gradients: bool = False) -> ObjectiveGradients:
    """The Gram matrix of the K per-objective gradients at `params` (and, with `keep_gradients`, the gradients
    of every parameter for `apply_objective_gradients`)."""
    adv = objective_advantages(settings.estimator, batch.rewards, settings.group_size, eps=settings.eps,
                               token_counts=token_counts(batch, settings))
    ref = reference_logprobs(graphdef, ref_params, batch, settings)
    mask = batch.completion_mask
    agg = dict(aggregation=settings.aggregation, max_length=settings.max_length or float(mask.shape[1]))
    wrt, merge = partition(params, (lambda path: True) if keep_gradients else (lambda path: in_layers(path, layers)))

    def forward(leaves):
        return completion_logprobs(graphdef, merge(leaves), batch, settings, with_entropy=True)

    logp, pullback, entropy = jax.vjp(forward, wrt, has_aux=True)

    def surrogate(lp, a):  # PPO with clipping disabled
        ratio = jnp.exp(jnp.clip(jnp.where(mask, lp - batch.old_logprobs, 0.0), -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP))
        return aggregate(-a[:, None] * ratio, mask, **agg)

    cotangents = jax.vmap(jax.grad(surrogate), in_axes=(None, 1))(logp, adv)  # [K, N, C]
    if ref is not None:
        kl_cotangent = jax.grad(lambda lp: settings.kl_coef * aggregate(
            kl_divergence(lp, ref, settings.kl_estimator), mask, **agg))(logp)
        cotangents = jnp.concatenate([cotangents, kl_cotangent[None]])
    # One pullback per cotangent, in a loop over the forward pass's residuals. Not `vmap`: XLA:CPU in jaxlib
    # 0.10.2 miscompiles the batched pullback of the RMSNorm (x * sum(x^2) over >= 2048 rows gives wrong
    # gradients for every batch member but the first); the Gram test at 2304 tokens guards this.
    (grads,) = jax.lax.map(pullback, cotangents)  # leaves with a leading axis of K (+1 for the KL term)
    k = adv.shape[1]
    pg, kl = [g[:k] for g in grads], ([g[k] for g in grads] if ref is not None else None)
    with_kl = pg if kl is None else [g + h[None] for g, h in zip(pg, kl)]
    if keep_gradients:
        chosen = [in_layers(path, layers) for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
        gram, norms = clipped_gram([g for g, c in zip(with_kl, chosen) if c], clip_norm)
        forward_pass = {"logp": logp, "entropy": entropy, "adv": adv, "ref": ref}
        return ObjectiveGradients(gram, norms, merge(pg), None if kl is None else merge(kl), forward_pass)
    gram, norms = clipped_gram(with_kl, clip_norm)
    return ObjectiveGradients(gram, norms)


@functools.partial(jax.jit, static_argnames=("settings",), donate_argnames=("state",))
def apply_objective_gradients(state: UpdateState, batch: RolloutBatch, gradients: ObjectiveGradients,
                              weights: jax.Array, *, settings: UpdateSettings
                              ) -> tuple[UpdateState, dict[str, jax.Array]]:
    """The update for a loss linear in the advantages: gradient sum_k w_k g_k (+ KL), one optax step."""
    if weights.ndim != 1:
        raise ValueError(f"the fused update needs weights [K]; got {weights.shape}")
    f = gradients.forward
    grads = jax.tree.map(lambda g: jnp.tensordot(weights.astype(g.dtype), g, axes=1), gradients.grads)
    if gradients.kl_grads is not None:
        grads = jax.tree.map(jnp.add, grads, gradients.kl_grads)
    adv = f["adv"] @ weights
    loss, metrics = loss_and_metrics(settings, f["logp"], f["entropy"], batch.old_logprobs, adv,
                                     batch.completion_mask, f["ref"])
    tx = build_optimizer(settings.optimizer)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    metrics.update(loss=loss, grad_norm=optax.tree.norm(grads), **advantage_metrics(adv))
    metrics.update({f"first_minibatch/{k}": metrics[k] for k in FIRST_MINIBATCH_METRICS})
    return UpdateState(optax.apply_updates(state.params, updates), opt_state), metrics
