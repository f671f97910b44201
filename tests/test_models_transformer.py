"""Transformer forward: padding invariance, KV-cache equivalence, GQA, logical axes, init, output contract."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from morl_jax.models import KVCache, Transformer, get_config, positions_from_mask


def _perturbed(model, seed):
    """The model with noise on every parameter, so zero-initialised biases and unit norm scales matter too."""
    graphdef, state = nnx.split(model)
    leaves, treedef = jax.tree.flatten(state)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    return nnx.merge(graphdef, jax.tree.unflatten(
        treedef, [x + 0.1 * jax.random.normal(k, (x.size,)).reshape(x.shape) for x, k in zip(leaves, keys)]))


@pytest.fixture(scope="module")
def model():
    cfg = get_config("tiny", qkv_bias=True, o_bias=True, qk_norm=True, family="qwen3")
    return _perturbed(Transformer(cfg, rngs=nnx.Rngs(0)), seed=1)


@functools.partial(jax.jit, static_argnums=0)
def _jit_forward(graphdef, state, tokens, mask, positions, cache):
    return nnx.merge(graphdef, state)(tokens, positions, mask, cache)


def _forward(model, tokens, mask, positions=None, cache=None):
    """Jitted forward (eager execution would compile every op separately)."""
    tokens, mask = jnp.asarray(tokens, jnp.int32), jnp.asarray(mask, bool)
    positions = positions_from_mask(mask) if positions is None else jnp.asarray(positions, jnp.int32)
    return _jit_forward(*nnx.split(model), tokens, mask, positions, cache)


def test_positions_from_mask():
    mask = jnp.array([[0, 0, 1, 1, 1], [1, 1, 1, 1, 0]], bool)
    np.testing.assert_array_equal(positions_from_mask(mask), [[0, 0, 0, 1, 2], [0, 1, 2, 3, 3]])


def test_output_shapes_and_hidden_states_feed_the_head(model):
    cfg = model.config
    tokens = np.arange(12).reshape(2, 6) % cfg.vocab_size
    out = _forward(model, tokens, np.ones((2, 6), bool))
    assert out.logits.shape == (2, 6, cfg.vocab_size) and out.logits.dtype == jnp.float32
    assert out.hidden_states.shape == (2, 6, cfg.hidden_size) and out.cache is None
    np.testing.assert_allclose(out.logits, out.hidden_states @ model.lm_head[...].T, atol=1e-5)


def test_left_padding_gives_the_unpadded_logits(model):
    """Left-padded rows equal the same sequences at the start of the row (later tokens cannot affect them:
    causality, tested below), so both layouts share one compiled shape."""
    rng = np.random.default_rng(0)
    width = 9
    rows = [rng.integers(4, 64, n) for n in (7, 1)]
    left, left_mask = np.zeros((2, width), np.int32), np.zeros((2, width), bool)
    right, right_mask = np.zeros((2, width), np.int32), np.zeros((2, width), bool)
    for i, row in enumerate(rows):
        left[i, width - len(row):], left_mask[i, width - len(row):] = row, True
        right[i, :len(row)], right_mask[i] = row, True  # trailing positions hold extra real tokens
        right[i, len(row):] = rng.integers(4, 64, width - len(row))
    padded = _forward(model, left, left_mask).logits
    alone = _forward(model, right, right_mask).logits
    for i, row in enumerate(rows):
        np.testing.assert_allclose(padded[i, width - len(row):], alone[i, :len(row)], atol=2e-5)
    assert np.all(np.isfinite(padded))


def test_attention_is_causal(model):
    tokens = np.array([[5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 15, 16]])
    changed = tokens.copy()
    changed[:, 4:] = [30, 31]
    a = _forward(model, tokens, np.ones_like(tokens, bool)).logits
    b = _forward(model, changed, np.ones_like(tokens, bool)).logits
    np.testing.assert_allclose(a[:, :4], b[:, :4], atol=1e-6)
    assert not np.allclose(a[:, 4:], b[:, 4:])


def test_kv_cache_prefill_then_decode_matches_full_forward(model):
    """Prefill a left-padded batch, then feed one token at a time: logits equal the full forward at every step."""
    rng = np.random.default_rng(1)
    prompt = rng.integers(4, 64, (2, 5)).astype(np.int32)
    prompt_mask = np.array([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]], bool)
    prompt[~prompt_mask] = 0
    new = rng.integers(4, 64, (2, 4)).astype(np.int32)
    full_tokens = np.concatenate([prompt, new], 1)
    full_mask = np.concatenate([prompt_mask, np.ones_like(new, bool)], 1)
    full = _forward(model, full_tokens, full_mask)

    out = _forward(model, prompt, prompt_mask, cache=KVCache.init(model.config, 2, 9))
    np.testing.assert_allclose(out.logits[prompt_mask], full.logits[:, :5][prompt_mask], atol=2e-5)
    cache = out.cache
    next_pos = prompt_mask.sum(1)
    for t in range(new.shape[1]):
        out = _forward(model, new[:, t:t + 1], np.ones((2, 1), bool), (next_pos + t)[:, None], cache)
        cache = out.cache
        np.testing.assert_allclose(out.logits[:, 0], full.logits[:, 5 + t], atol=2e-5)
        np.testing.assert_allclose(out.hidden_states[:, 0], full.hidden_states[:, 5 + t], atol=2e-5)
    assert int(cache.index) == 9 and bool(cache.mask[0, 2:].all()) and not bool(cache.mask[0, :2].any())


def test_grouped_query_attention_equals_multi_head_with_repeated_kv_heads():
    """GQA with 2 KV heads == MHA with 4 KV heads whose k/v weights repeat each group's head."""
    cfg = get_config("tiny", qkv_bias=True)
    gqa = _perturbed(Transformer(cfg, rngs=nnx.Rngs(3)), seed=2)
    graphdef, mha_state = nnx.split(Transformer(cfg.replace(num_kv_heads=cfg.num_heads), rngs=nnx.Rngs(4)))
    gqa_flat = dict(nnx.to_flat_state(nnx.state(gqa)))

    def value(path):
        v = gqa_flat[path][...]
        if path[-1] in ("k", "v"):
            return jnp.repeat(v, cfg.num_groups, axis=1)
        if path[-1] in ("k_bias", "v_bias"):
            return jnp.repeat(v, cfg.num_groups, axis=0)
        return v

    mha = nnx.merge(graphdef, nnx.from_flat_state([(p, var.replace(value(p)))
                                                   for p, var in nnx.to_flat_state(mha_state)]))
    tokens = np.array([[3, 9, 27, 17, 51, 8], [4, 5, 6, 7, 8, 9]])
    mask = np.array([[0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]], bool)
    np.testing.assert_allclose(_forward(gqa, tokens, mask).logits[mask], _forward(mha, tokens, mask).logits[mask],
                               atol=1e-5)


