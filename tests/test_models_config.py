"""ModelConfig: validation, presets, parameter counts, HF config round trips and RoPE frequencies."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from morl_jax.models import ModelConfig, RopeScaling, Transformer, config_names, get_config, register_config

REAL_PRESETS = ["smollm2-135m", "qwen2.5-0.5b", "qwen3-0.6b", "llama-3.2-1b"]


def _count(config):
    """Parameters of the model this config builds (shapes only: nothing is initialised)."""
    abstract = nnx.eval_shape(lambda: Transformer(config, rngs=nnx.Rngs(0)))
    return sum(x.size for x in jax.tree.leaves(nnx.state(abstract, nnx.Param)))


def test_peer_qwen2_matches_the_peer_workload_exactly():
    cfg = get_config("peer-qwen2")
    assert (cfg.vocab_size, cfg.hidden_size, cfg.num_layers, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim,
            cfg.intermediate_size, cfg.max_position_embeddings) == (64, 128, 2, 4, 2, 32, 512, 128)
    assert cfg.qkv_bias and not cfg.o_bias and cfg.tie_embeddings and cfg.rms_norm_eps == 1e-6
    assert cfg.rope_theta == 10000.0 and cfg.dtype == jnp.float32 and cfg.family == "qwen2"
    assert _count(cfg) == cfg.num_params() == 500_864


@pytest.mark.parametrize("name", ["tiny", "arith-cpu"])
def test_small_presets_count_what_they_build(name):
    cfg = get_config(name)
    assert _count(cfg) == cfg.num_params()
    assert cfg.vocab_size == 64 and cfg.num_kv_heads < cfg.num_heads


def test_arith_cpu_is_a_small_llama():
    cfg = get_config("arith-cpu")
    assert cfg.family == "llama" and cfg.max_position_embeddings == 256
    assert 400_000 <= cfg.num_params() <= 800_000


def test_num_params_counts_untied_heads_qk_norm_and_biases():
    cfg = get_config("tiny", qk_norm=True, qkv_bias=True, o_bias=True, tie_embeddings=False, family="qwen3")
    assert _count(cfg) == cfg.num_params()


def test_unknown_preset_lists_known_names():
    with pytest.raises(KeyError, match="peer-qwen2"):
        get_config("nope")
    assert {"tiny", "peer-qwen2", "arith-cpu", *REAL_PRESETS} <= set(config_names())


def test_overrides_and_registration():
    assert get_config("tiny", num_layers=3).num_layers == 3
    register_config("tiny-test-registered", lambda: get_config("tiny", hidden_size=48))
    assert get_config("tiny-test-registered").hidden_size == 48
    with pytest.raises(ValueError, match="already registered"):
        register_config("tiny", lambda: get_config("tiny"))


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_heads=4, num_kv_heads=3), "divisible by num_kv_heads"),
    (dict(hidden_size=30, num_heads=4), "set head_dim"),
    (dict(head_dim=7), "even"),
    (dict(vocab_size=0), "vocab_size"),
    (dict(family="gpt2"), "family"),
    (dict(dtype="float8"), "unknown dtype"),
])
def test_validation_errors(kwargs, message):
    base = dict(vocab_size=64, hidden_size=32, num_layers=1, num_heads=4, num_kv_heads=2, intermediate_size=64)
    with pytest.raises(ValueError, match=message):
        ModelConfig(**{**base, **kwargs})


def test_rope_scaling_validation_and_dict_form():
    with pytest.raises(ValueError, match="rope_type"):
        RopeScaling(rope_type="yarn")
    cfg = get_config("tiny", rope_scaling={"rope_type": "linear", "factor": 2.0})
    assert isinstance(cfg.rope_scaling, RopeScaling)
    np.testing.assert_allclose(cfg.rope_inv_freq(), get_config("tiny").rope_inv_freq() / 2, rtol=1e-6)


@pytest.mark.parametrize("name", ["tiny", "peer-qwen2", "arith-cpu", *REAL_PRESETS])
def test_hf_config_round_trip(name):
    cfg = get_config(name)
    assert ModelConfig.from_hf(cfg.to_hf()) == cfg


def test_from_hf_reads_transformers4_layout_and_rejects_unsupported():
    hf = get_config("llama-3.2-1b").to_hf()
    rope = hf.pop("rope_parameters")
    legacy = {**hf, "rope_theta": rope.pop("rope_theta"), "rope_scaling": rope}
    assert ModelConfig.from_hf(legacy) == get_config("llama-3.2-1b")
    with pytest.raises(ValueError, match="model_type"):
        ModelConfig.from_hf({**hf, "model_type": "gpt2"})
    with pytest.raises(ValueError, match="rope_type"):
        ModelConfig.from_hf({**hf, "rope_parameters": {"rope_type": "yarn", "factor": 4.0}})
    with pytest.raises(ValueError, match="sliding"):
        ModelConfig.from_hf({**get_config("peer-qwen2").to_hf(), "use_sliding_window": True})


def test_to_hf_rejects_what_the_family_cannot_express():
    with pytest.raises(ValueError, match="cannot express"):
        get_config("tiny", qk_norm=True).to_hf()


# ---------------------------------------------------------------- against transformers (optional)
@pytest.mark.parametrize("name", REAL_PRESETS + ["peer-qwen2", "arith-cpu"])
def test_parameter_counts_match_transformers(name):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    cfg = get_config(name)
    hf_config = transformers.AutoConfig.for_model(**cfg.to_hf())
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(hf_config)
    assert sum(p.numel() for p in model.parameters()) == cfg.num_params()


@pytest.mark.parametrize("name", ["llama-3.2-1b", "smollm2-135m", "qwen3-0.6b"])
def test_rope_frequencies_match_transformers(name):
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    cfg = get_config(name)
    hf_config = transformers.AutoConfig.for_model(**cfg.to_hf())
    rope_type = hf_config.rope_parameters["rope_type"]
    if rope_type == "default":
        dim = cfg.head_dim
        import torch

        base = hf_config.rope_parameters["rope_theta"]
        expected = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    else:
        expected, _ = ROPE_INIT_FUNCTIONS[rope_type](hf_config, None)
    np.testing.assert_allclose(cfg.rope_inv_freq(), expected.numpy(), rtol=1e-6)
