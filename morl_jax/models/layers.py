"""Transformer building blocks in flax.nnx: RMSNorm, rotary embeddings, GQA attention with a KV cache, SwiGLU MLP.

Every parameter is an `nnx.Param` carrying `logical_axes` metadata (`embed`, `heads`, `kv`, `head_dim`, `mlp`,
`vocab`, `norm`), which `morl_jax.parallel` maps to mesh axes. Numerics follow transformers: norms in float32,
attention scores and softmax in float32, RoPE with the "rotate half" layout.

With `config.lora_rank > 0` every targeted weight W gets a flax `nnx.LoRA` adapter (A [in, r] He-uniform, B [r, out]
zeros, both `nnx.LoRAParam`), y = x W + (alpha / r) x A B, and W is frozen (its gradient is stopped), so only the
adapters train; at initialisation B = 0 and the model computes exactly what the base model does.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from morl_jax.models.config import ModelConfig


def normal_param(rngs: nnx.Rngs, shape: tuple[int, ...], axes: tuple[str, ...], std: float, dtype: Any) -> nnx.Param:
    """A parameter drawn from N(0, std^2) (the Hugging Face init) with logical axis names.

    Drawn flat and reshaped: eager random kernels compile per shape, and 1-D ones compile several times faster.
    """
    flat = jax.random.normal(rngs.params(), (math.prod(shape),), jnp.float32)
    return nnx.Param((std * flat).reshape(shape).astype(dtype), logical_axes=axes)


def dense(x: jax.Array, w: jax.Array, in_dims: int = 1) -> jax.Array:
    """Contract x [..., K] with the leading `in_dims` axes of w (their sizes multiply to K) as one 2-D matmul.

    XLA:CPU differentiates a 2-D matmul about 2.5x faster than the same contraction written over [B, T, K]
    activations (the 3-D form transposes the activation gradient before the weight-gradient matmul).
    """
    k = x.shape[-1]
    out = x.reshape(-1, k) @ w.reshape(k, -1)
    return out.reshape(x.shape[:-1] + w.shape[in_dims:])


def zeros_param(shape: tuple[int, ...], axes: tuple[str, ...], dtype: Any) -> nnx.Param:
    return nnx.Param(jnp.zeros(shape, dtype), logical_axes=axes)


class Adapted(nnx.Module):
    """Base for modules whose weights may carry LoRA adapters (`config.lora_rank`, `config.lora_targets`)."""

    config: ModelConfig

    def add_adapters(self, sizes: dict[str, tuple[int, int]], rngs: nnx.Rngs) -> None:
        """A `{name}_lora` adapter of (in, out) features for each targeted weight name in `sizes`."""
        c = self.config
        for name, (n_in, n_out) in sizes.items():
            if c.lora_rank and name in c.lora_targets:
                setattr(self, f"{name}_lora", nnx.LoRA(n_in, c.lora_rank, n_out, dtype=c.dtype,
                                                       param_dtype=c.param_dtype, rngs=rngs))

    def weight(self, name: str) -> jax.Array:
        """A weight in the compute dtype, frozen (no gradient) when the model trains LoRA adapters."""
        w = getattr(self, name)[...].astype(self.config.dtype)
        return jax.lax.stop_gradient(w) if self.config.lora_rank else w

    def adapted(self, name: str, x: jax.Array, y: jax.Array) -> jax.Array:
        """y (= x @ weight `name`, any output shape) plus the adapter's (alpha / r) x A B when it has one."""
        lora = getattr(self, f"{name}_lora", None)
        if lora is None:
            return y
        delta = lora(x.reshape(x.shape[:2] + (-1,))) * (self.config.lora_alpha / self.config.lora_rank)
        return y + delta.reshape(y.shape).astype(y.dtype)


