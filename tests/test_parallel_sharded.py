"""On 8 fake CPU devices (in a subprocess): a model created sharded over a (data=2, fsdp=2, tensor=2) mesh gives the
same logits, token log-probs, gradients and sampled rollouts as the unsharded model."""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    import os
    os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    import functools
    import jax, jax.numpy as jnp, numpy as np
    from flax import nnx
    from jax.sharding import PartitionSpec as P
    import tempfile
    from morl_jax.models import (Transformer, from_pretrained, generate, get_config, positions_from_mask,
                                 save_pretrained, token_logprobs)
    from morl_jax.parallel import batch_sharding, create_sharded_model, make_mesh, state_shardings

    assert jax.device_count() == 8
    cfg = get_config("tiny", qkv_bias=True, family="qwen2")
    mesh = make_mesh({"data": 2, "fsdp": 2, "tensor": 2})
    sharded = create_sharded_model(lambda: Transformer(cfg, rngs=nnx.Rngs(0)), mesh)
    graphdef, state = nnx.split(sharded)
    reference = nnx.merge(graphdef, jax.device_put(state, jax.devices()[0]))  # the same values on one device

    gate = sharded.layers[0].mlp.gate[...]
    assert gate.sharding.spec == P("fsdp", "tensor"), gate.sharding
    assert gate.addressable_shards[0].data.shape == (cfg.hidden_size // 2, cfg.intermediate_size // 2)
    k = sharded.layers[0].attn.k[...]
    assert k.sharding.is_equivalent_to(jax.sharding.NamedSharding(mesh, P("fsdp", "tensor", None)), k.ndim)
    assert len(reference.layers[0].mlp.gate[...].sharding.device_set) == 1
    with tempfile.TemporaryDirectory() as tmp:  # checkpoint tensors placed straight into their shards
        save_pretrained(reference, tmp)
        loaded = from_pretrained(tmp, shardings=lambda abstract: state_shardings(abstract, mesh))
    assert loaded.layers[1].mlp.down[...].sharding.spec == P("tensor", "fsdp")
    for a, b in zip(jax.tree.leaves(nnx.state(loaded)), jax.tree.leaves(nnx.state(sharded))):
        assert a.sharding.is_equivalent_to(b.sharding, a.ndim)
        np.testing.assert_array_equal(a, b)

    rng = np.random.default_rng(0)
    tokens = rng.integers(3, 64, (8, 12)).astype(np.int32)
    mask = np.ones((8, 12), bool)
    mask[::2, :3] = False
    mask[1::3, 10:] = False
    tokens[~mask] = 0
    data = batch_sharding(mesh, ndim=2)
    assert data.spec == P(("data", "fsdp"), None)
    sharded_inputs = jax.device_put((jnp.asarray(tokens), jnp.asarray(mask)), data)
    inputs = (jnp.asarray(tokens), jnp.asarray(mask))

    @functools.partial(jax.jit, static_argnums=0)
    def outputs(graphdef, state, tokens, mask):
        """Logits, token log-probs, a loss on them and its gradient."""
        def loss(state):
            lp = token_logprobs(nnx.merge(graphdef, state), tokens, mask, start=3, chunk_size=4)
            return jnp.sum(lp * jnp.arange(lp.shape[1])), lp
        logits = nnx.merge(graphdef, state)(tokens, positions_from_mask(mask), mask).logits
        return logits, jax.value_and_grad(loss, has_aux=True)(state)

    with jax.set_mesh(mesh):
        got_logits, ((got_loss, got_lp), got_grads) = outputs(*nnx.split(sharded), *sharded_inputs)
    want_logits, ((want_loss, want_lp), want_grads) = outputs(*nnx.split(reference), *inputs)
    np.testing.assert_allclose(got_logits, want_logits, atol=1e-5)
    np.testing.assert_allclose(got_lp, want_lp, atol=1e-5)
    np.testing.assert_allclose(got_loss, want_loss, rtol=1e-5)
    for g, w in zip(jax.tree.leaves(got_grads), jax.tree.leaves(want_grads)):
        np.testing.assert_allclose(g, w, atol=1e-5)
    grad_gate = dict(nnx.to_flat_state(got_grads))[("layers", 0, "mlp", "gate")].get_value()
    assert len(grad_gate.sharding.device_set) == 8

    prompts = (jnp.asarray(tokens[:, :6]), jnp.asarray(mask[:, :6]))
    options = dict(max_new_tokens=5, eos_id=1, pad_id=0, temperature=0.9, top_k=10)
    with jax.set_mesh(mesh):
        got = generate(*nnx.split(sharded), *jax.device_put(prompts, data), jax.random.key(1), **options)
    want = generate(*nnx.split(reference), *prompts, jax.random.key(1), **options)
    np.testing.assert_array_equal(got.tokens, want.tokens)
    np.testing.assert_allclose(got.logprobs, want.logprobs, atol=1e-5)
    assert len(got.tokens.sharding.device_set) == 8
    print("SHARDED_OK")
''')


def test_sharded_model_matches_unsharded_on_8_fake_devices():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and "SHARDED_OK" in result.stdout, result.stderr[-4000:]
