"""Seconds per RL step on the peer workload (../shared/bench/peers), ours vs TRL and Tunix, in one run.

    python -m morl_jax.benchmarks.step [--steps 12] [--reps 2] [--peers-dir DIR] [--model DIR]

One step = rollout (8 prompts x 8 completions, <= 32 new tokens) + 2 rewards + advantages + one update,
timed end to end by the train loop (`time/step_s`); the first 2 steps (compilation) are left out, as the
peer harnesses do. The peers' model (/tmp/peer_tiny_model) is built with their `make_tiny_model.py` when
missing (needs torch + transformers, the `parity` extra); TRL and Tunix run when their virtual environments
(/tmp/peer_trl, /tmp/peer_tunix, see the peers' README) exist. Frameworks alternate within each repetition
so background load hits all alike; the table pools post-warm-up steps.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_PEERS = os.path.normpath(os.path.join(ROOT, "..", "shared", "bench", "peers"))
WARMUP = 2


def ensure_model(peers_dir: str, model_dir: str) -> str | None:
    """The peers' tiny Qwen2 directory, built with their script if needed; None when it cannot be built."""
    if os.path.exists(os.path.join(model_dir, "model.safetensors")):
        return model_dir
    script = os.path.join(peers_dir, "make_tiny_model.py")
    if not os.path.exists(script):
        return None
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return None
    subprocess.run([sys.executable, script, "--out", model_dir], check=True, capture_output=True,
                   env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return model_dir


def run_ours(model_dir: str | None, steps: int, pin_one_core: bool) -> list[float]:
    """Post-warm-up step times of morl_jax's train loop on the peer config, in a fresh process."""
    workdir = tempfile.mkdtemp(prefix="morl_step_bench_")
    variant = f"steps={steps}" + (f",model={model_dir}" if model_dir else "")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import peer; from morl_jax import train; "
            "train.run(peer.get_config(sys.argv[2]), sys.argv[3])")
    cmd = [sys.executable, "-c", code, os.path.join(ROOT, "configs"), variant, workdir]
    if pin_one_core:
        cmd = ["taskset", "-c", "0", *cmd]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        with open(os.path.join(workdir, "metrics.jsonl")) as f:
            times = [json.loads(line)["time/step_s"] for line in f]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return times[WARMUP:]


def run_peer(python: str, script: str, model_dir: str, steps: int, pin_one_core: bool) -> list[float] | None:
    """Post-warm-up step times from a peer harness's SUMMARY line (None if it failed)."""
    cmd = [python, script, "--model", model_dir, "--steps", str(steps)]
    if pin_one_core:
        cmd = ["taskset", "-c", "0", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    for line in proc.stdout.splitlines():
        if line.startswith("SUMMARY"):
            summary = json.loads(line.split(" ", 1)[1])
            return summary["end_to_end"]["all_s"][WARMUP:]
    print(f"  {os.path.basename(script)} failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--peers-dir", default=os.environ.get("PEERS_DIR", DEFAULT_PEERS))
    ap.add_argument("--model", default="/tmp/peer_tiny_model")
    ap.add_argument("--trl-python", default="/tmp/peer_trl/bin/python")
    ap.add_argument("--tunix-python", default="/tmp/peer_tunix/bin/python")
    ap.add_argument("--one-core", action="store_true", help="also run every framework pinned to one core")
    args = ap.parse_args()

    model_dir = ensure_model(args.peers_dir, args.model)
    print(f"model: {model_dir or 'peer-qwen2 preset, seed init (peer model unavailable)'}")
    frameworks = {"morl_jax": None}
    for name, python, script in (("trl", args.trl_python, "trl_grpo.py"), ("tunix", args.tunix_python, "tunix_grpo.py")):
        path = os.path.join(args.peers_dir, script)
        if model_dir and os.path.exists(python) and os.path.exists(path):
            frameworks[name] = (python, path)
        else:
            print(f"{name}: skipped (needs {python} and {path}; see the peers' README)")
    variants = [False, True] if args.one_core and shutil.which("taskset") else [False]
    times: dict[tuple[str, bool], list[float]] = {}
    for rep in range(args.reps):
        for one_core in variants:
            for name, peer in frameworks.items():
                label = f"{name}{' (1 core)' if one_core else ''}"
                print(f"rep {rep + 1}/{args.reps}: {label} ...", flush=True)
                got = (run_ours(model_dir, args.steps, one_core) if peer is None
                       else run_peer(*peer, model_dir, args.steps, one_core))
                if got:
                    times.setdefault((name, one_core), []).extend(got)

    print(f"\nseconds per RL step (median of post-warm-up steps, {args.reps} runs x {args.steps - WARMUP} steps)")
    print(f"{'framework':<20}{'median':>9}{'min':>9}{'max':>9}{'ours / it':>11}")
    for one_core in variants:
        ours = times.get(("morl_jax", one_core))
        for name in frameworks:
            t = times.get((name, one_core))
            if not t:
                continue
            med = statistics.median(t)
            ratio = "" if name == "morl_jax" or not ours else f"{statistics.median(ours) / med:.2f}"
            label = f"{name}{' (1 core)' if one_core else ''}"
            print(f"{label:<20}{med:9.4f}{min(t):9.4f}{max(t):9.4f}{ratio:>11}")


if __name__ == "__main__":
    main()