class RMSNorm(nnx.Module):
    """y = scale * x / sqrt(mean(x^2) + eps), normalised in float32 like transformers' RMSNorm."""

    def __init__(self, dim: int, eps: float, *, dtype: Any, param_dtype: Any, axes: tuple[str, ...] = ("norm",),
                 frozen: bool = False):
        self.scale = nnx.Param(jnp.ones((dim,), param_dtype), logical_axes=axes)
        self.eps = eps
        self.dtype = dtype
        self.frozen = frozen  # no gradient to the scale (a model that trains LoRA adapters only)

    def __call__(self, x: jax.Array) -> jax.Array:
        x32 = x.astype(jnp.float32)
        normed = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.eps)
        scale = self.scale[...].astype(self.dtype)
        return (jax.lax.stop_gradient(scale) if self.frozen else scale) * normed.astype(self.dtype)


def rope_tables(positions: jax.Array, config: ModelConfig) -> tuple[jax.Array, jax.Array]:
    """cos, sin tables [B, T, head_dim] (float32) for integer positions [B, T]."""
    inv_freq = jnp.asarray(config.rope_inv_freq())
    freqs = positions.astype(jnp.float32)[..., None] * inv_freq
    angles = jnp.concatenate([freqs, freqs], axis=-1)
    return jnp.cos(angles), jnp.sin(angles)


