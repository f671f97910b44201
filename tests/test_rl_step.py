"""The jit'd update against a hand-written loop: epochs x shuffled minibatches (the scan path), the KL path and
per-sample weights, each compared with policy_loss + optax applied step by step over the same permutation."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from morl_jax import models
from morl_jax.optimizers import OptimizerSettings, build_optimizer
from morl_jax.rl.advantages import advantages
from morl_jax.rl.losses import policy_loss
from morl_jax.rl.step import RolloutBatch, UpdateSettings, UpdateState, completion_logprobs, update

N, P, C, K, G = 8, 4, 6, 2, 4
# A large Adam epsilon: the first Adam steps are ~lr * sign(g), which float noise flips where g is ~0.
SETTINGS = UpdateSettings(optimizer=OptimizerSettings(learning_rate=1e-2, eps=1e-3, grad_clip=0.0), estimator="grpo",
                          group_size=G, temperature=0.8, clip_low=0.2, clip_high=0.28, epochs=2, minibatches=2)


@pytest.fixture(scope="module")
def setup():
    graphdef, params = nnx.split(models.Transformer(models.get_config("tiny"), rngs=nnx.Rngs(0)))
    _, ref_params = nnx.split(models.Transformer(models.get_config("tiny"), rngs=nnx.Rngs(3)))
    rng = np.random.default_rng(1)
    completion_mask = np.ones((N, C), bool)
    completion_mask[2, 3:] = completion_mask[7, 1:] = False
    batch = RolloutBatch(jnp.asarray(rng.integers(4, 64, (N, P + C)), jnp.int32),
                         jnp.asarray(np.concatenate([np.ones((N, P), bool), completion_mask], 1)),
                         jnp.asarray(completion_mask), jnp.zeros((N, C)),
                         jnp.asarray(rng.integers(0, 2, (N, K)), jnp.float32))
    batch = batch._replace(old_logprobs=completion_logprobs(graphdef, params, batch, SETTINGS) - 0.01)
    return graphdef, params, ref_params, batch


def hand_written(graphdef, params, ref_params, batch, weights, key, settings):
    """The update as a plain Python loop: advantages once, then for each epoch a permutation split into
    minibatches, each a policy_loss gradient and one optax step."""
    adv = advantages(settings.estimator, batch.rewards, weights, settings.group_size, level=settings.level)
    ref = None if not settings.kl_coef else completion_logprobs(graphdef, ref_params, batch, settings)
    tx = build_optimizer(settings.optimizer)
    opt_state = tx.init(params)
    size = N // settings.minibatches

    @jax.jit  # one program per minibatch step (run op by op, this test compiled ~350 small programs)
    def step(params, opt_state, mb, mb_adv, mb_ref):
        def loss(p):
            logp = completion_logprobs(graphdef, p, mb, settings)
            return policy_loss(logp, mb.old_logprobs, mb_adv, mb.completion_mask, clip_low=settings.clip_low,
                               clip_high=settings.clip_high, ref_logprobs=mb_ref, kl_coef=settings.kl_coef,
                               kl_estimator=settings.kl_estimator)[0]

        updates, opt_state = tx.update(jax.grad(loss)(params), opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    for epoch_key in jax.random.split(key, settings.epochs):
        perm = np.asarray(jax.random.permutation(epoch_key, N))
        for m in range(settings.minibatches):
            idx = perm[m * size:(m + 1) * size]
            mb = jax.tree.map(lambda x: x[idx], batch)
            params, opt_state = step(params, opt_state, mb, adv[idx], None if ref is None else ref[idx])
    return params


def run_update(graphdef, params, ref_params, batch, weights, key, settings):
    tx = build_optimizer(settings.optimizer)
    state = UpdateState(jax.tree.map(jnp.copy, params), tx.init(params))
    return update(state, batch, weights, key, ref_params, graphdef=graphdef, settings=settings)


@pytest.mark.parametrize("kl_coef, per_sample", [(0.0, False), (0.1, False), (0.0, True)])
def test_scan_over_epochs_and_minibatches_equals_a_hand_written_loop(setup, kl_coef, per_sample):
    graphdef, params, ref_params, batch = setup
    settings = dataclasses.replace(SETTINGS, kl_coef=kl_coef)
    weights = (jnp.asarray(np.random.default_rng(2).dirichlet(np.ones(K), N), jnp.float32) if per_sample
               else jnp.array([0.7, 0.3]))
    key = jax.random.PRNGKey(5)
    state, metrics = run_update(graphdef, params, ref_params, batch, weights, key, settings)
    expected = hand_written(graphdef, params, ref_params, batch, weights, key, settings)
    moved = max(float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(params)))
    assert moved > 1e-3  # four Adam steps at lr 1e-2 move the parameters: the comparison below means something
    for got, want in zip(jax.tree.leaves(state.params), jax.tree.leaves(expected)):
        np.testing.assert_allclose(got, want, atol=1e-6)  # measured: 1.2e-7 (the parameters move 0.037)
    assert ("kl" in metrics) == (kl_coef > 0)


def test_per_sample_weights_that_agree_equal_the_shared_weights(setup):
    graphdef, params, ref_params, batch = setup
    shared, _ = run_update(graphdef, params, ref_params, batch, jnp.array([0.7, 0.3]), jax.random.PRNGKey(5),
                           SETTINGS)
    tiled, _ = run_update(graphdef, params, ref_params, batch, jnp.tile(jnp.array([0.7, 0.3]), (N, 1)),
                          jax.random.PRNGKey(5), SETTINGS)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-7), shared.params, tiled.params)


def test_first_minibatch_sees_the_behaviour_policy(setup):
    graphdef, params, ref_params, batch = setup
    fresh = batch._replace(old_logprobs=completion_logprobs(graphdef, params, batch, SETTINGS))
    _, metrics = run_update(graphdef, params, ref_params, fresh, jnp.array([0.5, 0.5]), jax.random.PRNGKey(0),
                            SETTINGS)
    assert float(metrics["first_minibatch/ratio_max"]) == pytest.approx(1.0, abs=2e-6)
    assert float(metrics["first_minibatch/approx_kl"]) == pytest.approx(0.0, abs=1e-7)
    assert float(metrics["first_minibatch/clip_frac_low"]) == float(metrics["first_minibatch/clip_frac_high"]) == 0
    assert float(metrics["ratio_max"]) > 1.0 + 1e-4  # later minibatches see a moved policy
