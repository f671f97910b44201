"""save_pretrained / from_pretrained round trips (single file and sharded), tensor layout, and error paths."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from safetensors.numpy import load_file, save_file

from morl_jax.models import Transformer, from_pretrained, get_config, load_config, save_pretrained
from morl_jax.models.hf_checkpoint import tensor_map


def _params(model):
    return {p: np.asarray(v[...]) for p, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}


@pytest.mark.parametrize("overrides", [dict(), dict(qkv_bias=True, family="qwen2", tie_embeddings=True),
                                       dict(qk_norm=True, family="qwen3")])
def test_round_trip_restores_every_parameter(tmp_path, overrides):
    model = Transformer(get_config("tiny", **overrides), rngs=nnx.Rngs(0))
    save_pretrained(model, str(tmp_path))
    loaded = from_pretrained(str(tmp_path))
    assert loaded.config == model.config
    original, restored = _params(model), _params(loaded)
    assert original.keys() == restored.keys()
    for path in original:
        np.testing.assert_array_equal(original[path], restored[path], err_msg=str(path))


def test_tensors_use_hf_names_and_layouts(tmp_path):
    cfg = get_config("tiny", qkv_bias=True, family="qwen2")
    model = Transformer(cfg, rngs=nnx.Rngs(0))
    save_pretrained(model, str(tmp_path))
    tensors = load_file(str(tmp_path / "model.safetensors"))
    d, h, kv, hd, f = cfg.hidden_size, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim, cfg.intermediate_size
    assert tensors["model.layers.0.self_attn.q_proj.weight"].shape == (h * hd, d)
    assert tensors["model.layers.1.self_attn.k_proj.bias"].shape == (kv * hd,)
    assert tensors["model.layers.0.self_attn.o_proj.weight"].shape == (d, h * hd)
    assert tensors["model.layers.0.mlp.down_proj.weight"].shape == (d, f)
    assert tensors["lm_head.weight"].shape == (cfg.vocab_size, d)
    # y = x @ W.T in HF must equal our per-head projection.
    x = np.random.default_rng(0).normal(size=(3, d)).astype(np.float32)
    ours = np.einsum("bd,dhk->bhk", x, np.asarray(model.layers[0].attn.q[...])).reshape(3, h * hd)
    np.testing.assert_allclose(x @ tensors["model.layers.0.self_attn.q_proj.weight"].T, ours, atol=1e-6)
    assert len(tensors) == len(tensor_map(cfg))
    assert json.load(open(tmp_path / "config.json"))["model_type"] == "qwen2"


def test_sharded_checkpoint_with_index(tmp_path):
    model = Transformer(get_config("tiny"), rngs=nnx.Rngs(0))
    save_pretrained(model, str(tmp_path), max_shard_bytes=20_000)
    index = json.load(open(tmp_path / "model.safetensors.index.json"))
    files = set(index["weight_map"].values())
    assert len(files) > 1 and not (tmp_path / "model.safetensors").exists()
    loaded = from_pretrained(str(tmp_path))
    for a, b in zip(jax.tree.leaves(nnx.state(model)), jax.tree.leaves(nnx.state(loaded))):
        np.testing.assert_array_equal(a, b)
    save_pretrained(model, str(tmp_path))  # re-saving replaces the shards by one file
    assert sorted(os.listdir(tmp_path)) == ["config.json", "model.safetensors"]


def test_dtype_options(tmp_path):
    save_pretrained(Transformer(get_config("tiny"), rngs=nnx.Rngs(0)), str(tmp_path))
    loaded = from_pretrained(str(tmp_path), dtype=jnp.bfloat16, param_dtype=jnp.bfloat16)
    assert loaded.config.dtype == jnp.bfloat16 and loaded.embed[...].dtype == jnp.bfloat16
    assert load_config(str(tmp_path)).param_dtype == jnp.float32


def test_missing_and_unexpected_tensors_are_reported(tmp_path):
    save_pretrained(Transformer(get_config("tiny"), rngs=nnx.Rngs(0)), str(tmp_path))
    file = str(tmp_path / "model.safetensors")
    tensors = load_file(file)
    save_file({**tensors, "model.layers.0.mlp.extra.weight": np.zeros(2, np.float32)}, file)
    with pytest.raises(ValueError, match="unexpected tensors.*extra"):
        from_pretrained(str(tmp_path))
    del tensors["model.norm.weight"]
    save_file(tensors, file)
    with pytest.raises(ValueError, match="lacks tensors.*model.norm.weight"):
        from_pretrained(str(tmp_path))
    with pytest.raises(FileNotFoundError):
        from_pretrained(str(tmp_path / "nowhere"))


def test_wrong_shape_is_reported(tmp_path):
    save_pretrained(Transformer(get_config("tiny"), rngs=nnx.Rngs(0)), str(tmp_path))
    config = json.load(open(tmp_path / "config.json"))
    json.dump({**config, "intermediate_size": 96}, open(tmp_path / "config.json", "w"))
    with pytest.raises(ValueError, match=r"mlp\.\w+_proj\.weight has shape"):
        from_pretrained(str(tmp_path))
    json.dump({**config, "num_attention_heads": 2, "num_key_value_heads": 1}, open(tmp_path / "config.json", "w"))
    with pytest.raises(ValueError, match=r"self_attn\.\w_proj\.weight has shape"):
        from_pretrained(str(tmp_path))
