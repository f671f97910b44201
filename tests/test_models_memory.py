"""Memory levers of the policy: a scanned layer stack and rematerialisation give the numbers of the plain loop of
layers; LoRA adapters start as the base model, are the only parameters with a gradient, and merge on export."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from morl_jax.models import Transformer, from_pretrained, get_config, save_pretrained, token_logprobs

CFG = get_config("tiny", qkv_bias=True, family="qwen2", num_layers=3)
RNG = np.random.default_rng(0)
TOKENS = RNG.integers(3, 64, (4, 10)).astype(np.int32)
MASK = np.ones((4, 10), bool)
MASK[0, :3] = False


def _loss_and_grads(model):
    graphdef, state = nnx.split(model)

    def loss(state):
        return jnp.sum(token_logprobs(nnx.merge(graphdef, state), TOKENS, MASK, start=2) * jnp.arange(7))

    value, grads = jax.jit(jax.value_and_grad(loss))(state)
    return float(value), dict(nnx.to_flat_state(grads))


def _layer(flat, path, i, scanned):
    value = flat[("blocks",) + path].get_value() if scanned else flat[("layers", i) + path].get_value()
    return value[i] if scanned else value


@pytest.fixture(scope="module")
def base():
    model = Transformer(CFG, rngs=nnx.Rngs(0))
    return model, _loss_and_grads(model)


@pytest.mark.parametrize("options", [dict(scan_layers=True), dict(remat="full"), dict(remat="dots_no_batch"),
                                     dict(scan_layers=True, remat="dots")])
def test_scanned_and_rematerialised_layers_give_the_loop_of_layers_numbers(base, options):
    model, (want_loss, want) = base
    other = Transformer(CFG.replace(**options), rngs=nnx.Rngs(0))  # same seed: the same parameter values
    loss, grads = _loss_and_grads(other)
    assert loss == pytest.approx(want_loss, rel=1e-6)
    scanned = options.get("scan_layers", False)
    if scanned:
        stacked = dict(nnx.to_flat_state(nnx.state(other)))[("blocks", "mlp", "gate")]
        assert stacked.get_value().shape == (3, CFG.hidden_size, CFG.intermediate_size)
        assert stacked.get_metadata()["logical_axes"] == ("layers", "embed", "mlp")
    for path in [("mlp", "gate"), ("attn", "q"), ("attn", "k_bias"), ("input_norm", "scale")]:
        for i in range(3):
            np.testing.assert_allclose(_layer(grads, path, i, scanned), _layer(want, path, i, False), rtol=1e-4,
                                       atol=1e-6)
    np.testing.assert_allclose(grads[("embed",)].get_value(), want[("embed",)].get_value(), rtol=1e-4, atol=1e-6)


def test_lora_starts_as_the_base_model_trains_only_adapters_and_merges_on_export(base, tmp_path):
    model, (want_loss, _) = base
    save_pretrained(model, str(tmp_path / "base"))
    lora = from_pretrained(str(tmp_path / "base"), config=CFG.replace(lora_rank=4, scan_layers=True))
    loss, grads = _loss_and_grads(lora)
    assert loss == want_loss  # B = 0: the adapters add exactly nothing
    trained = {p for p, g in grads.items() if np.any(g.get_value() != 0)}
    assert trained and all(p[-1] == "lora_b" for p in trained)  # A's gradient is 0 while B = 0
    assert all(isinstance(v, nnx.LoRAParam) == (p[-1] in ("lora_a", "lora_b"))
               for p, v in nnx.to_flat_state(nnx.state(lora)))
    state = jax.tree.map(lambda v: v.replace(v.get_value() + 0.01) if isinstance(v, nnx.LoRAParam) else v,
                         nnx.state(lora), is_leaf=lambda x: isinstance(x, nnx.Variable))
    nnx.update(lora, state)
    adapted, _ = _loss_and_grads(lora)
    assert adapted != pytest.approx(want_loss, rel=1e-6)
    save_pretrained(lora, str(tmp_path / "merged"))
    merged, _ = _loss_and_grads(from_pretrained(str(tmp_path / "merged")))
    assert merged == pytest.approx(adapted, rel=1e-6)
