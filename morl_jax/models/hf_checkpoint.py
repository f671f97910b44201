"""Hugging Face checkpoint directories <-> `Transformer`: `config.json` + `*.safetensors` (single file or sharded
with `model.safetensors.index.json`), read and written with `safetensors.numpy` (no torch at run time).

HF linear weights are [out, in]; ours are [in, out] and split per head for attention, so the mapping below
transposes and reshapes each tensor both ways. A model with a scanned layer stack stores layer i's tensors at index
i of its stacked parameters; LoRA adapters are not in HF checkpoints: loading initialises them (B = 0, so the
loaded model computes what the checkpoint does), saving merges them into the weights (W + alpha / r A B).
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Iterator

import jax
import numpy as np
from flax import nnx
from safetensors import safe_open
from safetensors.numpy import save_file

from morl_jax.models.config import ModelConfig
from morl_jax.models.transformer import Transformer

_SINGLE_FILE = "model.safetensors"
_INDEX_FILE = "model.safetensors.index.json"
_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)

Path = tuple[Any, ...]
Convert = Callable[[np.ndarray], np.ndarray]


def _identity(x: np.ndarray) -> np.ndarray:
    return x


def tensor_map(config: ModelConfig) -> list[tuple[Path, str, Convert, Convert]]:
    """(our state path, HF tensor name, hf->ours, ours->hf) for every parameter of `config`."""
    d, h, kv, hd = config.hidden_size, config.num_heads, config.num_kv_heads, config.head_dim

    def heads_in(n: int) -> tuple[Convert, Convert]:  # HF [n*hd, D]  <->  ours [D, n, hd]
        return (lambda w: w.T.reshape(d, n, hd)), (lambda w: w.reshape(d, n * hd).T)

    def bias_in(n: int) -> tuple[Convert, Convert]:  # HF [n*hd]  <->  ours [n, hd]
        return (lambda b: b.reshape(n, hd)), (lambda b: b.reshape(n * hd))

    out_proj = ((lambda w: w.T.reshape(h, hd, d)), (lambda w: w.reshape(h * hd, d).T))
    transpose = ((lambda w: w.T), (lambda w: w.T))
    same = (_identity, _identity)

    entries: list[tuple[Path, str, tuple[Convert, Convert]]] = [(("embed",), "model.embed_tokens.weight", same)]
    for i in range(config.num_layers):
        hf, ours = f"model.layers.{i}", ("layers", i)
        entries += [
            (ours + ("input_norm", "scale"), f"{hf}.input_layernorm.weight", same),
            (ours + ("post_attn_norm", "scale"), f"{hf}.post_attention_layernorm.weight", same),
            (ours + ("attn", "q"), f"{hf}.self_attn.q_proj.weight", heads_in(h)),
            (ours + ("attn", "k"), f"{hf}.self_attn.k_proj.weight", heads_in(kv)),
            (ours + ("attn", "v"), f"{hf}.self_attn.v_proj.weight", heads_in(kv)),
            (ours + ("attn", "o"), f"{hf}.self_attn.o_proj.weight", out_proj),
            (ours + ("mlp", "gate"), f"{hf}.mlp.gate_proj.weight", transpose),
            (ours + ("mlp", "up"), f"{hf}.mlp.up_proj.weight", transpose),
            (ours + ("mlp", "down"), f"{hf}.mlp.down_proj.weight", transpose),
        ]
        if config.qkv_bias:
            entries += [
                (ours + ("attn", "q_bias"), f"{hf}.self_attn.q_proj.bias", bias_in(h)),
                (ours + ("attn", "k_bias"), f"{hf}.self_attn.k_proj.bias", bias_in(kv)),
                (ours + ("attn", "v_bias"), f"{hf}.self_attn.v_proj.bias", bias_in(kv)),
            ]
        if config.o_bias:
            entries.append((ours + ("attn", "o_bias"), f"{hf}.self_attn.o_proj.bias", same))
        if config.qk_norm:
            entries += [
                (ours + ("attn", "q_norm", "scale"), f"{hf}.self_attn.q_norm.weight", same),
                (ours + ("attn", "k_norm", "scale"), f"{hf}.self_attn.k_norm.weight", same),
            ]
    entries.append((("norm", "scale"), "model.norm.weight", same))
    if not config.tie_embeddings:
        entries.append((("lm_head",), "lm_head.weight", same))
    return [(path, name, conv[0], conv[1]) for path, name, conv in entries]


def _tensor_files(path: str) -> dict[str, str]:
    """HF tensor name -> safetensors file holding it."""
    index = os.path.join(path, _INDEX_FILE)
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        return {name: os.path.join(path, file) for name, file in weight_map.items()}
    single = os.path.join(path, _SINGLE_FILE)
    if not os.path.exists(single):
        raise FileNotFoundError(f"no {_SINGLE_FILE} or {_INDEX_FILE} in {path!r}")
    with safe_open(single, framework="np") as f:
        return {name: single for name in f.keys()}


def _read_tensors(files: dict[str, str], names: list[str]) -> Iterator[tuple[str, np.ndarray]]:
    by_file: dict[str, list[str]] = {}
    for name in names:
        by_file.setdefault(files[name], []).append(name)
    for file, file_names in by_file.items():
        with safe_open(file, framework="np") as f:
            for name in file_names:
                yield name, f.get_tensor(name)


def load_config(path: str, **overrides: Any) -> ModelConfig:
    """`ModelConfig` from `path/config.json` (field overrides such as dtype/param_dtype applied)."""
    with open(os.path.join(path, "config.json")) as f:
        return ModelConfig.from_hf(json.load(f), **overrides)


def _adapters(config: ModelConfig, seed: int, shardings: Any) -> nnx.State:
    """The LoRA parameters a fresh `Transformer(config, rngs=nnx.Rngs(seed))` would have, in `shardings` (one jit:
    XLA drops the rest of the initialisation, whose results are unused)."""
    return jax.jit(lambda: nnx.state(Transformer(config, rngs=nnx.Rngs(seed)), nnx.LoRAParam),
                   out_shardings=shardings)()


def from_pretrained(path: str, *, dtype: Any = None, param_dtype: Any = None,
                    shardings: Callable[[nnx.State], Any] | None = None, config: ModelConfig | None = None,
                    seed: int = 0) -> Transformer:
    """Load a HF model directory into a `Transformer`.

    `dtype` is the compute dtype (default float32), `param_dtype` the storage dtype (default: the checkpoint's).
    `shardings(abstract_state) -> NamedSharding tree` places every tensor directly on its devices
    (e.g. `lambda s: morl_jax.parallel.state_shardings(s, mesh)`): each tensor is read on the host and only its
    shards are transferred, on every process of a multi-host run. `config` replaces the directory's config.json
    (e.g. with execution options: scanned layers, remat, LoRA); LoRA adapters are initialised from `seed`.
    """
    if config is None:
        overrides = {k: v for k, v in (("dtype", dtype), ("param_dtype", param_dtype)) if v is not None}
        config = load_config(path, **overrides)
    abstract = nnx.eval_shape(lambda: Transformer(config, rngs=nnx.Rngs(0)))
    graphdef, abstract_state = nnx.split(abstract)
    target = shardings(abstract_state) if shardings is not None else None

    files = _tensor_files(path)
    mapping = tensor_map(config)
    known = {name for _, name, _, _ in mapping}
    missing = sorted(known - set(files))
    if missing:
        raise ValueError(f"{path}: checkpoint lacks tensors {missing[:8]}{' ...' if len(missing) > 8 else ''}")
    tied_head = {"lm_head.weight"} if config.tie_embeddings else set()
    unexpected = sorted(n for n in set(files) - known - tied_head if not n.endswith(_IGNORED_SUFFIXES))
    if unexpected:
        raise ValueError(f"{path}: unexpected tensors for a {config.family} model: {unexpected[:8]}")

    by_name = {name: (p, to_ours) for p, name, to_ours, _ in mapping}
    flat_abstract = dict(nnx.to_flat_state(abstract_state))
    flat_target = dict(nnx.to_flat_state(target)) if target is not None else {}

    def place(p: Path, array: np.ndarray) -> jax.Array:
        sharding = flat_target.get(p)
        if isinstance(sharding, nnx.Variable):
            sharding = sharding.get_value()
        return jax.device_put(array.astype(flat_abstract[p].dtype), sharding)

    values: dict[Path, jax.Array] = {}
    pending: dict[Path, dict[int, np.ndarray]] = {}  # scanned layers: a stacked parameter's layers read so far
    for name, tensor in _read_tensors(files, sorted(known)):
        p, to_ours = by_name[name]
        stacked = config.scan_layers and p[0] == "layers"
        expected = flat_abstract[("blocks",) + p[2:]].get_value().shape[1:] if stacked else flat_abstract[p].shape
        try:
            array = np.ascontiguousarray(to_ours(tensor))
        except ValueError:  # a reshape that cannot work: the shapes disagree
            array = tensor
        if array.shape != expected:
            raise ValueError(f"{path}: tensor {name} has shape {tensor.shape}, which does not fit "
                             f"{'/'.join(map(str, p))} {expected} of the config")
        if not stacked:
            values[p] = place(p, array)
            continue
        layers = pending.setdefault(("blocks",) + p[2:], {})
        layers[p[1]] = array
        if len(layers) == config.num_layers:
            values[("blocks",) + p[2:]] = place(("blocks",) + p[2:], np.stack([layers[i] for i in range(len(layers))]))
            del pending[("blocks",) + p[2:]]
    if config.lora_rank:
        lora_target = None if target is None else nnx.state(target, nnx.LoRAParam)
        values.update((p, v.get_value()) for p, v in nnx.to_flat_state(_adapters(config, seed, lora_target)))

    state = nnx.from_flat_state([(p, var.replace(values[p])) for p, var in nnx.to_flat_state(abstract_state)])
    return nnx.merge(graphdef, state)


def export_tensors(model: Transformer) -> dict[Path, np.ndarray]:
    """Host copies of the parameters under the unscanned paths of `tensor_map`, LoRA adapters merged."""
    config = model.config
    flat = {p: np.asarray(jax.device_get(v[...])) for p, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}
    if config.scan_layers:
        flat = {**{p: v for p, v in flat.items() if p[0] != "blocks"},
                **{("layers", i) + p[1:]: v[i] for p, v in flat.items() if p[0] == "blocks"
                   for i in range(config.num_layers)}}
    scale = config.lora_alpha / max(config.lora_rank, 1)
    for p in [p for p in flat if p[-1] == "lora_a"]:
        weight = p[:-2] + (p[-2].removesuffix("_lora"),)
        delta = flat.pop(p).astype(np.float32) @ flat.pop(p[:-1] + ("lora_b",)).astype(np.float32)
        flat[weight] = (flat[weight].astype(np.float32) + scale * delta.reshape(flat[weight].shape)
                        ).astype(flat[weight].dtype)
    return flat


def save_pretrained(model: Transformer, path: str, *, max_shard_bytes: int = 5 * 2**30) -> None:
    """Write `config.json` and safetensors (sharded with an index once larger than `max_shard_bytes`)."""
    config = model.config
    os.makedirs(path, exist_ok=True)
    flat = export_tensors(model)
    tensors = {name: np.ascontiguousarray(to_hf(flat[p])) for p, name, _, to_hf in tensor_map(config)}
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config.to_hf(), f, indent=2)
    metadata = {"format": "pt"}
    shards: list[dict[str, np.ndarray]] = [{}]
    size = 0
    for name, tensor in tensors.items():
        if shards[-1] and size + tensor.nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = tensor
        size += tensor.nbytes
    stale = [os.path.join(path, n) for n in os.listdir(path) if n.endswith(".safetensors") or n == _INDEX_FILE]
    for file in stale:
        os.remove(file)
    if len(shards) == 1:
        save_file(shards[0], os.path.join(path, _SINGLE_FILE), metadata=metadata)
        return
    weight_map = {}
    for i, shard in enumerate(shards):
        file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, os.path.join(path, file), metadata=metadata)
        weight_map.update({name: file for name in shard})
    index = {"metadata": {"total_size": sum(t.nbytes for t in tensors.values())}, "weight_map": weight_map}
    with open(os.path.join(path, _INDEX_FILE), "w") as f:
        json.dump(index, f, indent=2)

