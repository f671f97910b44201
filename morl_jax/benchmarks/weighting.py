"""Cost of the weighting phase: RL step time of each weight optimizer relative to `fixed`, in one run.

Every optimizer trains the arithmetic benchmark's policy (`configs/arith.py`, one shared SFT warm start) for
`--steps` RL steps, `--reps` times, the optimizers taking turns (every other repetition in reverse order) so
machine load affects them alike. A step's time is rollout + rewards + signals + weights + update; the validation
an optimizer asks for (hypervolume, hypervolume_gradient: one greedy pass over the validation split per step, as
in the paper) is reported in its own column, as is the signal phase (the Gram matrix's forward and batched
backward pass for `gradient`).
The first `--warmup` steps of every run (compilation) are left out; medians over the rest, and the fastest step
(the figure least moved by other jobs on a shared machine: load only ever adds time).

    python -m morl_jax.benchmarks.weighting [--steps 12] [--reps 2] [--workdir runs/bench_weighting]
"""

from __future__ import annotations

import argparse
import os
import statistics

from morl_jax import experiment_config, train
from morl_jax.logging import read_metrics

OPTIMIZERS = {
    "fixed": [],
    "saw": ["weighting.name=saw", "weighting.kwargs.normalize=True"],
    "hypervolume_gradient": ["weighting.name=hypervolume_gradient"],
    "gradient": ["weighting.name=gradient"],
    "gradient (adv. level)": ["weighting.name=gradient", "rl.level=advantage"],
    "hypervolume (rloo)": ["weighting.name=hypervolume", "rl.estimator=rloo"],
    "tchebycheff": ["weighting.name=tchebycheff"],
    "hvo": ["weighting.name=hvo"],
    "ctwa": ["weighting.name=ctwa"],
    "mgda (adv. level)": ["weighting.name=mgda", "rl.level=advantage"],
    "conductor": ["weighting.name=conductor"],
}


def run_once(name: str, overrides: list[str], args: argparse.Namespace, rep: int) -> list[dict[str, float]]:
    """Per-step timings of one run of `name` (warm-up steps dropped)."""
    workdir = os.path.join(args.workdir, f"{name.replace(' ', '_')}_{rep}")
    base = [f"rl.num_steps={args.steps}", "eval.every=0", "checkpoint.every=0", "log.console=False",
            f"sft.cache_dir={os.path.join(args.workdir, 'sft_cache')}"]
    config = experiment_config.load(args.config, base + overrides)
    train.run(config, workdir)
    rows = [r for r in read_metrics(workdir) if "time/step_s" in r]
    return rows[args.warmup:]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="arith.py")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--workdir", default=os.path.join("runs", "bench_weighting"))
    args = ap.parse_args(argv)
    rows = {name: [] for name in OPTIMIZERS}
    for rep in range(args.reps):  # odd repetitions run in reverse order, so a load that drifts hits all alike
        for name, overrides in list(OPTIMIZERS.items())[::-1 if rep % 2 else 1]:
            rows[name] += run_once(name, overrides, args, rep)

    def median(name, key):
        return statistics.median(r[key] for r in rows[name])

    def training(name, reduce=statistics.median):  # the step without the optimizer's own validation
        return reduce(r["time/step_s"] - r["time/eval_s"] for r in rows[name])

    base, fastest = training("fixed"), training("fixed", min)
    print(f"\nweighting phase cost on {args.config} ({args.reps} x {args.steps - args.warmup} steps each, medians)")
    print(f"{'optimizer':24s} {'step s':>8s} {'vs fixed':>9s} {'fastest s':>10s} {'vs fixed':>9s} {'rollout s':>10s} "
          f"{'signals s':>10s} {'update s':>9s} {'validation s':>13s}")
    for name in OPTIMIZERS:
        print(f"{name:24s} {training(name):8.3f} {training(name) / base:8.2f}x {training(name, min):10.3f} "
              f"{training(name, min) / fastest:8.2f}x {median(name, 'time/rollout_s'):10.3f} "
              f"{median(name, 'time/signals_s'):10.3f} {median(name, 'time/update_s'):9.3f} "
              f"{median(name, 'time/eval_s'):13.3f}")
    print("\n'step s' excludes the validation an optimizer asks for ('validation s', reported separately);"
          "\n'gradient' is the paper's setting (weights scalarise the rewards, then a separate update pass);"
          "\n'gradient (adv. level)' combines per-objective advantages, so the update reuses the K gradients.")


if __name__ == "__main__":
    main()
