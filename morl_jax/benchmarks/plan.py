"""Memory planner: per-device memory of a config's RL run on a device set, before renting one.

    python -m morl_jax.benchmarks.plan --config=configs/math500.py:model=qwen3-8b --devices=8xH100-80GB,v5e-16
    python -m morl_jax.benchmarks.plan --config=configs/arith.py --devices=cpu --config.mesh.shape.fsdp=-1

For each device set the config's mesh (`mesh.shape` x `mesh.dcn`, -1 filled with the set's devices) and
logical-axis rules place the model exactly as a run would (`parallel.state_shardings` over an abstract mesh, so a
rule that does not divide a dimension fails here too). Per device:

* parameters, gradients (of the trained parameters: all, or the LoRA adapters) and optimizer state: exact, from the
  abstract shapes, dtypes and shardings (`jax.eval_shape` of the optimizer's init);
* KV cache of the largest rollout (training: prompts_per_step x group_size rows; validation: num_prompts x
  num_samples), layers x rows x 2 x kv_heads x head_dim x (prompt + new tokens), rows split over the batch axes and
  KV heads over their rule's axes: exact for the cache `models.generate` allocates;
* activations kept for the backward pass of one (micro-)batch of the update, an estimate per layer and token from
  what the layer saves under the `model.remat` policy (inputs of the norms and matmuls, q/k/v, the float32
  attention scores and probabilities [heads x length], the MLP's gate, up and product), plus the chunked LM head
  (at most `models.logprobs.LOGITS_BUDGET` float32 logits at a time, a few live copies).

Real runs also hold XLA's workspace, the KL reference's parameters (a second copy when rl.kl_coef > 0: counted),
fragmentation and the framework's own buffers: leave 10-20 % of the device free.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from typing import Any

import jax
import ml_collections
import numpy as np
from flax import nnx
from jax.sharding import AbstractMesh

from morl_jax import experiment_config, models, parallel
from morl_jax.models.logprobs import LOGITS_BUDGET
from morl_jax.optimizers import build_optimizer
from morl_jax.run_state import trainable

GIB = 2**30
# name -> (devices, memory per device in GiB)
DEVICE_SETS = {
    "8xH100-80GB": (8, 80), "8xA100-80GB": (8, 80), "8xA100-40GB": (8, 40), "v5e-16": (16, 16), "v5e-256": (256, 16),
    "v5p-8": (4, 95), "v4-8": (4, 32), "cpu": (None, None),
}


@dataclasses.dataclass
class Plan:
    """Bytes per device of each part of an RL run on `devices` devices in a `mesh`."""

    devices: int
    mesh: dict[str, int]
    params: int
    reference: int
    grads: int
    optimizer: int
    kv_cache: int
    activations: int

    @property
    def total(self) -> int:
        return self.params + self.reference + self.grads + self.optimizer + self.kv_cache + self.activations


def per_device_bytes(shapes: Any, shardings: Any) -> int:
    """Bytes one device holds of arrays `shapes` (ShapeDtypeStructs or arrays) laid out by `shardings`."""
    total = 0
    for x, sharding in zip(jax.tree.leaves(shapes), jax.tree.leaves(shardings)):
        shard = sharding.shard_shape(tuple(x.shape))
        total += math.prod(shard) * np.dtype(x.dtype).itemsize
    return total


def mesh_for(config: ml_collections.ConfigDict, devices: int) -> AbstractMesh:
    """The config's mesh over `devices` devices, as an abstract mesh (no devices needed)."""
    slices = math.prod(int(v) for v in config.mesh.dcn.values())
    if devices % slices:
        raise ValueError(f"mesh.dcn asks for {slices} slices; {devices} devices do not divide")
    inner = parallel.resolve_mesh_shape(dict(config.mesh.shape), devices // slices)
    sizes = {a: inner[a] * int(config.mesh.dcn[a]) for a in parallel.MESH_AXES}
    return AbstractMesh(tuple(sizes.values()), tuple(sizes))


def _split(size: int, logical: str, mesh: AbstractMesh, rules: Any) -> int:
    """How many ways a dimension of `size` with this logical name is split on `mesh`."""
    spec = parallel.logical_to_spec((logical,), mesh, rules, (size,), strict=False)[0]
    axes = () if spec is None else (spec,) if isinstance(spec, str) else spec
    return math.prod(dict(mesh.shape)[a] for a in axes)


def activation_bytes_per_token(cfg: models.ModelConfig, length: int, mesh: AbstractMesh, rules: Any, remat: str
                               ) -> float:
    """Bytes one layer keeps per token for the backward pass under a remat policy (estimate, see module doc)."""
    dt = np.dtype(cfg.dtype).itemsize
    d, hd, f = cfg.hidden_size, cfg.head_dim, cfg.intermediate_size
    h = cfg.num_heads / _split(cfg.num_heads, "heads", mesh, rules)
    kv = cfg.num_kv_heads / _split(cfg.num_kv_heads, "kv", mesh, rules)
    f = f / _split(f, "mlp", mesh, rules)
    scores = 4 * h * length  # float32 [heads, length] per query token
    if remat == "none":
        return dt * (4 * d + 2 * h * hd + 2 * kv * hd + 4 * f) + 2 * scores
    if remat == "dots":
        return dt * (2 * d + 2 * h * hd + 2 * kv * hd + 2 * f) + scores
    if remat == "dots_no_batch":
        return dt * (2 * d + h * hd + 2 * kv * hd + 2 * f)
    return dt * d  # "full": the layer's input only


def plan(config: ml_collections.ConfigDict, devices: int, prompt_len: int) -> Plan:
    """The memory plan of `config` on `devices` devices with prompts of `prompt_len` tokens."""
    c, rules = config, experiment_config.sharding_rules(config)
    cfg = experiment_config.model_config(c)
    mesh = mesh_for(c, devices)
    abstract = nnx.state(nnx.eval_shape(lambda: models.Transformer(cfg, rngs=nnx.Rngs(0))))
    shardings = parallel.state_shardings(abstract, mesh, rules)
    params = per_device_bytes(abstract, shardings)
    adapters_only = bool(c.model.lora_rank)
    trained = trainable(abstract, adapters_only)
    grads = per_device_bytes(trained, trainable(shardings, adapters_only))
    tx = build_optimizer(experiment_config.update_settings(c).optimizer)
    opt_shapes = jax.eval_shape(tx.init, abstract)
    optimizer = per_device_bytes(opt_shapes, parallel.sharding.optimizer_shardings(opt_shapes, abstract, shardings,
                                                                                    mesh))

    length = prompt_len + c.rl.max_new_tokens
    batch_shards = parallel.batch_shards(mesh, rules)
    rows = max(c.rl.prompts_per_step * c.rl.group_size, c.eval.num_prompts * c.eval.num_samples)
    rows = -(-rows // batch_shards)
    kv_heads = cfg.num_kv_heads / _split(cfg.num_kv_heads, "kv", mesh, rules)
    kv_cache = int(cfg.num_layers * rows * 2 * kv_heads * cfg.head_dim * length * np.dtype(cfg.dtype).itemsize)

    micro_rows = c.rl.prompts_per_step * c.rl.group_size // (c.rl.minibatches * c.rl.micro_batches * batch_shards)
    per_token = activation_bytes_per_token(cfg, length, mesh, rules, cfg.remat)
    stored = cfg.num_layers * micro_rows * length * per_token
    if cfg.remat != "none":  # the backward pass recomputes one layer at a time, holding its activations
        stored += micro_rows * length * activation_bytes_per_token(cfg, length, mesh, rules, "none")
    vocab = cfg.vocab_size / _split(cfg.vocab_size, "vocab", mesh, rules)
    logits = 3 * 4 * min(micro_rows * length * vocab, LOGITS_BUDGET)
    reference = params if c.rl.kl_coef > 0 else 0
    return Plan(devices, dict(mesh.shape), params, reference, grads, optimizer, kv_cache, int(stored + logits))


def table(rows: list[tuple[str, Plan, float | None]], title: str) -> str:
    """A markdown table of plans (GiB per device) with whether each fits its device memory."""
    head = ("| devices | mesh (data, fsdp, tensor) | params | KL ref | grads | optimizer | KV cache | activations | "
            "total | per device | fits |")
    lines = [title, "", head, "| --- | --- |" + " ---: |" * 8 + " --- |"]
    for name, p, memory in rows:
        mesh = ", ".join(str(v) for v in p.mesh.values())
        values = " | ".join(f"{x / GIB:.2f}" for x in (p.params, p.reference, p.grads, p.optimizer, p.kv_cache,
                                                         p.activations, p.total))
        fits = "-" if memory is None else ("yes" if p.total <= 0.85 * memory * GIB else "no")
        lines.append(f"| {name} | {mesh} | {values} | {'-' if memory is None else memory} | {fits} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="configs/NAME.py[:variant]")
    parser.add_argument("--devices", default="8xH100-80GB,v5e-16",
                        help=f"comma-separated device sets: {', '.join(DEVICE_SETS)} (cpu: this machine's devices)")
    parser.add_argument("--prompt_len", type=int, default=0,
                        help="prompt tokens (default: rl.max_prompt_length, else 512)")
    args, rest = parser.parse_known_args(argv)
    overrides = [a.removeprefix("--") for a in rest if a.startswith("--config.")]
    unknown = [a for a in rest if not a.startswith("--config.")]
    if unknown:
        parser.error(f"unknown arguments {unknown}")
    try:
        config = experiment_config.load(args.config, overrides)
        rows = []
        for name in filter(None, args.devices.split(",")):
            if name not in DEVICE_SETS:
                raise ValueError(f"unknown device set {name!r}; known: {', '.join(DEVICE_SETS)}")
            count, memory = DEVICE_SETS[name]
            count = count or jax.device_count()
            rows.append((name, plan(config, count, args.prompt_len or config.rl.max_prompt_length or 512), memory))
    except (experiment_config.ConfigError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    cfg = experiment_config.model_config(config)
    print(table(rows, f"{args.config}: {cfg.num_params() / 1e9:.2f} B parameters ({np.dtype(cfg.param_dtype).name}), "
                      f"remat {cfg.remat}, LoRA rank {cfg.lora_rank}; GiB per device (fits: total <= 85 % of it)"))


if __name__ == "__main__":
    main()
