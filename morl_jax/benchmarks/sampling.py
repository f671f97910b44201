"""Sampling throughput: morl_jax `generate` vs transformers `generate` on the same model, batch and lengths.

Both load the same safetensors directory (the peer workload's Qwen2 shape by default, random weights) and
sample `--new-tokens` tokens at temperature 1 for `--batch` prompts of the peer form "a+b=", with EOS disabled
so every row generates the full length in both. Prints tokens/s of each and their ratio, measured in one run.

    python -m morl_jax.benchmarks.sampling [--config peer-qwen2] [--batch 64] [--new-tokens 32] [--reps 10]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from morl_jax.models import (CharTokenizer, Transformer, encode_prompts, from_pretrained, generate, get_config,
                             save_pretrained)


def peer_prompts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.randint(0, 99)}+{rng.randint(0, 99)}=" for _ in range(n)]


def time_calls(fn, reps: int) -> list[float]:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="peer-qwen2")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--torch-threads", type=int, default=0, help="0 = torch's default")
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    tokenizer = CharTokenizer()
    prompts = peer_prompts(args.batch)
    tokens, mask = encode_prompts(tokenizer, prompts)
    new = args.new_tokens

    with tempfile.TemporaryDirectory() as tmp:
        config = get_config(args.config)
        save_pretrained(Transformer(config, rngs=nnx.Rngs(0)), tmp)
        model = from_pretrained(tmp)
        hf_model = AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.float32).eval()

    graphdef, state = nnx.split(model)
    jt, jm = jnp.asarray(tokens), jnp.asarray(mask)
    keys = iter(jax.random.split(jax.random.key(0), args.reps + 1))

    def ours():
        rollout = generate(graphdef, state, jt, jm, next(keys), max_new_tokens=new, eos_id=None,
                           pad_id=tokenizer.pad_id, temperature=1.0)
        jax.block_until_ready(rollout)
        assert int(rollout.lengths.min()) == new

    input_ids = torch.tensor(tokens, dtype=torch.long)
    attention_mask = torch.tensor(mask, dtype=torch.long)

    def theirs():
        with torch.no_grad():
            out = hf_model.generate(input_ids=input_ids, attention_mask=attention_mask, do_sample=True,
                                    temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=new, min_new_tokens=new,
                                    eos_token_id=None, pad_token_id=tokenizer.pad_id)
        assert out.shape[1] == tokens.shape[1] + new

    start = time.perf_counter()
    ours()
    compile_s = time.perf_counter() - start
    theirs()  # warm-up
    ours_t, theirs_t = [], []
    for _ in range(args.reps):  # alternate so machine load affects both alike
        ours_t += time_calls(ours, 1)
        theirs_t += time_calls(theirs, 1)
    n_tokens = args.batch * new
    ours_s, theirs_s = statistics.median(ours_t), statistics.median(theirs_t)
    result = {
        "config": args.config, "batch": args.batch, "new_tokens": new, "reps": args.reps,
        "morl_jax_s": round(ours_s, 5), "transformers_s": round(theirs_s, 5),
        "morl_jax_tokens_per_s": round(n_tokens / ours_s), "transformers_tokens_per_s": round(n_tokens / theirs_s),
        "speedup": round(theirs_s / ours_s, 2), "morl_jax_first_call_s": round(compile_s, 2),
        "torch_threads": torch.get_num_threads(), "jax_devices": jax.device_count(),
    }
    print(f"morl_jax:     {result['morl_jax_tokens_per_s']:>9} tokens/s  (median {ours_s * 1e3:.1f} ms per batch)")
    print(f"transformers: {result['transformers_tokens_per_s']:>9} tokens/s  (median {theirs_s * 1e3:.1f} ms per batch)")
    print(f"speedup: {result['speedup']}x")
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
