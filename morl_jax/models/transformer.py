"""The decoder-only policy LM (`Transformer`), its KV cache and output types.

Call contract: `model(tokens [B,T] int32, positions [B,T] int32, attention_mask [B,T] bool, cache=None)`.
Attention is causal and ignores keys whose mask is False, so a left-padded row gives the same logits on its real
tokens as the unpadded sequence (with `positions = positions_from_mask(mask)`). With a `KVCache`, the T new tokens
are written at slots [cache.index, cache.index + T) and attend to every valid earlier slot: one code path serves
prefill (T = prompt length) and decoding (T = 1).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx, struct

from morl_jax.models.config import ModelConfig
from morl_jax.models.layers import Block, RMSNorm, normal_param, rope_tables


def positions_from_mask(attention_mask: jax.Array) -> jax.Array:
    """RoPE positions for (left- or right-) padded rows: cumsum(mask) - 1, clipped at 0 for leading pads."""
    return jnp.maximum(jnp.cumsum(attention_mask.astype(jnp.int32), axis=-1) - 1, 0)


@struct.dataclass
class KVCache:
    """Pre-allocated keys [B, KV, hd, S] and values [B, KV, S, hd] per layer, slot validity mask [B, S], and the
    next write slot `index`."""

    keys: tuple[jax.Array, ...]
    values: tuple[jax.Array, ...]
    mask: jax.Array
    index: jax.Array

    @classmethod
    def init(cls, config: ModelConfig, batch_size: int, length: int, dtype=None) -> KVCache:
        """An empty cache holding `length` slots (prompt + new tokens)."""
        dtype = dtype or config.dtype
        kv, hd, n = config.num_kv_heads, config.head_dim, config.num_layers
        keys = tuple(jnp.zeros((batch_size, kv, hd, length), dtype) for _ in range(n))
        values = tuple(jnp.zeros((batch_size, kv, length, hd), dtype) for _ in range(n))
        return cls(keys, values, jnp.zeros((batch_size, length), jnp.bool_), jnp.zeros((), jnp.int32))

    @property
    def length(self) -> int:
        return self.mask.shape[1]


@struct.dataclass
class ModelOutput:
    """logits [B, T, V] (float32), hidden_states [B, T, D] (after the final norm), cache (or None)."""

    logits: jax.Array
    hidden_states: jax.Array
    cache: KVCache | None = None


class Transformer(nnx.Module):
    """Llama / Qwen2 / Qwen3 decoder. Embedding [V, D] (`vocab`, `embed`); an untied head is stored [V, D] too."""

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        self.config = config
        std, pd = config.initializer_range, config.param_dtype
        self.embed = normal_param(rngs, (config.vocab_size, config.hidden_size), ("vocab", "embed"), std, pd)
        self.layers = nnx.List([Block(config, rngs=rngs) for _ in range(config.num_layers)])
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps, dtype=config.dtype, param_dtype=pd)
        if not config.tie_embeddings:
            self.lm_head = normal_param(rngs, (config.vocab_size, config.hidden_size), ("vocab", "embed"), std, pd)

    def head_weight(self) -> jax.Array:
        """The output projection [V, D] (the embedding when tied)."""
        return (self.embed if self.config.tie_embeddings else self.lm_head)[...]

    def backbone(self, tokens: jax.Array, positions: jax.Array, attention_mask: jax.Array,
                 cache: KVCache | None = None) -> tuple[jax.Array, KVCache | None]:
        """Final-norm hidden states [B, T, D] and the updated cache, without the LM head."""
        c = self.config
        t = tokens.shape[1]
        x = jnp.take(self.embed[...], tokens, axis=0).astype(c.dtype)
        cos, sin = rope_tables(positions, c)
        attention_mask = attention_mask.astype(jnp.bool_)
        if cache is None:
            index = 0
            key_valid = attention_mask
            query_slots = jnp.arange(t)
        else:
            index = cache.index
            key_valid = jax.lax.dynamic_update_slice_in_dim(cache.mask, attention_mask, index, axis=1)
            query_slots = index + jnp.arange(t)
        key_slots = jnp.arange(key_valid.shape[1])
        mask = key_valid[:, None, :] & (key_slots[None, :] <= query_slots[:, None])[None]
        new_keys, new_values = [], []
        for i, layer in enumerate(self.layers):
            layer_cache = None if cache is None else (cache.keys[i], cache.values[i])
            x, layer_cache = layer(x, cos, sin, mask, layer_cache, index)
            if cache is not None:
                new_keys.append(layer_cache[0])
                new_values.append(layer_cache[1])
        hidden = self.norm(x)
        if cache is not None:
            cache = KVCache(tuple(new_keys), tuple(new_values), key_valid, cache.index + t)
        return hidden, cache

    def logits(self, hidden: jax.Array) -> jax.Array:
        """LM head: hidden [..., D] -> float32 logits [..., V]."""
        w = self.head_weight().astype(self.config.dtype)
        flat = hidden.reshape(-1, hidden.shape[-1])
        logits = jnp.einsum("nd,vd->nv", flat, w, preferred_element_type=jnp.float32)
        return logits.reshape(hidden.shape[:-1] + (w.shape[0],))

    def __call__(self, tokens: jax.Array, positions: jax.Array, attention_mask: jax.Array,
                 cache: KVCache | None = None) -> ModelOutput:
        hidden, cache = self.backbone(tokens, positions, attention_mask, cache)
        return ModelOutput(logits=self.logits(hidden), hidden_states=hidden, cache=cache)