def apply_rope(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    """Rotate x [B, T, heads, head_dim] by the position tables (transformers' rotate-half convention)."""
    half = x.shape[-1] // 2
    rotated = jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    cos = cos[:, :, None, :].astype(x.dtype)
    sin = sin[:, :, None, :].astype(x.dtype)
    return x * cos + rotated * sin


class Attention(Adapted):
    """Grouped-query self-attention. Weights are stored per head: q [D, H, hd], k/v [D, KV, hd], o [H, hd, D]."""

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        c, std, pd = config, config.initializer_range, config.param_dtype
        d, h, kv, hd = c.hidden_size, c.num_heads, c.num_kv_heads, c.head_dim
        self.config = config
        self.q = normal_param(rngs, (d, h, hd), ("embed", "heads", "head_dim"), std, pd)
        self.k = normal_param(rngs, (d, kv, hd), ("embed", "kv", "head_dim"), std, pd)
        self.v = normal_param(rngs, (d, kv, hd), ("embed", "kv", "head_dim"), std, pd)
        self.o = normal_param(rngs, (h, hd, d), ("heads", "head_dim", "embed"), std, pd)
        if c.qkv_bias:
            self.q_bias = zeros_param((h, hd), ("heads", "head_dim"), pd)
            self.k_bias = zeros_param((kv, hd), ("kv", "head_dim"), pd)
            self.v_bias = zeros_param((kv, hd), ("kv", "head_dim"), pd)
        if c.o_bias:
            self.o_bias = zeros_param((d,), ("embed",), pd)
        if c.qk_norm:
            frozen = bool(c.lora_rank)
            self.q_norm = RMSNorm(hd, c.rms_norm_eps, dtype=c.dtype, param_dtype=pd, axes=("head_dim",), frozen=frozen)
            self.k_norm = RMSNorm(hd, c.rms_norm_eps, dtype=c.dtype, param_dtype=pd, axes=("head_dim",), frozen=frozen)
        self.add_adapters({"q": (d, h * hd), "k": (d, kv * hd), "v": (d, kv * hd), "o": (h * hd, d)}, rngs)

    def _project(self, x: jax.Array, name: str) -> jax.Array:
        dtype = self.config.dtype
        y = self.adapted(name, x, dense(x, self.weight(name)))
        if self.config.qkv_bias:
            y = y + self.weight(f"{name}_bias").astype(dtype)
        return y

    def __call__(self, x: jax.Array, cos: jax.Array, sin: jax.Array, mask: jax.Array,
                 cache: tuple[jax.Array, jax.Array] | None, index: jax.Array | int
                 ) -> tuple[jax.Array, tuple[jax.Array, jax.Array] | None]:
        """x [B, T, D]; mask [B, T, S] (True = may attend); cache keys [B, KV, hd, S] and values [B, KV, S, hd],
        written at slot `index`.

        Both cache layouts are the ones the two attention contractions consume directly, so decoding never
        transposes the cache (an [S, hd] key layout costs a full-cache transpose per layer per step on CPU).
        """
        c = self.config
        b, t = x.shape[:2]
        q, k, v = self._project(x, "q"), self._project(x, "k"), self._project(x, "v")
        if c.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        k, v = k.transpose(0, 2, 3, 1), v.transpose(0, 2, 1, 3)  # keys [B, KV, hd, T], values [B, KV, T, hd]
        if cache is not None:
            k = jax.lax.dynamic_update_slice_in_dim(cache[0], k.astype(cache[0].dtype), index, axis=3)
            v = jax.lax.dynamic_update_slice_in_dim(cache[1], v.astype(cache[1].dtype), index, axis=2)
            cache = (k, v)
        q = q.reshape(b, t, c.num_kv_heads, c.num_groups, c.head_dim).transpose(0, 2, 3, 1, 4)  # [B, KV, G, T, hd]
        scores = jnp.einsum("bkgth,bkhs->bkgts", q, k.astype(c.dtype), preferred_element_type=jnp.float32)
        scores = scores * (c.head_dim ** -0.5)
        scores = jnp.where(mask[:, None, None], scores, jnp.finfo(jnp.float32).min)
        probs = jax.nn.softmax(scores, axis=-1).astype(c.dtype)
        out = jnp.einsum("bkgts,bksh->bkgth", probs, v.astype(c.dtype))
        out = out.transpose(0, 3, 1, 2, 4).reshape(b, t, c.num_heads * c.head_dim)
        y = self.adapted("o", out, dense(out, self.weight("o"), in_dims=2))
        if c.o_bias:
            y = y + self.weight("o_bias")
        return y, cache


class MLP(Adapted):
    """SwiGLU: down(silu(x @ gate) * (x @ up)).

    A one-token step (decoding) multiplies by gate and up stacked as one [D, 2, F] weight: one matmul of twice the
    width runs faster than two at decoding's few rows (XLA hoists the stacking out of the decode loop).
    """

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        d, f, std, pd = config.hidden_size, config.intermediate_size, config.initializer_range, config.param_dtype
        self.config = config
        self.gate = normal_param(rngs, (d, f), ("embed", "mlp"), std, pd)
        self.up = normal_param(rngs, (d, f), ("embed", "mlp"), std, pd)
        self.down = normal_param(rngs, (f, d), ("mlp", "embed"), std, pd)
        self.add_adapters({"gate": (d, f), "up": (d, f), "down": (f, d)}, rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        if x.shape[1] == 1:
            w = jnp.stack([self.weight("gate"), self.weight("up")], axis=1)
            gate_up = jnp.einsum("btd,dkf->btkf", x, w)
            gate, up = gate_up[:, :, 0], gate_up[:, :, 1]
        else:
            gate, up = dense(x, self.weight("gate")), dense(x, self.weight("up"))
        hidden = jax.nn.silu(self.adapted("gate", x, gate)) * self.adapted("up", x, up)
        return self.adapted("down", hidden, dense(hidden, self.weight("down")))


class Block(nnx.Module):
    """Pre-norm decoder layer: x + attn(norm(x)), then + mlp(norm(x))."""

    def __init__(self, config: ModelConfig, *, rngs: nnx.Rngs):
        kw = dict(dtype=config.dtype, param_dtype=config.param_dtype, frozen=bool(config.lora_rank))
        self.input_norm = RMSNorm(config.hidden_size, config.rms_norm_eps, **kw)
        self.attn = Attention(config, rngs=rngs)
        self.post_attn_norm = RMSNorm(config.hidden_size, config.rms_norm_eps, **kw)
        self.mlp = MLP(config, rngs=rngs)

    def __call__(self, x, cos, sin, mask, cache, index):
        attn_out, cache = self.attn(self.input_norm(x), cos, sin, mask, cache, index)
        x = x + attn_out
        return x + self.mlp(self.post_attn_norm(x)), cache
