"""On 8 fake CPU devices (in a subprocess): the RL update sharded over (data, fsdp, tensor) meshes of several shapes
equals the one-device update within float tolerance, and parameters, optimizer moments and the batch are laid out
as the logical-axis rules say (including rules changed in the config)."""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    import os
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    import jax, jax.numpy as jnp, numpy as np
    from flax import nnx
    from jax.sharding import NamedSharding, PartitionSpec as P
    from morl_jax import models, parallel
    from morl_jax.optimizers import OptimizerSettings, build_optimizer
    from morl_jax.rl.step import RolloutBatch, UpdateSettings, UpdateState, completion_logprobs, update

    assert jax.device_count() == 8
    N, PL, C = 16, 4, 6
    rng = np.random.default_rng(1)
    completion_mask = np.ones((N, C), bool)
    completion_mask[2, 3:] = completion_mask[7, 1:] = False
    batch = RolloutBatch(rng.integers(4, 64, (N, PL + C)).astype(np.int32),
                         np.concatenate([np.ones((N, PL), bool), completion_mask], 1), completion_mask,
                         rng.normal(-2.0, 0.2, (N, C)).astype(np.float32), rng.integers(0, 2, (N, 3)).astype(np.float32))
    weights = jnp.array([0.5, 0.25, 0.25])
    settings = UpdateSettings(optimizer=OptimizerSettings(learning_rate=1e-2, eps=1e-3), group_size=4, epochs=1,
                              minibatches=2, micro_batches=2, temperature=0.9)
    tx = build_optimizer(settings.optimizer)

    def run(config, mesh=None, rules=parallel.DEFAULT_RULES):
        graphdef, params = nnx.split(models.Transformer(config, rngs=nnx.Rngs(0)))
        if mesh is None:
            state, data = UpdateState(params, tx.init(params)), batch
            return graphdef, update(state, data, weights, jax.random.key(3), graphdef=graphdef, settings=settings)
        with jax.set_mesh(mesh):
            params = parallel.shard_state(params, mesh, rules)
            state = UpdateState(params, parallel.init_optimizer_state(tx, params, mesh))
            data = parallel.put_batch(batch, mesh, rules)
            for name, x in zip(data._fields, data):
                assert x.sharding.spec == EXPECTED_BATCH[shape], (shape, name, x.sharding.spec)
            return graphdef, update(state, data, weights, jax.random.key(3), graphdef=graphdef, settings=settings)

    base = models.get_config("tiny", hidden_size=64, num_heads=8, num_kv_heads=8, intermediate_size=128)
    _, (want, want_metrics) = run(base)
    want_flat = dict(nnx.to_flat_state(want.params))
    # (mesh shape, rule changes) -> expected specs of a few parameters ([D, F] gate, [V, D] embedding, [D, H, hd] q)
    CASES = {
        ((8, 1, 1), ()): (P(None, None), P(None, None), P(None, None, None)),
        ((2, 4, 1), ()): (P("fsdp", None), P(None, "fsdp"), P("fsdp", None, None)),
        ((2, 2, 2), ()): (P("fsdp", "tensor"), P("tensor", "fsdp"), P("fsdp", "tensor", None)),
        ((1, 1, 8), ()): (P(None, "tensor"), P("tensor", None), P(None, "tensor", None)),
        ((2, 2, 2), (("embed", None), ("mlp", ("fsdp", "tensor")), ("batch", "data"))):
            (P(None, ("fsdp", "tensor")), P("tensor", None), P(None, "tensor", None)),
    }
    EXPECTED_BATCH = {(8, 1, 1): P("data", None), (2, 4, 1): P(("data", "fsdp"), None),
                      (2, 2, 2): P(("data", "fsdp"), None), (1, 1, 8): P(None, None)}
    for (shape, changes), (gate_spec, embed_spec, q_spec) in CASES.items():
        rules = parallel.rules_from_config(dict(changes))
        if changes:
            EXPECTED_BATCH[shape] = P("data", None)
        mesh = parallel.make_mesh(dict(zip(("data", "fsdp", "tensor"), shape)))
        _, (got, metrics) = run(base.replace(sharding_rules=rules), mesh, rules)
        flat = dict(nnx.to_flat_state(got.params))
        for path, spec in ((("layers", 0, "mlp", "gate"), gate_spec), (("embed",), embed_spec),
                           (("layers", 1, "attn", "q"), q_spec)):
            value = flat[path].get_value()
            assert value.sharding.is_equivalent_to(NamedSharding(mesh, spec), value.ndim), (
                shape, changes, path, value.sharding.spec)
        mu = dict(nnx.to_flat_state(got.opt_state[1][0].mu))[("layers", 0, "mlp", "gate")].get_value()
        assert mu.sharding.is_equivalent_to(NamedSharding(mesh, gate_spec), 2), (shape, "moment", mu.sharding.spec)
        for path, value in want_flat.items():
            np.testing.assert_allclose(flat[path].get_value(), value.get_value(), rtol=2e-4, atol=2e-5,
                                       err_msg=f"{shape} {changes} {path}")
        for name in ("loss", "grad_norm", "approx_kl", "entropy"):
            np.testing.assert_allclose(metrics[name], want_metrics[name], rtol=1e-3, atol=1e-6, err_msg=name)
        print("MESH_OK", shape, changes, flush=True)
    print("ALL_MESHES_OK")
''')


def test_sharded_rl_step_equals_the_one_device_step_on_several_meshes():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0 and "ALL_MESHES_OK" in result.stdout, result.stdout[-2000:] + result.stderr[-4000:]
