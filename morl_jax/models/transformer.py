"""The decoder-only policy LM (`Transformer`), its KV cache and output types.

Call contract: `model(tokens [B,T] int32, positions [B,T] int32, attention_mask [B,T] bool, cache=None)`.
Attention is causal and ignores keys whose mask is False, so a left-padded row gives the same logits on its real
tokens as the unpadded sequence (with `positions = positions_from_mask(mask)`). With a `KVCache`, the T new tokens
are written at slots [cache.index, cache.index + T) and attend to every valid earlier slot: one code path serves
prefill (T = prompt length) and decoding (T = 1).

Memory levers (`ModelConfig`): `remat` recomputes each layer in the backward pass under a `jax.checkpoint` policy;
`scan_layers` stores the layers' parameters stacked on a leading `layers` axis (`blocks`) and runs them as one
`lax.scan` (one compiled layer instead of L), with the same numbers as the loop of layers. Decoding with a KV cache
runs the layers in a Python loop either way (each layer's cache is updated in place, and nothing is kept for a
backward pass). Hidden states and logits carry activation sharding constraints (`parallel.constrain`) under a mesh.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx, struct

from morl_jax.models.config import ModelConfig
from morl_jax.models.layers import Block, RMSNorm, normal_param, rope_tables
from morl_jax.parallel.sharding import DEFAULT_RULES, constrain

_REMAT = {"full": jax.checkpoint_policies.nothing_saveable, "dots": jax.checkpoint_policies.checkpoint_dots,
          "dots_no_batch": jax.checkpoint_policies.dots_with_no_batch_dims_saveable}
HIDDEN_AXES = ("batch", "length", "act_embed")
LOGIT_AXES = ("batch", "length", "vocab")


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
        layers = [Block(config, rngs=rngs) for _ in range(config.num_layers)]
        if config.scan_layers:
            self.blocks = stack_blocks(layers)
        else:
            self.layers = nnx.List(layers)
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps, dtype=config.dtype, param_dtype=pd,
                            frozen=bool(config.lora_rank))
        if not config.tie_embeddings:
            self.lm_head = normal_param(rngs, (config.vocab_size, config.hidden_size), ("vocab", "embed"), std, pd)

    @property
    def rules(self) -> tuple:
        """The logical-axis rules of the activation constraints."""
        return self.config.sharding_rules or DEFAULT_RULES

    def _frozen(self, w: jax.Array) -> jax.Array:
        return jax.lax.stop_gradient(w) if self.config.lora_rank else w

    def head_weight(self) -> jax.Array:
        """The output projection [V, D] (the embedding when tied)."""
        return self._frozen((self.embed if self.config.tie_embeddings else self.lm_head)[...])

    def layer(self, i: int) -> Block:
        """Layer i (a view of the i-th slice of the stacked parameters when the layers are scanned)."""
        if not self.config.scan_layers:
            return self.layers[i]
        graphdef, state = nnx.split(self.blocks)
        return nnx.merge(graphdef, jax.tree.map(lambda x: x[i], state))

    def _layers(self, x: jax.Array, cos: jax.Array, sin: jax.Array, mask: jax.Array) -> jax.Array:
        """Every layer without a cache (training and scoring passes): a loop or one scan, each layer rematerialised
        in the backward pass under the configured policy."""
        c = self.config
        if c.remat == "none" and not c.scan_layers:
            for layer in self.layers:
                x = constrain(layer(x, cos, sin, mask, None, 0)[0], HIDDEN_AXES, self.rules)
            return x

        def apply(graphdef, state, x):
            return constrain(nnx.merge(graphdef, state)(x, cos, sin, mask, None, 0)[0], HIDDEN_AXES, self.rules)

        if c.remat != "none":
            apply = jax.checkpoint(apply, policy=_REMAT[c.remat], static_argnums=(0,))
        if not c.scan_layers:
            for layer in self.layers:
                x = apply(*nnx.split(layer), x)
            return x
        graphdef, stacked = nnx.split(self.blocks)
        x, _ = jax.lax.scan(lambda h, state: (apply(graphdef, state, h), None), x, stacked)
        return x

    def backbone(self, tokens: jax.Array, positions: jax.Array, attention_mask: jax.Array,
                 cache: KVCache | None = None) -> tuple[jax.Array, KVCache | None]:
        """Final-norm hidden states [B, T, D] and the updated cache, without the LM head."""
        c = self.config
        t = tokens.shape[1]
        x = constrain(jnp.take(self._frozen(self.embed[...]), tokens, axis=0).astype(c.dtype), HIDDEN_AXES, self.rules)
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
        if cache is None:
            return constrain(self.norm(self._layers(x, cos, sin, mask)), HIDDEN_AXES, self.rules), None
        new_keys, new_values = [], []
        for i in range(c.num_layers):
            x, (k, v) = self.layer(i)(x, cos, sin, mask, (cache.keys[i], cache.values[i]), index)
            x = constrain(x, HIDDEN_AXES, self.rules)
            new_keys.append(k)
            new_values.append(v)
        cache = KVCache(tuple(new_keys), tuple(new_values), key_valid, cache.index + t)
        return constrain(self.norm(x), HIDDEN_AXES, self.rules), cache

    def logits(self, hidden: jax.Array) -> jax.Array:
        """LM head: hidden [..., D] -> float32 logits [..., V]."""
        w = self.head_weight().astype(self.config.dtype)
        flat = hidden.reshape(-1, hidden.shape[-1])
        logits = jnp.einsum("nd,vd->nv", flat, w, preferred_element_type=jnp.float32)
        logits = logits.reshape(hidden.shape[:-1] + (w.shape[0],))
        return constrain(logits, LOGIT_AXES, self.rules) if logits.ndim == 3 else logits

    def __call__(self, tokens: jax.Array, positions: jax.Array, attention_mask: jax.Array,
                 cache: KVCache | None = None) -> ModelOutput:
        hidden, cache = self.backbone(tokens, positions, attention_mask, cache)
        return ModelOutput(logits=self.logits(hidden), hidden_states=hidden, cache=cache)


def stack_blocks(blocks: list[Block]) -> Block:
    """One Block whose parameters are those of `blocks` stacked on a leading axis (logical axis `layers`)."""
    graphdef, first = nnx.split(blocks[0])
    states = [first] + [nnx.split(b)[1] for b in blocks[1:]]

    def stack(*variables):
        axes = variables[0].get_metadata().get("logical_axes")
        stacked = variables[0].replace(jnp.stack([v.get_value() for v in variables]))
        return stacked if axes is None else stacked.replace(logical_axes=("layers",) + tuple(axes))

    return nnx.merge(graphdef, jax.tree.map(stack, *states, is_leaf=lambda x: isinstance(x, nnx.Variable)))
