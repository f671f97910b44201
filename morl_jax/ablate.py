"""Sweep runner for paper ablations: a grid of config variants x seeds -> one run each -> results table + plot.

    python -m morl_jax.ablate --config=configs/arith.py --grid weights=accuracy,balanced,efficiency \\
        --grid algo=grpo,rloo --seeds 0,1 --workdir=runs/sweep [--set rl.num_steps=50 ...]

A grid key is a variant key of the config file (`get_config("weights=accuracy,...")`) or a dotted config key
(`--grid optimizer.learning_rate=1e-4,3e-4`). Runs go one after another in this process (compiled functions are
reused), share one SFT cache per warm-start fingerprint (`WORKDIR/sft_cache`), and each is resumable in its own
`WORKDIR/<name>`, so rerunning a killed sweep continues where it stopped. Writes `results.csv`, `results.md` and
`fronts.png` (every run's validation trajectory and final point) into the sweep directory.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import ml_collections  # noqa: E402

from morl_jax import experiment_config, train  # noqa: E402
from morl_jax.logging import read_metrics  # noqa: E402


def load_config(spec: str, variant_args: dict[str, str], overrides: dict[str, str] | None = None
                ) -> ml_collections.ConfigDict:
    """`path[:arg]` with the variant args merged into arg, then the dotted overrides (checked key by key)."""
    path, _, arg = spec.partition(":")
    parts = [p for p in arg.split(",") if p] + [f"{k}={v}" for k, v in variant_args.items()]
    return experiment_config.load(f"{path}:{','.join(parts)}", [f"{k}={v}" for k, v in (overrides or {}).items()])


def _points(workdir: str, prefix: str, objectives: list[str]) -> list[tuple[int, list[float]]]:
    return [(r["step"], [r[f"{prefix}/{o}"] for o in objectives])
            for r in read_metrics(workdir) if f"{prefix}/{objectives[0]}" in r]


def run_grid(config_spec: str, grid: dict[str, list[str]], seeds: list[int], workdir: str,
             sets: dict[str, str]) -> list[dict[str, Any]]:
    """Run every grid point x seed; return one result row per run (also written to results.csv/.md)."""
    os.makedirs(workdir, exist_ok=True)
    rows, trajectories = [], {}
    for values in itertools.product(*grid.values()):
        point = dict(zip(grid, values))
        for seed in seeds:
            variant = {k: v for k, v in point.items() if "." not in k}
            dotted = {**{k: v for k, v in point.items() if "." in k}, **sets, "seed": str(seed)}
            config = load_config(config_spec, variant, dotted)
            if not config.sft.cache_dir:
                config.sft.cache_dir = os.path.join(workdir, "sft_cache")
            name = "_".join(f"{k.split('.')[-1]}={v}" for k, v in point.items()) + f"_seed={seed}"
            run_dir = os.path.join(workdir, name)
            print(f"== {name}", flush=True)
            summary = train.run(config, run_dir)
            split, objectives = summary.report_split, summary.objectives
            row = {"run": name, **point, "seed": seed}
            for mode in ("greedy", "sampled"):
                row.update({f"{mode}/{o}": summary.final[split][mode][o] for o in objectives})
                row[f"{mode}/hypervolume"] = summary.hypervolume[split][mode]
                row[f"{mode}/mean_pareto_step"] = summary.mean_pareto_step[mode]
            row.update({f"initial/sampled/{o}": v for o, v in summary.initial[split]["sampled"].items()})
            rows.append(row)
            trajectories[name] = (_points(run_dir, f"{split}/sampled", objectives), objectives, summary.maximise)
    write_table(rows, workdir)
    plot_trajectories(trajectories, os.path.join(workdir, "fronts.png"))
    return rows


def write_table(rows: list[dict[str, Any]], workdir: str) -> None:
    keys = list(dict.fromkeys(k for row in rows for k in row))
    with open(os.path.join(workdir, "results.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)

    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    with open(os.path.join(workdir, "results.md"), "w") as f:
        f.write("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys) + "\n")
        for row in rows:
            f.write("| " + " | ".join(fmt(row.get(k, "")) for k in keys) + " |\n")


def plot_trajectories(trajectories: dict[str, Any], path: str) -> None:
    """Pairwise projections of each run's sampled validation points (line = trajectory, star = final)."""
    first = next(iter(trajectories.values()))
    objectives, maximise = first[1], first[2]
    pairs = list(itertools.combinations(range(len(objectives)), 2))
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.6 * len(pairs), 4), squeeze=False)
    for ax, (i, j) in zip(axes[0], pairs):
        for name, (points, _, _) in trajectories.items():
            xs, ys = [p[i] for _, p in points], [p[j] for _, p in points]
            line, = ax.plot(xs, ys, "-o", ms=2.5, lw=1, alpha=0.7, label=name)
            ax.plot(xs[-1:], ys[-1:], "*", ms=13, color=line.get_color())
        arrow = {True: "↑", False: "↓"}
        ax.set_xlabel(f"{objectives[i]} {arrow[bool(maximise[i])]}")
        ax.set_ylabel(f"{objectives[j]} {arrow[bool(maximise[j])]}")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.suptitle("sampled validation point per evaluation (star = final)", fontsize=10)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def _key_values(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--{what} expects KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True, help="config file, optionally with a variant: path.py[:arg]")
    ap.add_argument("--grid", action="append", default=[], help="KEY=V1,V2,... (repeatable)")
    ap.add_argument("--set", action="append", default=[], help="dotted.key=value applied to every run")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args(argv)
    grid = {k: v.split(",") for k, v in _key_values(args.grid, "grid").items()}
    rows = run_grid(args.config, grid, [int(s) for s in args.seeds.split(",")], args.workdir,
                    _key_values(args.set, "set"))
    print(f"\n{len(rows)} runs; table: {os.path.join(args.workdir, 'results.md')}, "
          f"plot: {os.path.join(args.workdir, 'fronts.png')}")
    with open(os.path.join(args.workdir, "results.md")) as f:
        print(f.read())


if __name__ == "__main__":
    main()
