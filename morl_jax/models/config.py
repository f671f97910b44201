"""Decoder-LM architecture config (Llama / Qwen2 / Qwen3 families), named presets, and HF `config.json` I/O.

One frozen dataclass describes every supported decoder: GQA attention with RoPE (optionally Llama-3 or linear
scaled), SwiGLU MLP, RMSNorm, optional q/k/v(/o) biases (Qwen2) and per-head q/k RMSNorm (Qwen3).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping

import jax.numpy as jnp
import numpy as np

FAMILIES = ("llama", "qwen2", "qwen3")
ROPE_TYPES = ("default", "linear", "llama3")
_ARCHITECTURES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"}
_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}
# What a layer keeps for the backward pass: everything ("none": no rematerialisation), nothing ("full": the layer is
# recomputed from its input), or only matmul results ("dots"; "dots_no_batch": those without batch dimensions,
# i.e. the weight matmuls), the jax.checkpoint_policies of the same names.
REMAT_POLICIES = ("none", "full", "dots", "dots_no_batch")
# The weights LoRA adapters can target: attention projections and MLP matrices.
LORA_TARGETS = ("q", "k", "v", "o", "gate", "up", "down")


@dataclasses.dataclass(frozen=True)
class RopeScaling:
    """RoPE frequency scaling, as in HF `rope_parameters` (`linear`: divide by factor; `llama3`: Llama 3.1)."""

    rope_type: str = "llama3"
    factor: float = 8.0
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_position_embeddings: int = 8192

    def __post_init__(self):
        if self.rope_type not in ("linear", "llama3"):
            raise ValueError(f"RopeScaling.rope_type must be 'linear' or 'llama3', got {self.rope_type!r}")
        if self.factor <= 0:
            raise ValueError(f"RopeScaling.factor must be > 0, got {self.factor}")
        if self.rope_type == "llama3" and not self.high_freq_factor > self.low_freq_factor:
            raise ValueError("RopeScaling: llama3 needs high_freq_factor > low_freq_factor")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Shape and numerics of a decoder-only LM. `dtype` is the compute dtype, `param_dtype` the storage dtype."""

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    head_dim: int | None = None  # None -> hidden_size // num_heads
    max_position_embeddings: int = 2048
    rope_theta: float = 10000.0
    rope_scaling: RopeScaling | None = None
    rms_norm_eps: float = 1e-6
    qkv_bias: bool = False  # Qwen2: True
    o_bias: bool = False
    qk_norm: bool = False  # Qwen3: RMSNorm over head_dim on q and k before RoPE
    tie_embeddings: bool = True
    initializer_range: float = 0.02
    family: str = "llama"  # which HF architecture to export as
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    bos_token_id: int | None = None
    eos_token_id: int | tuple[int, ...] | None = None
    pad_token_id: int | None = None
    # Execution options, not part of the architecture (never written to config.json): the logical-axis rules of the
    # activation sharding constraints (() = morl_jax.parallel.DEFAULT_RULES), rematerialisation of each layer in
    # the backward pass (REMAT_POLICIES), one scanned layer stack instead of a Python loop of layers, and LoRA
    # adapters of rank `lora_rank` (0 = none) scaled by lora_alpha / lora_rank on `lora_targets`.
    sharding_rules: tuple[tuple[str, Any], ...] = ()
    remat: str = "none"
    scan_layers: bool = False
    lora_rank: int = 0
    lora_alpha: float = 16.0
    lora_targets: tuple[str, ...] = LORA_TARGETS

    def __post_init__(self):
        for name in ("vocab_size", "hidden_size", "num_layers", "num_heads", "num_kv_heads", "intermediate_size",
                     "max_position_embeddings"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"ModelConfig.{name} must be a positive int, got {value!r}")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"ModelConfig: num_heads ({self.num_heads}) must be divisible by "
                             f"num_kv_heads ({self.num_kv_heads})")
        if self.head_dim is None:
            if self.hidden_size % self.num_heads:
                raise ValueError(f"ModelConfig: hidden_size ({self.hidden_size}) is not divisible by num_heads "
                                 f"({self.num_heads}); set head_dim explicitly")
            object.__setattr__(self, "head_dim", self.hidden_size // self.num_heads)
        if self.head_dim <= 0 or self.head_dim % 2:
            raise ValueError(f"ModelConfig.head_dim must be a positive even int (RoPE rotates pairs), "
                             f"got {self.head_dim}")
        if self.family not in FAMILIES:
            raise ValueError(f"ModelConfig.family must be one of {FAMILIES}, got {self.family!r}")
        if self.rope_theta <= 0 or self.rms_norm_eps <= 0 or self.initializer_range <= 0:
            raise ValueError("ModelConfig: rope_theta, rms_norm_eps and initializer_range must be > 0")
        if isinstance(self.rope_scaling, Mapping):
            object.__setattr__(self, "rope_scaling", RopeScaling(**self.rope_scaling))
        if isinstance(self.eos_token_id, list):
            object.__setattr__(self, "eos_token_id", tuple(self.eos_token_id))
        if self.remat not in REMAT_POLICIES:
            raise ValueError(f"ModelConfig.remat must be one of {REMAT_POLICIES}, got {self.remat!r}")
        if not isinstance(self.lora_rank, (int, np.integer)) or self.lora_rank < 0:
            raise ValueError(f"ModelConfig.lora_rank must be an int >= 0, got {self.lora_rank!r}")
        object.__setattr__(self, "lora_targets", tuple(self.lora_targets))
        unknown = sorted(set(self.lora_targets) - set(LORA_TARGETS))
        if unknown or not self.lora_targets:
            raise ValueError(f"ModelConfig.lora_targets must be a non-empty subset of {LORA_TARGETS}, got "
                             f"{self.lora_targets!r}")
        object.__setattr__(self, "sharding_rules", tuple((str(k), tuple(v) if isinstance(v, list) else v)
                                                         for k, v in self.sharding_rules))
        object.__setattr__(self, "dtype", _as_dtype(self.dtype))
        object.__setattr__(self, "param_dtype", _as_dtype(self.param_dtype))

    @property
    def num_groups(self) -> int:
        """Query heads per KV head (GQA group size)."""
        return self.num_heads // self.num_kv_heads

    def replace(self, **overrides: Any) -> ModelConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **overrides)

    def num_params(self) -> int:
        """Parameter count (embedding counted once when tied)."""
        d, h, kv, hd, f = self.hidden_size, self.num_heads, self.num_kv_heads, self.head_dim, self.intermediate_size
        attn = d * h * hd * 2 + d * kv * hd * 2
        attn += (h * hd + 2 * kv * hd) * self.qkv_bias + d * self.o_bias + 2 * hd * self.qk_norm
        layer = attn + 3 * d * f + 2 * d
        head = 0 if self.tie_embeddings else self.vocab_size * d
        return self.vocab_size * d + self.num_layers * layer + d + head

    def rope_inv_freq(self) -> np.ndarray:
        """RoPE inverse frequencies [head_dim // 2] in float32, computed exactly as transformers does."""
        dim = self.head_dim
        inv_freq = (1.0 / (self.rope_theta ** (np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / dim)))
        inv_freq = inv_freq.astype(np.float32)
        scaling = self.rope_scaling
        if scaling is None:
            return inv_freq
        if scaling.rope_type == "linear":
            return (inv_freq / np.float32(scaling.factor)).astype(np.float32)
        old_len = scaling.original_max_position_embeddings
        low_wavelen = old_len / scaling.low_freq_factor
        high_wavelen = old_len / scaling.high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        scaled = np.where(wavelen > low_wavelen, inv_freq / scaling.factor, inv_freq)
        smooth = (old_len / wavelen - scaling.low_freq_factor) / (scaling.high_freq_factor - scaling.low_freq_factor)
        smoothed = (1 - smooth) * scaled / scaling.factor + smooth * scaled
        medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
        return np.where(medium, smoothed, scaled).astype(np.float32)

    # ---------------------------------------------------------------- Hugging Face config.json
    @classmethod
    def from_hf(cls, hf: Mapping[str, Any], **overrides: Any) -> ModelConfig:
        """Build from a Hugging Face `config.json` dict (llama / qwen2 / qwen3; transformers 4 or 5 layout)."""
        family = hf.get("model_type")
        if family not in FAMILIES:
            raise ValueError(f"from_hf: unsupported model_type {family!r}; supported: {FAMILIES}")
        if hf.get("hidden_act", "silu") != "silu":
            raise ValueError(f"from_hf: only hidden_act='silu' (SwiGLU) is supported, got {hf['hidden_act']!r}")
        if hf.get("mlp_bias"):
            raise ValueError("from_hf: mlp_bias=True is not supported")
        if hf.get("use_sliding_window"):
            raise ValueError("from_hf: sliding-window attention (use_sliding_window=True) is not supported")
        rope = dict(hf.get("rope_parameters") or hf.get("rope_scaling") or {})
        rope_theta = float(rope.get("rope_theta", hf.get("rope_theta", 10000.0)))
        rope_type = rope.get("rope_type", rope.get("type", "default"))
        if rope_type not in ROPE_TYPES:
            raise ValueError(f"from_hf: rope_type {rope_type!r} is not supported; supported: {ROPE_TYPES}")
        scaling = None
        if rope_type == "linear":
            scaling = RopeScaling(rope_type="linear", factor=float(rope["factor"]))
        elif rope_type == "llama3":
            scaling = RopeScaling(
                rope_type="llama3", factor=float(rope["factor"]), low_freq_factor=float(rope["low_freq_factor"]),
                high_freq_factor=float(rope["high_freq_factor"]),
                original_max_position_embeddings=int(rope.get("original_max_position_embeddings",
                                                              hf["max_position_embeddings"])))
        attention_bias = bool(hf.get("attention_bias", False))
        num_heads = int(hf["num_attention_heads"])
        fields = dict(
            vocab_size=int(hf["vocab_size"]), hidden_size=int(hf["hidden_size"]),
            num_layers=int(hf["num_hidden_layers"]), num_heads=num_heads,
            num_kv_heads=int(hf.get("num_key_value_heads") or num_heads),
            intermediate_size=int(hf["intermediate_size"]), head_dim=hf.get("head_dim"),
            max_position_embeddings=int(hf.get("max_position_embeddings", 2048)), rope_theta=rope_theta,
            rope_scaling=scaling, rms_norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
            qkv_bias=True if family == "qwen2" else attention_bias,
            o_bias=False if family == "qwen2" else attention_bias,
            qk_norm=family == "qwen3", tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
            initializer_range=float(hf.get("initializer_range", 0.02)), family=family,
            bos_token_id=hf.get("bos_token_id"), eos_token_id=hf.get("eos_token_id"),
            pad_token_id=hf.get("pad_token_id"),
        )
        stored = hf.get("dtype", hf.get("torch_dtype"))
        if stored in _DTYPES and "param_dtype" not in overrides:
            fields["param_dtype"] = _DTYPES[stored]
        fields.update(overrides)
        return cls(**fields)

    def to_hf(self) -> dict[str, Any]:
        """The Hugging Face `config.json` dict (transformers 5 layout) for this architecture."""
        valid = {"llama": not self.qk_norm and self.o_bias == self.qkv_bias,
                 "qwen2": not self.qk_norm and self.qkv_bias and not self.o_bias,
                 "qwen3": self.qk_norm and self.o_bias == self.qkv_bias}[self.family]
        if not valid:
            raise ValueError(f"to_hf: family {self.family!r} cannot express qkv_bias={self.qkv_bias}, "
                             f"o_bias={self.o_bias}, qk_norm={self.qk_norm}")
        rope: dict[str, Any] = {"rope_type": "default", "rope_theta": self.rope_theta}
        if self.rope_scaling is not None:
            rope.update(dataclasses.asdict(self.rope_scaling))
            if self.rope_scaling.rope_type == "linear":
                rope = {"rope_type": "linear", "rope_theta": self.rope_theta, "factor": self.rope_scaling.factor}
        hf: dict[str, Any] = {
            "architectures": [_ARCHITECTURES[self.family]], "model_type": self.family,
            "vocab_size": self.vocab_size, "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size, "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads, "num_key_value_heads": self.num_kv_heads,
            "head_dim": self.head_dim, "hidden_act": "silu", "max_position_embeddings": self.max_position_embeddings,
            "rms_norm_eps": self.rms_norm_eps, "rope_parameters": rope,
            "tie_word_embeddings": self.tie_embeddings, "initializer_range": self.initializer_range,
            "attention_dropout": 0.0, "use_cache": True, "dtype": jnp.dtype(self.param_dtype).name,
            "bos_token_id": self.bos_token_id, "pad_token_id": self.pad_token_id,
            "eos_token_id": list(self.eos_token_id) if isinstance(self.eos_token_id, tuple) else self.eos_token_id,
        }
        if self.family == "qwen2":
            hf["use_sliding_window"] = False
        else:
            hf["attention_bias"] = self.qkv_bias
        if self.family == "llama":
            hf["mlp_bias"] = False
        return hf