def test_every_parameter_has_logical_axes_matching_its_rank(model):
    allowed = {"vocab", "embed", "heads", "kv", "head_dim", "mlp", "norm"}
    for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        axes = var.get_metadata().get("logical_axes")
        assert axes is not None and len(axes) == var[...].ndim, path
        assert set(axes) <= allowed, (path, axes)


def test_hf_style_init():
    cfg = get_config("tiny")
    state = nnx.state(Transformer(cfg, rngs=nnx.Rngs(0)), nnx.Param)
    flat = {p: v[...] for p, v in nnx.to_flat_state(state)}
    mlp = np.asarray(flat[("layers", 0, "mlp", "gate")])
    assert abs(mlp.std() - cfg.initializer_range) < 0.05 * cfg.initializer_range and abs(mlp.mean()) < 2e-3
    np.testing.assert_array_equal(flat[("norm", "scale")], 1.0)
    other = nnx.state(Transformer(cfg, rngs=nnx.Rngs(0)), nnx.Param)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(other)))


def test_bfloat16_compute_stays_close_to_float32(model):
    cfg16 = model.config.replace(dtype=jnp.bfloat16)
    graphdef, state = nnx.split(model)
    model16 = nnx.merge(nnx.split(Transformer(cfg16, rngs=nnx.Rngs(0)))[0], state)
    tokens, mask = np.array([[4, 9, 12, 40, 33, 7], [5, 6, 7, 8, 9, 10]]), np.ones((2, 6), bool)
    out16 = _forward(model16, tokens, mask)
    assert out16.hidden_states.dtype == jnp.bfloat16 and out16.logits.dtype == jnp.float32
    np.testing.assert_allclose(out16.logits, _forward(model, tokens, mask).logits, atol=0.1)


def test_one_token_mlp_step_equals_the_sequence_path():
    """Decoding's stacked gate/up matmul gives the numbers of the two-matmul path used for sequences."""
    from morl_jax.models.layers import MLP

    mlp = MLP(get_config("tiny"), rngs=nnx.Rngs(3))
    x = jax.random.normal(jax.random.key(0), (4, 3, get_config("tiny").hidden_size))
    steps = jnp.concatenate([mlp(x[:, t:t + 1]) for t in range(3)], axis=1)
    np.testing.assert_allclose(steps, mlp(x), atol=1e-6)
