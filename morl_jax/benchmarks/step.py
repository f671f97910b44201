"""Seconds per GRPO step on the peer workload, morl_jax vs TRL vs Tunix in one run, with the update's utilisation.

    make peers                                               # once: .peers/trl and .peers/tunix
    python -m morl_jax.benchmarks.step --size tiny|small [--steps N] [--warmup W] [--reps R]

One step = rollout (8 prompts x 8 completions; `tiny`: 0.5 M parameters, <= 32 new tokens; `small`: 30.5 M,
<= 128) + 2 rewards + group advantages + one update (configs/peer.py). The benchmark writes one workload
directory (model weights, tokenizer, prompts, workload.json) that all three frameworks load, then runs each in
its own process, alternating the frameworks within every repetition so background load hits all alike; a
framework's step time is the median of its post-warm-up steps (morl_jax: `time/step_s` of `train.run`; the peers:
one optimizer step's end to the next, see morl_jax/benchmarks/peers/). TRL and Tunix run when their virtual
environments exist (`make peers`; `--peers-env` points elsewhere).

In the same run it measures a float32 matmul peak (the fastest of `jnp.dot` and numpy's BLAS on square
matrices) and, with morl_jax's pure pieces on the same weights, the rollout's generated tokens/s and the update's
model GFLOP/s as a fraction of that peak: 3 x the forward FLOPs that XLA's cost analysis counts for an
every-position pass over the update's batch, times the fraction of real (unpadded) positions, per second of the
update (the FLOPs of the padded batch are printed too; morl_jax skips much of the padding, so they can run above
the hardware's rate).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEERS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers")
PEER_SCRIPTS = {"trl": "trl_grpo.py", "tunix": "tunix_grpo.py"}
DEFAULTS = {"tiny": {"steps": 12, "warmup": 2, "reps": 2}, "small": {"steps": 5, "warmup": 2, "reps": 1}}


def peer_config(arg: str) -> Any:
    """configs/peer.py's `get_config(arg)` (configs/ is a directory of files, not a package)."""
    spec = importlib.util.spec_from_file_location("morl_jax_peer_config", os.path.join(ROOT, "configs", "peer.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg)


def write_workload(size: str, directory: str) -> dict[str, Any]:
    """The workload every framework loads: HF weights of the size's preset (seed 0), tokenizer, prompts, spec."""
    from flax import nnx

    from morl_jax import models, tasks

    config = peer_config(f"size={size}")
    model = models.Transformer(models.get_config(config.model.preset), rngs=nnx.Rngs(config.seed))
    models.save_pretrained(model, directory)
    models.CharTokenizer().save_pretrained(directory)
    train = tasks.get_task(config.task.name, **dict(config.task.kwargs)).split("train")
    with open(os.path.join(directory, "prompts.jsonl"), "w") as f:
        for prompt, answer in zip(train["prompt"], train["answer_text"]):
            f.write(json.dumps({"prompt": str(prompt), "answer": str(answer)}) + "\n")
    spec = {"size": size, "prompts_per_step": config.rl.prompts_per_step, "group_size": config.rl.group_size,
            "max_new_tokens": config.rl.max_new_tokens, "reward_weights": list(config.weighting.weights),
            "learning_rate": config.optimizer.learning_rate}
    with open(os.path.join(directory, "workload.json"), "w") as f:
        json.dump(spec, f, indent=1)
    return spec


def train_child(size: str, workload: str, steps: int, workdir: str) -> None:
    """Runs in the subprocess for morl_jax: `train.run` on the peer config, then a RESULT line from metrics.jsonl."""
    from morl_jax import train

    train.run(peer_config(f"size={size},steps={steps},model={workload}"), workdir)
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    print("RESULT " + json.dumps({key: [r[f"time/{key}_s"] for r in rows] for key in ("step", "rollout", "update")}))


def _result(proc: subprocess.CompletedProcess, label: str) -> dict[str, Any] | None:
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line.split(" ", 1)[1])
    print(f"  {label} failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}", flush=True)
    return None


def run_ours(size: str, workload: str, steps: int, devices: int) -> dict[str, list[float]] | None:
    """morl_jax's per-step times (step, rollout, update) in `train.run`, from a fresh process."""
    workdir = tempfile.mkdtemp(prefix="morl_jax_step_")
    code = (f"import jax; jax.config.update('jax_num_cpu_devices', {devices}); "
            f"from morl_jax.benchmarks.step import train_child; "
            f"train_child({size!r}, {workload!r}, {steps}, {workdir!r})")
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return _result(proc, "morl_jax")


def run_peer(name: str, python: str, workload: str, steps: int, warmup: int) -> dict[str, list[float]] | None:
    """A peer harness's per-step times (step, rollout), from its own virtual environment."""
    cmd = [python, os.path.join(PEERS_DIR, PEER_SCRIPTS[name]), "--workload", workload, "--steps", str(steps),
           "--warmup", str(warmup)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    result = _result(proc, name)
    return None if result is None else {"step": result["wall"]["all_s"], "rollout": result["rollout"]["all_s"]}


def best_seconds(fn: Callable[[], Any], reps: int) -> float:
    """The fastest of `reps` timed calls (after one untimed call)."""
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_peak(n: int = 2048, reps: int = 5) -> dict[str, float]:
    """GFLOP/s of a float32 n x n matmul: jnp.dot (XLA) and numpy (BLAS); the peak is the faster."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    flops = 2.0 * n ** 3
    dot = jax.jit(jnp.dot)
    xa, xb = jnp.asarray(a), jnp.asarray(b)
    out = {"jax": flops / best_seconds(lambda: dot(xa, xb).block_until_ready(), reps) / 1e9,
           "numpy": flops / best_seconds(lambda: a @ b, reps) / 1e9}
    out["peak"] = max(out.values())
    return out


def anatomy(size: str, workload: str, reps: int = 3) -> dict[str, float]:
    """Rollout tokens/s and update model GFLOP/s of morl_jax's pieces on the workload, batch by batch.

    Mirrors a `train.run` step of configs/peer.py: sample a batch with `models.generate`, cut completions to the
    longest one rounded up to 16, then the update's computation on that shape: PPO-clip token-mean loss
    (`rl.losses.policy_loss`) of `models.token_logprobs` (with entropies), its gradient, clip + AdamW.
    """
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx

    from morl_jax import models, tasks
    from morl_jax.rl.losses import policy_loss

    c = peer_config(f"size={size}")
    graphdef, params = nnx.split(models.from_pretrained(workload))
    tokenizer = models.CharTokenizer()
    train = tasks.get_task(c.task.name, **dict(c.task.kwargs)).split("train")
    group, per_step, new = c.rl.group_size, c.rl.prompts_per_step, c.rl.max_new_tokens
    prompt_len = models.bucket_length(max(len(tokenizer.encode(str(p))) for p in train["prompt"]))
    tx = optax.chain(optax.clip_by_global_norm(c.optimizer.grad_clip),
                     optax.adamw(optax.linear_schedule(c.optimizer.learning_rate, 0.0, 100)))

    def logprobs(p, tokens, mask, length_groups=None):
        return models.token_logprobs(nnx.merge(graphdef, p), tokens, mask, start=prompt_len - 1,
                                     temperature=c.rl.temperature, with_entropy=True, length_groups=length_groups)

    def loss_fn(p, tokens, mask, old, adv):
        logp, entropy = logprobs(p, tokens, mask)
        completion_mask = mask[:, prompt_len:]
        loss, metrics = policy_loss(logp, old, adv, completion_mask, clip_low=c.rl.clip_low,
                                    clip_high=c.rl.clip_high, aggregation=c.rl.loss_aggregation)
        return loss, (metrics, jnp.sum(jax.lax.stop_gradient(entropy) * completion_mask))

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def update(p, opt_state, tokens, mask, old, adv):
        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(p, tokens, mask, old, adv)
        updates, opt_state = tx.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state, loss, aux

    compiled: dict[tuple[int, ...], tuple[Any, float]] = {}
    opt_state = tx.init(params)
    rollout_tokens, rollout_s, model_flops, real_flops, update_s, real_fraction = 0, 0.0, 0.0, 0.0, 0.0, []
    key = jax.random.key(1)
    for i in range(reps + 1):  # the first batch compiles
        prompts = [str(p) for p in train["prompt"][i * per_step:(i + 1) * per_step]]
        p_tokens, p_mask = models.encode_prompts(tokenizer, prompts, length=prompt_len)
        p_tokens, p_mask = np.repeat(p_tokens, group, 0), np.repeat(p_mask, group, 0)
        key, sample_key, adv_key = jax.random.split(key, 3)
        start = time.perf_counter()
        rollout = models.generate(graphdef, params, jnp.asarray(p_tokens), jnp.asarray(p_mask), sample_key,
                                  max_new_tokens=new, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id,
                                  temperature=c.rl.temperature)
        tokens, mask = jax.device_get((rollout.tokens, rollout.completion_mask))
        t_rollout = time.perf_counter() - start
        width = min(new, models.bucket_length(int(mask.sum(1).max()), 16))
        args = (jnp.asarray(np.concatenate([p_tokens, tokens[:, :width]], 1)),
                jnp.asarray(np.concatenate([p_mask, mask[:, :width]], 1)), rollout.logprobs[:, :width],
                jax.random.normal(adv_key, (len(tokens),)))
        if width not in compiled:  # FLOPs of the every-position pass (XLA counts a loop's body once)
            dense = functools.partial(logprobs, length_groups=1)
            fwd = jax.jit(dense).lower(params, *args[:2]).compile().cost_analysis()["flops"]
            compiled[width] = (update.lower(params, opt_state, *args).compile(), 3.0 * float(fwd))
        step_fn, flops = compiled[width]
        start = time.perf_counter()
        params, opt_state, loss, aux = step_fn(params, opt_state, *args)
        jax.block_until_ready((params, opt_state, loss, aux))
        t_update = time.perf_counter() - start
        if i:
            rollout_tokens += int(mask.sum())
            rollout_s += t_rollout
            real = float(args[1].mean())
            model_flops += flops
            real_flops += flops * real
            update_s += t_update
            real_fraction.append(real)
    return {"rollout_tokens_per_s": rollout_tokens / rollout_s, "rollout_s": rollout_s / reps,
            "update_s": update_s / reps, "update_gflops": model_flops / update_s / 1e9,
            "update_real_gflops": real_flops / update_s / 1e9, "real_positions": float(np.mean(real_fraction))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=sorted(DEFAULTS), default="tiny")
    ap.add_argument("--steps", type=int, help="steps per run (default: 12 tiny, 5 small)")
    ap.add_argument("--warmup", type=int, help="first steps of each run left out (default 2)")
    ap.add_argument("--reps", type=int, help="runs per framework, alternating (default: 2 tiny, 1 small)")
    ap.add_argument("--frameworks", default="morl_jax,trl,tunix")
    ap.add_argument("--cpu-devices", type=int, default=1, help="CPU devices morl_jax's data axis spans")
    ap.add_argument("--peers-env", default=os.path.join(ROOT, ".peers"),
                    help="directory holding the peers' virtual environments trl/ and tunix/ (make peers)")
    args = ap.parse_args()
    d = DEFAULTS[args.size]
    steps, warmup, reps = args.steps or d["steps"], args.warmup or d["warmup"], args.reps or d["reps"]
    wanted = args.frameworks.split(",")
    runners: dict[str, Callable[[str], dict[str, list[float]] | None]] = {}
    if "morl_jax" in wanted:
        runners["morl_jax"] = lambda w: run_ours(args.size, w, steps, args.cpu_devices)
    for name in ("trl", "tunix"):
        python = os.path.join(args.peers_env, name, "bin", "python")
        if name not in wanted:
            continue
        if os.path.exists(python):
            runners[name] = lambda w, n=name, p=python: run_peer(n, p, w, steps, warmup)
        else:
            print(f"{name}: skipped ({python} missing: `make peers` builds it)")

    workload = tempfile.mkdtemp(prefix=f"peer_workload_{args.size}_")
    try:
        spec = write_workload(args.size, workload)
        times: dict[str, dict[str, list[float]]] = {}
        for rep in range(reps):
            for name, run in runners.items():
                print(f"rep {rep + 1}/{reps}: {name} ...", flush=True)
                got = run(workload)
                for part, values in (got or {}).items():
                    times.setdefault(name, {}).setdefault(part, []).extend(values[warmup:])
        peak = matmul_peak()
        parts = anatomy(args.size, workload) if "morl_jax" in runners else None
    finally:
        shutil.rmtree(workload, ignore_errors=True)

    n = spec["prompts_per_step"] * spec["group_size"]
    print(f"\nsize {args.size}: {spec['prompts_per_step']} prompts x {spec['group_size']} completions, <= "
          f"{spec['max_new_tokens']} new tokens; seconds per step, median of {reps} run(s) x {steps - warmup} "
          f"steps after {warmup} warm-up")
    print(f"{'framework':<12}{'median':>9}{'min':>9}{'max':>9}{'rollout':>10}{'ours / it':>11}")
    ours = times.get("morl_jax", {}).get("step")
    for name in runners:
        t = times.get(name, {}).get("step")
        if not t:
            continue
        med = statistics.median(t)
        rollout = times[name].get("rollout")
        ratio = f"{statistics.median(ours) / med:.2f}" if ours and name != "morl_jax" else ""
        print(f"{name:<12}{med:9.3f}{min(t):9.3f}{max(t):9.3f}"
              f"{statistics.median(rollout) if rollout else float('nan'):10.3f}{ratio:>11}")
    if ours and times["morl_jax"].get("update"):
        rollout, update = (statistics.median(times["morl_jax"][k]) for k in ("rollout", "update"))
        print(f"morl_jax step in train.run: rollout {rollout:.3f} s, update {update:.3f} s, rewards and host work "
              f"{statistics.median(ours) - rollout - update:.3f} s (medians)")
    print(f"float32 matmul peak: {peak['peak']:.1f} GFLOP/s (2048^2: jnp.dot {peak['jax']:.1f}, "
          f"numpy {peak['numpy']:.1f})")
    if parts:
        print(f"morl_jax update: {parts['update_s']:.3f} s; model FLOPs of the real tokens "
              f"({parts['real_positions']:.0%} of the batch's positions): {parts['update_real_gflops']:.1f} GFLOP/s = "
              f"{parts['update_real_gflops'] / peak['peak']:.0%} of the matmul peak; counting every padded "
              f"position: {parts['update_gflops']:.1f} GFLOP/s = {parts['update_gflops'] / peak['peak']:.0%}")
        print(f"morl_jax rollout: {parts['rollout_s']:.3f} s, {parts['rollout_tokens_per_s']:.0f} generated "
              f"tokens/s ({n} completions)")
    print("RESULT " + json.dumps({"size": args.size, "steps": steps, "warmup": warmup, "reps": reps,
                                  "times": times, "peak": peak, "anatomy": parts}))


if __name__ == "__main__":
    main()