def _as_dtype(dtype: Any) -> Any:
    if isinstance(dtype, str):
        if dtype not in _DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; known: {sorted(_DTYPES)}")
        return _DTYPES[dtype]
    return jnp.dtype(dtype).type


# -------------------------------------------------------------------- presets
_PRESETS: dict[str, Callable[[], ModelConfig]] = {
    # Fast unit tests: GQA (4 query heads over 2 KV heads), untied head.
    "tiny": lambda: ModelConfig(
        vocab_size=64, hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2, intermediate_size=64,
        max_position_embeddings=128, tie_embeddings=False, bos_token_id=2, eos_token_id=1, pad_token_id=0),
    # The peer workload's Qwen2 (configs/peer.py, size=tiny): 500,864 parameters in float32.
    "peer-qwen2": lambda: ModelConfig(
        vocab_size=64, hidden_size=128, num_layers=2, num_heads=4, num_kv_heads=2, head_dim=32,
        intermediate_size=512, max_position_embeddings=128, rope_theta=10000.0, rms_norm_eps=1e-6, qkv_bias=True,
        tie_embeddings=True, family="qwen2", bos_token_id=2, eos_token_id=1, pad_token_id=0),
    # The peer workload at the larger benchmark size (configs/peer.py, size=small): the same character vocabulary,
    # a Qwen2 shape of 30.5 M parameters.
    "peer-qwen2-small": lambda: ModelConfig(
        vocab_size=64, hidden_size=512, num_layers=8, num_heads=8, num_kv_heads=2, head_dim=64,
        intermediate_size=2048, max_position_embeddings=256, rope_theta=10000.0, rms_norm_eps=1e-6, qkv_bias=True,
        tie_embeddings=True, family="qwen2", bos_token_id=2, eos_token_id=1, pad_token_id=0),
    # CPU default policy for the built-in arithmetic task (character vocabulary): ~0.6M parameters.
    "arith-cpu": lambda: ModelConfig(
        vocab_size=64, hidden_size=128, num_layers=3, num_heads=4, num_kv_heads=2, head_dim=32,
        intermediate_size=384, max_position_embeddings=256, rms_norm_eps=1e-6, tie_embeddings=True,
        family="llama", bos_token_id=2, eos_token_id=1, pad_token_id=0),
    # Published configs (config.json on the Hugging Face hub).
    "smollm2-135m": lambda: ModelConfig(
        vocab_size=49152, hidden_size=576, num_layers=30, num_heads=9, num_kv_heads=3, head_dim=64,
        intermediate_size=1536, max_position_embeddings=8192, rope_theta=100000.0, rms_norm_eps=1e-5,
        tie_embeddings=True, initializer_range=0.041666666666666664, family="llama", bos_token_id=0,
        eos_token_id=0),
    "qwen2.5-0.5b": lambda: ModelConfig(
        vocab_size=151936, hidden_size=896, num_layers=24, num_heads=14, num_kv_heads=2, head_dim=64,
        intermediate_size=4864, max_position_embeddings=32768, rope_theta=1000000.0, rms_norm_eps=1e-6,
        qkv_bias=True, tie_embeddings=True, family="qwen2", bos_token_id=151643, eos_token_id=151643),
    "qwen3-0.6b": lambda: ModelConfig(
        vocab_size=151936, hidden_size=1024, num_layers=28, num_heads=16, num_kv_heads=8, head_dim=128,
        intermediate_size=3072, max_position_embeddings=40960, rope_theta=1000000.0, rms_norm_eps=1e-6,
        qk_norm=True, tie_embeddings=True, family="qwen3", bos_token_id=151643, eos_token_id=151645),
    # The dynamic-weighting paper's main policy (configs/math500.py) and the CTWA / GDPO / SAW 1.5B scale.
    "qwen3-8b": lambda: ModelConfig(
        vocab_size=151936, hidden_size=4096, num_layers=36, num_heads=32, num_kv_heads=8, head_dim=128,
        intermediate_size=12288, max_position_embeddings=40960, rope_theta=1000000.0, rms_norm_eps=1e-6,
        qk_norm=True, tie_embeddings=False, family="qwen3", bos_token_id=151643, eos_token_id=151645),
    "qwen2.5-1.5b": lambda: ModelConfig(
        vocab_size=151936, hidden_size=1536, num_layers=28, num_heads=12, num_kv_heads=2, head_dim=128,
        intermediate_size=8960, max_position_embeddings=131072, rope_theta=1000000.0, rms_norm_eps=1e-6,
        qkv_bias=True, tie_embeddings=True, family="qwen2", bos_token_id=151643, eos_token_id=151643),
    "qwen2.5-1.5b-instruct": lambda: ModelConfig(
        vocab_size=151936, hidden_size=1536, num_layers=28, num_heads=12, num_kv_heads=2, head_dim=128,
        intermediate_size=8960, max_position_embeddings=32768, rope_theta=1000000.0, rms_norm_eps=1e-6,
        qkv_bias=True, tie_embeddings=True, family="qwen2", bos_token_id=151643, eos_token_id=151645),
    "llama-3.2-1b": lambda: ModelConfig(
        vocab_size=128256, hidden_size=2048, num_layers=16, num_heads=32, num_kv_heads=8, head_dim=64,
        intermediate_size=8192, max_position_embeddings=131072, rope_theta=500000.0,
        rope_scaling=RopeScaling("llama3", factor=32.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                 original_max_position_embeddings=8192),
        rms_norm_eps=1e-5, tie_embeddings=True, family="llama", bos_token_id=128000, eos_token_id=128001),
}


def config_names() -> list[str]:
    """Names accepted by `get_config`."""
    return sorted(_PRESETS)


def get_config(name: str, **overrides: Any) -> ModelConfig:
    """A named preset, with optional field overrides (e.g. `get_config("tiny", num_layers=4)`)."""
    if name not in _PRESETS:
        raise KeyError(f"unknown model config {name!r}; known: {config_names()}")
    return _PRESETS[name]().replace(**overrides) if overrides else _PRESETS[name]()


def register_config(name: str, factory: Callable[[], ModelConfig]) -> None:
    """Add a named preset (error if the name is taken)."""
    if name in _PRESETS:
        raise ValueError(f"model config {name!r} is already registered")
    _PRESETS[name] = factory
