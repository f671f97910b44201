"""Per-objective gradients from one forward pass: the Gram matrix equals K separate gradient computations, the
layer subset and clipping are honoured, and the fused update's gradient is the update's own gradient."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from morl_jax import models
from morl_jax.optimizers import OptimizerSettings
from morl_jax.rl.advantages import objective_advantages
from morl_jax.rl.losses import policy_loss
from morl_jax.rl.objective_gradients import (apply_objective_gradients, fused_update_applies, in_layers,
                                             objective_gradients)
from morl_jax.rl.step import (RolloutBatch, UpdateSettings, UpdateState, batch_advantages, completion_logprobs,
                              reference_logprobs, update)
from morl_jax.optimizers import build_optimizer

# N * (P + C) >= 2048 tokens: XLA:CPU (jaxlib 0.10.2) miscompiles a vmapped pullback from that size on.
N, P, C, K, G = 16, 8, 136, 3, 4
SETTINGS = UpdateSettings(optimizer=OptimizerSettings(learning_rate=1e-3), estimator="grpo", level="advantage",
                          group_size=G, temperature=0.7, clip_high=0.2)


@pytest.fixture(scope="module")
def setup():
    cfg = models.get_config("tiny", num_layers=3)
    graphdef, params = nnx.split(models.Transformer(cfg, rngs=nnx.Rngs(0)))
    _, ref_params = nnx.split(models.Transformer(cfg, rngs=nnx.Rngs(1)))
    rng = np.random.default_rng(0)
    completion_mask = np.ones((N, C), bool)
    completion_mask[0, 40:] = completion_mask[5, 2:] = completion_mask[9, 100:] = False
    batch = RolloutBatch(jnp.asarray(rng.integers(4, 64, (N, P + C)), jnp.int32),
                         jnp.asarray(np.concatenate([np.ones((N, P), bool), completion_mask], 1)),
                         jnp.asarray(completion_mask), jnp.zeros((N, C)),
                         jnp.asarray(rng.integers(0, 2, (N, K)), jnp.float32))
    # Behaviour log-probs = the policy's own, as after sampling: the ratio is 1 and clipping is inactive.
    batch = batch._replace(old_logprobs=completion_logprobs(graphdef, params, batch, SETTINGS))
    return graphdef, params, ref_params, batch


def naive_gradients(graphdef, params, ref_params, batch, settings, chosen):
    """K separate value-and-grad passes of the update's own loss, one objective's advantages at a time."""
    adv = objective_advantages(settings.estimator, batch.rewards, settings.group_size)
    ref = reference_logprobs(graphdef, ref_params, batch, settings)

    @jax.jit  # one program for the K passes (run op by op, this test compiled ~230 small programs)
    @jax.grad
    def grad(p, objective_adv):
        logp = completion_logprobs(graphdef, p, batch, settings)
        return policy_loss(logp, batch.old_logprobs, objective_adv, batch.completion_mask,
                           clip_low=settings.clip_low, clip_high=settings.clip_high, ref_logprobs=ref,
                           kl_coef=settings.kl_coef, kl_estimator=settings.kl_estimator)[0]

    out = []
    for k in range(K):
        leaves = jax.tree_util.tree_flatten_with_path(grad(params, adv[:, k]))[0]
        out.append(np.concatenate([np.ravel(x) for path, x in leaves if chosen(path)]).astype(np.float64))
    return out


def gram_of(grads, clip):
    norms = np.array([np.linalg.norm(g) for g in grads])
    clipped = [g * (min(1.0, clip / n) if clip else 1.0) for g, n in zip(grads, norms)]
    return np.array([[a @ b for b in clipped] for a in clipped]), norms


@pytest.mark.parametrize("layers, clip, kl_coef", [(None, 1.0, 0.0), ((1, 3), 0.01, 0.0), (None, 0.0, 0.05)])
def test_gram_equals_k_separate_backward_passes(setup, layers, clip, kl_coef):
    graphdef, params, ref_params, batch = setup
    settings = dataclasses.replace(SETTINGS, kl_coef=kl_coef)
    got = objective_gradients(params, batch, ref_params, graphdef=graphdef, settings=settings, layers=layers,
                              clip_norm=clip)
    expected, norms = gram_of(naive_gradients(graphdef, params, ref_params, batch, settings,
                                              lambda path: in_layers(path, layers)), clip)
    np.testing.assert_allclose(got.norms, norms, rtol=1e-5)
    if clip == 0.01:
        assert np.all(norms > clip)  # the clipping is active here
    np.testing.assert_allclose(got.gram, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    assert got.grads is None  # only the Gram matrix leaves the function unless the fused update asks


def test_layer_selection_picks_the_named_transformer_layers(setup):
    _, params, _, _ = setup
    paths = [path for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
    chosen = {jax.tree_util.keystr(p[:2]) for p in paths if in_layers(p, (1, 2))}
    assert chosen == {"['layers'][1]"}
    assert all(in_layers(p, None) for p in paths)
    graphdef, params, _, batch = setup
    with pytest.raises(ValueError, match="matches no parameter"):
        objective_gradients(params, batch, graphdef=graphdef, settings=SETTINGS, layers=(7, 9))


def test_fused_update_uses_the_updates_own_gradient(setup):
    graphdef, params, ref_params, batch = setup
    settings = dataclasses.replace(SETTINGS, kl_coef=0.05)
    weights = jnp.array([0.2, 0.5, 0.3])
    og = objective_gradients(params, batch, ref_params, graphdef=graphdef, settings=settings, layers=(1, 2),
                             keep_gradients=True)
    combined = jax.tree.map(lambda g, h: jnp.tensordot(weights, g, axes=1) + h, og.grads, og.kl_grads)
    adv = batch_advantages(batch, weights, settings)
    ref = reference_logprobs(graphdef, ref_params, batch, settings)

    @jax.jit
    @jax.grad
    def loss(p):
        logp = completion_logprobs(graphdef, p, batch, settings)
        return policy_loss(logp, batch.old_logprobs, adv, batch.completion_mask, clip_high=0.2, ref_logprobs=ref,
                           kl_coef=0.05)[0]

    expected = loss(params)
    for a, b in zip(jax.tree.leaves(combined), jax.tree.leaves(expected)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)
    tx = build_optimizer(settings.optimizer)
    fresh = lambda: UpdateState(jax.tree.map(jnp.copy, params), tx.init(params))  # noqa: E731
    _, fused = apply_objective_gradients(fresh(), batch, og, weights, settings=settings)
    _, plain = update(fresh(), batch, weights, jax.random.PRNGKey(0), ref_params, graphdef=graphdef,
                      settings=settings)
    for key in plain:
        np.testing.assert_allclose(fused[key], plain[key], rtol=1e-5, atol=1e-7, err_msg=key)


def test_fused_update_only_where_the_loss_is_linear_in_the_advantages():
    assert fused_update_applies(SETTINGS)
    assert not fused_update_applies(dataclasses.replace(SETTINGS, level="reward"))
    assert not fused_update_applies(dataclasses.replace(SETTINGS, estimator="gdpo"))  # batch whitening after
    assert not fused_update_applies(dataclasses.replace(SETTINGS, epochs=2))
    assert not fused_update_applies(dataclasses.replace(SETTINGS, minibatches=2))
