"""Gradient accumulation: an update whose minibatches are split into micro-batches takes the same optimizer steps
as the update over whole minibatches (every built-in loss aggregation, uneven completion lengths, epochs x
minibatches), and LoRA-only optimisation leaves every base weight as it was."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from morl_jax import models
from morl_jax.optimizers import OptimizerSettings, build_optimizer
from morl_jax.rl.step import RolloutBatch, UpdateSettings, UpdateState, aggregation_count, update

N, P, C, K, G = 16, 4, 6, 2, 4
SETTINGS = UpdateSettings(optimizer=OptimizerSettings(learning_rate=1e-2, eps=1e-3, grad_clip=1.0), estimator="grpo",
                          group_size=G, temperature=0.8, epochs=1, minibatches=2)


def _batch(graphdef, params):
    rng = np.random.default_rng(1)
    mask = np.ones((N, C), bool)
    mask[2, 3:] = mask[7, 1:] = mask[9, 2:] = False
    mask[12, :] = False  # an empty completion: it counts in no normaliser
    tokens = jnp.asarray(rng.integers(4, 64, (N, P + C)), jnp.int32)
    return RolloutBatch(tokens, jnp.asarray(np.concatenate([np.ones((N, P), bool), mask], 1)), jnp.asarray(mask),
                        jnp.asarray(rng.normal(-2.0, 0.1, (N, C)), jnp.float32),
                        jnp.asarray(rng.integers(0, 2, (N, K)), jnp.float32))


def _run(config, settings):
    graphdef, params = nnx.split(models.Transformer(config, rngs=nnx.Rngs(0)))
    state = UpdateState(params, build_optimizer(settings.optimizer).init(params))
    before = jax.tree.map(jnp.copy, params)
    after, metrics = update(state, _batch(graphdef, params), jnp.array([0.7, 0.3]), jax.random.key(2),
                            graphdef=graphdef, settings=settings)
    return before, after, metrics


@pytest.mark.parametrize("aggregation", ["token-mean", "seq-mean-token-mean"])  # both kinds of normaliser
def test_micro_batches_take_the_same_optimizer_step(aggregation):
    whole = dataclasses.replace(SETTINGS, aggregation=aggregation)
    _, want, want_metrics = _run(models.get_config("tiny"), whole)
    _, got, got_metrics = _run(models.get_config("tiny"), dataclasses.replace(whole, micro_batches=4))
    for a, b in zip(jax.tree.leaves(got.params), jax.tree.leaves(want.params)):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6)
    assert int(got.opt_state[1][0].count) == int(want.opt_state[1][0].count) == 2  # two minibatches, two steps
    for name in ("loss", "pg_loss", "grad_norm"):
        assert float(got_metrics[name]) == pytest.approx(float(want_metrics[name]), rel=1e-4, abs=1e-7), name


def test_aggregation_counts():
    mask = jnp.array([[1, 1, 0], [0, 0, 0], [1, 0, 0]], bool)
    assert float(aggregation_count("token-mean", mask)) == 3.0
    assert float(aggregation_count("seq-mean-token-mean", mask)) == 2.0
    with pytest.raises(ValueError, match="gradient accumulation supports"):
        aggregation_count("my-aggregation", mask)


def test_lora_only_optimisation_changes_only_the_adapters():
    config = models.get_config("tiny", lora_rank=2)
    settings = dataclasses.replace(SETTINGS, optimizer=dataclasses.replace(SETTINGS.optimizer, adapters_only=True))
    before, after, _ = _run(config, settings)
    changed = {path: bool(np.any(np.asarray(a) != np.asarray(b)))
               for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(after.params), jax.tree.leaves(before))}
    assert any(changed.values())
    assert all(("lora_a" in jax.tree_util.keystr(p) or "lora_b" in jax.tree_util.keystr(p)) or not c
               for p, c in changed.items())
    adam_state = [x for x in jax.tree.leaves(after.opt_state) if np.ndim(x) > 0]
    n_adapter = sum(v.get_value().size for _, v in nnx.to_flat_state(nnx.state(
        models.Transformer(config, rngs=nnx.Rngs(0)), nnx.LoRAParam)))
    assert sum(np.size(x) for x in adam_state) == 2 * n_adapter  # moments of the adapters only
