"""Parity with transformers (skipped without torch + transformers): random tiny Llama (Llama-3 rope scaling,
q/k/v/o biases, untied head), Qwen2 (q/k/v bias, tied) and Qwen3 (q/k norm, untied) models saved by transformers and loaded by
morl_jax give the same logits on padded batches and the same greedy generations; our save_pretrained output loads
back into transformers with the same logits."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from morl_jax.models import from_pretrained, generate, positions_from_mask, save_pretrained

COMMON = dict(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, head_dim=16, max_position_embeddings=128, rms_norm_eps=1e-6,
              bos_token_id=2, eos_token_id=1, pad_token_id=0)
FAMILIES = {
    "llama3-untied": lambda transformers: transformers.LlamaConfig(
        **COMMON, tie_word_embeddings=False, attention_bias=True,
        rope_parameters={"rope_type": "llama3", "rope_theta": 10000.0, "factor": 4.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 16}),
    "qwen2-tied": lambda transformers: transformers.Qwen2Config(**COMMON, tie_word_embeddings=True,
                                                   rope_parameters={"rope_type": "default", "rope_theta": 1e4}),
    "qwen3-untied": lambda transformers: transformers.Qwen3Config(**COMMON, tie_word_embeddings=False,
                                                     rope_parameters={"rope_type": "default", "rope_theta": 1e6}),
}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def hf_dir(request, tmp_path_factory, torch, transformers):
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(FAMILIES[request.param](transformers))
    with torch.no_grad():  # perturb everything so zero biases and unit norms are exercised too
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = tmp_path_factory.mktemp(request.param)
    model.save_pretrained(str(path))
    return str(path), model.eval()


def _batch():
    """Left-padded prompts of different lengths."""
    rng = np.random.default_rng(0)
    lengths = [9, 5, 1, 7]
    tokens = np.zeros((4, 9), np.int64)
    mask = np.zeros((4, 9), bool)
    for row, n in enumerate(lengths):
        tokens[row, 9 - n:] = rng.integers(3, 96, n)
        mask[row, 9 - n:] = True
    return tokens, mask


def _hf_logits(torch, model, tokens, mask):
    positions = np.maximum(np.cumsum(mask, 1) - 1, 0)
    with torch.no_grad():
        return model(input_ids=torch.tensor(tokens), attention_mask=torch.tensor(mask.astype(np.int64)),
                     position_ids=torch.tensor(positions)).logits.numpy()


@functools.partial(jax.jit, static_argnums=0)
def _logits(graphdef, state, tokens, mask):
    return nnx.merge(graphdef, state)(tokens, positions_from_mask(mask), mask).logits


def _our_logits(model, tokens, mask):
    return np.asarray(_logits(*nnx.split(model), jnp.asarray(tokens, jnp.int32), jnp.asarray(mask)))


def test_logits_match_on_padded_batches(hf_dir, torch):
    path, hf_model = hf_dir
    tokens, mask = _batch()
    ours = _our_logits(from_pretrained(path), tokens, mask)
    np.testing.assert_allclose(ours[mask], _hf_logits(torch, hf_model, tokens, mask)[mask], atol=1e-4, rtol=0)


def _stopping_ids(torch, hf_model) -> list[int]:
    """EOS ids the model will emit inside the window: tokens that greedy decoding emits at steps 1 to 30 of some
    row and never at step 0 of any row (a random model never emits its configured EOS)."""
    tokens, mask = _batch()
    with torch.no_grad():
        out = hf_model.generate(input_ids=torch.tensor(tokens), attention_mask=torch.tensor(mask.astype(np.int64)),
                                do_sample=False, max_new_tokens=32, eos_token_id=None, pad_token_id=0).numpy()[:, 9:]
    return sorted({int(t) for row in out for t in row[1:31]} - set(out[:, 0].tolist()))


def test_greedy_generations_match_and_stop_at_eos(hf_dir, torch):
    path, hf_model = hf_dir
    eos = _stopping_ids(torch, hf_model)
    tokens, mask = _batch()
    with torch.no_grad():
        ref = hf_model.generate(input_ids=torch.tensor(tokens), attention_mask=torch.tensor(mask.astype(np.int64)),
                                do_sample=False, max_new_tokens=32, eos_token_id=eos, pad_token_id=0).numpy()
    ref = ref[:, tokens.shape[1]:]
    stops = [next((i for i, t in enumerate(row) if t in eos), None) for row in ref]
    # stopping is compared, not only tokens (a random tied model repeats one token per row, so at least one row)
    assert any(s is not None and s < 31 for s in stops), (eos, ref)
    graphdef, state = nnx.split(from_pretrained(path))
    rollout = generate(graphdef, state, jnp.asarray(tokens, jnp.int32), jnp.asarray(mask), jax.random.key(0),
                       max_new_tokens=32, eos_id=eos, pad_id=0, greedy=True)
    ours = np.asarray(rollout.tokens)
    np.testing.assert_array_equal(ours[:, :ref.shape[1]], ref)
    assert np.all(ours[:, ref.shape[1]:] == 0)
    np.testing.assert_array_equal(np.asarray(rollout.lengths), [32 if s is None else s + 1 for s in stops])


def test_our_export_loads_in_transformers_with_the_same_logits(hf_dir, tmp_path, torch, transformers):
    path, _ = hf_dir
    ours = from_pretrained(path)
    save_pretrained(ours, str(tmp_path))
    reloaded = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path), dtype=torch.float32).eval()
    tokens, mask = _batch()
    np.testing.assert_allclose(_our_logits(ours, tokens, mask)[mask], _hf_logits(torch, reloaded, tokens, mask)[mask],
                               atol=1e-4, rtol=0)
