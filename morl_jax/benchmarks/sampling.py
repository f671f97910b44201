"""Sampling throughput: morl_jax `generate` vs transformers `generate` on the same model, batch and lengths.

Both load the same safetensors directory (the peer workload's Qwen2 shape by default, random weights) and
sample `--new-tokens` tokens at temperature 1 for `--batch` prompts of the peer form "a+b=", with EOS disabled
so every row generates the full length in both. Each side runs in its own CPU configurations:

* morl_jax on one CPU device, and data-parallel over `--cpu-devices` CPU devices (default: one per core; the
  batch is sharded over a `data` mesh, so each core decodes its share);
* transformers with torch's default thread count and with one thread (torch's 2 threads slow down sharply when
  the cores are busy with other work).

Runs alternate so machine load affects all alike; the headline ratio is fastest morl_jax vs fastest
transformers, and every number is printed.

    python -m morl_jax.benchmarks.sampling [--size tiny|small] [--batch 64] [--reps 10]

`--size tiny` is the peer workload's model and generation limit (`peer-qwen2`, 32 new tokens), `--size small`
the step benchmark's larger size (`peer-qwen2-small`, 30.5 M parameters, 128 new tokens); `--config` and
`--new-tokens` override either.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from typing import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from morl_jax.models import (CharTokenizer, Transformer, encode_prompts, from_pretrained, generate, get_config,
                             save_pretrained)
from morl_jax.parallel import batch_sharding, make_mesh, shard_model


SIZES = {"tiny": ("peer-qwen2", 32), "small": ("peer-qwen2-small", 128)}


def peer_prompts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.randint(0, 99)}+{rng.randint(0, 99)}=" for _ in range(n)]


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--config", help="a model preset (default: the size's)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, help="tokens generated per row (default: the size's)")
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--cpu-devices", type=int, default=os.cpu_count() or 1,
                        help="CPU devices for the data-parallel morl_jax run (1 = skip it)")
    parser.add_argument("--torch-threads", default="default,1",
                        help="comma-separated torch thread counts to time transformers with ('default' = torch's)")
    args = parser.parse_args()
    args.config = args.config or SIZES[args.size][0]
    args.new_tokens = args.new_tokens or SIZES[args.size][1]
    jax.config.update("jax_num_cpu_devices", args.cpu_devices)  # before the first computation

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM

    default_threads = torch.get_num_threads()
    thread_counts = list(dict.fromkeys(default_threads if t == "default" else int(t)
                                       for t in args.torch_threads.split(",")))
    tokenizer = CharTokenizer()
    tokens, mask = encode_prompts(tokenizer, peer_prompts(args.batch))
    new = args.new_tokens

    with tempfile.TemporaryDirectory() as tmp:
        save_pretrained(Transformer(get_config(args.config), rngs=nnx.Rngs(0)), tmp)
        model = from_pretrained(tmp)
        hf_model = AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.float32).eval()

    seeds = iter(range(1 << 30))  # a fresh (uncommitted) key per call, valid on any mesh

    def ours_on(devices: list) -> Callable[[], None]:
        mesh = make_mesh({"data": len(devices)}, devices=devices)
        graphdef, state = nnx.split(shard_model(model, mesh))
        prompts = jax.device_put((jnp.asarray(tokens), jnp.asarray(mask)), batch_sharding(mesh))

        def run():
            with jax.set_mesh(mesh):
                rollout = generate(graphdef, state, *prompts, jax.random.key(next(seeds)), max_new_tokens=new, eos_id=None,
                                   pad_id=tokenizer.pad_id, temperature=1.0)
            jax.block_until_ready(rollout)
            assert int(rollout.lengths.min()) == new

        return run

    input_ids = torch.tensor(tokens, dtype=torch.long)
    attention_mask = torch.tensor(mask, dtype=torch.long)

    def theirs_with(threads: int) -> Callable[[], None]:
        def run():
            torch.set_num_threads(threads)
            with torch.no_grad():
                out = hf_model.generate(input_ids=input_ids, attention_mask=attention_mask, do_sample=True,
                                        temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=new,
                                        min_new_tokens=new, eos_token_id=None, pad_token_id=tokenizer.pad_id)
            assert out.shape[1] == tokens.shape[1] + new

        return run

    contenders = {"morl_jax, 1 CPU device": ours_on(jax.devices()[:1])}
    if args.cpu_devices > 1:
        contenders[f"morl_jax, data-parallel over {args.cpu_devices} CPU devices"] = ours_on(jax.devices())
    contenders.update({f"transformers, {n} torch thread(s)": theirs_with(n) for n in thread_counts})
    first_call = {name: round(timed(fn), 2) for name, fn in contenders.items()}  # compile / warm up
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.reps):
        for name, fn in contenders.items():
            times[name].append(timed(fn))
    torch.set_num_threads(default_threads)

    n_tokens = args.batch * new
    median = {name: statistics.median(t) for name, t in times.items()}
    ours_best = min((n for n in median if n.startswith("morl_jax")), key=median.get)
    theirs_best = min((n for n in median if n.startswith("transformers")), key=median.get)
    for name, seconds in median.items():
        print(f"{name:<48} {n_tokens / seconds:>9.0f} tokens/s  (median {seconds * 1e3:7.1f} ms per batch)")
    speedup = median[theirs_best] / median[ours_best]
    print(f"speedup, fastest morl_jax vs fastest transformers: {speedup:.2f}x")
    result = {
        "config": args.config, "batch": args.batch, "new_tokens": new, "reps": args.reps,
        "median_s": {k: round(v, 5) for k, v in median.items()},
        "tokens_per_s": {k: round(n_tokens / v) for k, v in median.items()},
        "first_call_s": first_call, "speedup": round(speedup, 2), "fastest_morl_jax": ours_best,
        "fastest_transformers": theirs_best,
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
