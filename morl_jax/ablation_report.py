"""An ablation's report: one row per cell (read back from its run directory), `results.csv`, a markdown table of
mean ± std over seeds per group, overlaid Pareto-front plots and weight trajectories.

A difference smaller than the seed-to-seed spread is no difference: in each column the best group is bold and
every group within max(its std, the best's std) of it is marked ≈ (tied with the best); with a single seed
nothing is marked.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import os
from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from morl_jax.evaluate import MODES, Summary  # noqa: E402
from morl_jax.logging import read_metrics  # noqa: E402
from morl_jax.pareto import ParetoArchive  # noqa: E402

TABLE, CSV, FRONTS, WEIGHTS = "results.md", "results.csv", "fronts.png", "weights.png"
LOWER_IS_BETTER = ("length", "mean_pareto_step", "clear_without_steps_rate")


@dataclasses.dataclass
class Row:
    """One cell: its labels and seed, metrics (final test points, hypervolumes, Pareto step, diagnostics), its
    test-split sampled trajectory [(step, point)], and its weights per step."""

    labels: dict[str, str]
    seed: int
    metrics: dict[str, float]
    trajectory: list[tuple[int, list[float]]]
    weights: dict[str, list[tuple[int, float]]]
    objectives: list[str]
    maximise: list[bool]

    @property
    def group(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.labels.items())


def read_row(labels: dict[str, str], seed: int, workdir: str) -> Row:
    """The metrics of a finished run directory."""
    summary = Summary.load(os.path.join(workdir, "summary.json"))
    rows = read_metrics(workdir)
    split, names = summary.report_split, summary.objectives
    metrics: dict[str, float] = {"rl_minutes": summary.timings.get("rl_s", float("nan")) / 60}
    for mode in MODES:
        prefix = f"{split}/{mode}"
        evals = [r for r in rows if f"{prefix}/{names[0]}" in r]
        metrics.update({f"{mode}/{n}": summary.final[split][mode][n] for n in names})
        metrics[f"{mode}/hv_task"] = summary.hypervolume[split][mode]
        initial = ParetoArchive([evals[0][f"{prefix}/{n}"] for n in names], names=names, maximise=summary.maximise)
        for r in evals[1:]:
            initial.add([r[f"{prefix}/{n}"] for n in names], r["step"])
        metrics[f"{mode}/hv_initial"] = initial.hypervolume()
        metrics[f"{mode}/mean_pareto_step"] = summary.mean_pareto_step[mode]
        if f"{prefix}/clear_without_steps_rate" in evals[-1]:
            metrics[f"{mode}/clear_without_steps_rate"] = evals[-1][f"{prefix}/clear_without_steps_rate"]
    first = next(r for r in rows if "loss" in r)  # step 1: rewards of the starting policy's samples
    metrics.update({f"start_corr/{k[len('reward_corr/'):]}": v for k, v in first.items()
                    if k.startswith("reward_corr/") and v is not None})
    trajectory = [(r["step"], [r[f"{split}/sampled/{n}"] for n in names]) for r in rows
                  if f"{split}/sampled/{names[0]}" in r]
    weight_names = sorted(k[len("weight/"):] for k in rows[-1] if k.startswith("weight/"))
    weights = {n: [(r["step"], r[f"weight/{n}"]) for r in rows if f"weight/{n}" in r] for n in weight_names}
    return Row(labels, seed, metrics, trajectory, weights, names, summary.maximise)


def write(rows: Sequence[Row], axes: Sequence[str], workdir: str) -> None:
    """results.csv, results.md, fronts.png and weights.png in `workdir`."""
    if not rows:
        return
    keys = list(dict.fromkeys(k for row in rows for k in row.metrics))
    with open(os.path.join(workdir, CSV), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*axes, "seed", *keys])
        for row in rows:
            writer.writerow([row.labels.get(a, "") for a in axes] + [row.seed] + [row.metrics.get(k, "") for k in keys])
    with open(os.path.join(workdir, TABLE), "w") as f:
        f.write(markdown(rows, axes))
    plot_fronts(rows, os.path.join(workdir, FRONTS))
    plot_weights(rows, os.path.join(workdir, WEIGHTS))


def group_stats(rows: Sequence[Row]) -> dict[str, dict[str, tuple[float, float, int]]]:
    """{group: {metric: (mean, std over seeds, seeds)}}, groups in first-seen order."""
    out: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        for key, value in row.metrics.items():
            out.setdefault(row.group, {}).setdefault(key, []).append(value)
    return {g: {k: (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, len(v))
                for k, v in metrics.items()} for g, metrics in out.items()}


def _column_marks(stats, key: str) -> dict[str, str]:
    """'**' for the best group of a column, '≈' for groups within the seed spread of it."""
    present = {g: s[key] for g, s in stats.items() if key in s and np.isfinite(s[key][0])}
    if len(present) < 2 or min(n for _, _, n in present.values()) < 2:
        return {}  # one seed has no spread: no difference can be called
    lower = key.split("/")[-1] in LOWER_IS_BETTER
    best = (min if lower else max)(present, key=lambda g: present[g][0])
    marks = {best: "**"}
    for g, (mean, std, n) in present.items():
        if g != best and n > 1 and abs(mean - present[best][0]) <= max(std, present[best][1]):
            marks[g] = "≈"
    return marks


def markdown(rows: Sequence[Row], axes: Sequence[str]) -> str:
    """Two tables (sampled and greedy test points) of mean ± std over seeds per group."""
    stats = group_stats(rows)
    names = rows[0].objectives
    seeds = sorted({r.seed for r in rows})
    lines = [f"Mean ± std over seeds {seeds} (test split). Bold: the best group in a column; ≈: within the "
             f"seed-to-seed spread of the best (no difference). Hypervolume of the checkpoint front against the "
             f"task's reference (hv_task) and against the initial model's point (hv_initial, 0 when no checkpoint "
             f"beats the start in every objective); start_corr: the correlation of two rewards over the first "
             f"step's samples (the starting policy).", ""]
    for mode in MODES:
        columns = [f"{mode}/{n}" for n in names] + [f"{mode}/{k}" for k in
                                                     ("hv_task", "hv_initial", "mean_pareto_step",
                                                      "clear_without_steps_rate")]
        columns = [c for c in columns if any(c in s for s in stats.values())]
        if mode == MODES[-1]:  # how the objectives relate under the starting policy, beside the results
            columns += sorted({k for s in stats.values() for k in s if k.startswith("start_corr/")})
        marks = {c: {} if c.startswith("start_corr/") else _column_marks(stats, c) for c in columns}
        headers = [f"corr({c.split('/', 1)[1]})" if c.startswith("start_corr/") else c.split("/", 1)[1]
                   for c in columns]
        lines += [f"**{mode}**", "", "| " + " | ".join([*axes, *headers]) + " |",
                  "|" + "---|" * len(axes) + "---:|" * len(columns)]
        for group, s in stats.items():
            labels = dict(part.split("=", 1) for part in group.split(","))
            cells = []
            for c in columns:
                if c not in s:
                    cells.append("")
                    continue
                mean, std, n = s[c]
                mark = marks[c].get(group, "")
                text = f"{mean:.3g} ± {std:.2g}" if n > 1 else f"{mean:.3g}"
                cells.append(f"**{text}**" if mark == "**" else f"{text} {mark}".strip())
            lines.append("| " + " | ".join([*(labels.get(a, "") for a in axes), *cells]) + " |")
        lines.append("")
    minutes = sum(r.metrics.get("rl_minutes", 0.0) for r in rows)
    lines.append(f"{len(rows)} runs, {minutes:.0f} minutes of RL in total.")
    return "\n".join(lines) + "\n"


def _colors(groups: Sequence[str]) -> dict[str, Any]:
    cmap = plt.get_cmap("tab20")
    return {g: cmap(i % 20) for i, g in enumerate(groups)}


def plot_fronts(rows: Sequence[Row], path: str) -> None:
    """Pairwise projections of every cell's test-split sampled trajectory (final point starred), by group."""
    names, maximise = rows[0].objectives, rows[0].maximise
    groups = list(dict.fromkeys(r.group for r in rows))
    colors = _colors(groups)
    pairs = list(itertools.combinations(range(len(names)), 2)) or [(0, 0)]
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.8 * len(pairs), 4.4), squeeze=False)
    for ax, (i, j) in zip(axes[0], pairs):
        for row in rows:
            xs, ys = [p[i] for _, p in row.trajectory], [p[j] for _, p in row.trajectory]
            ax.plot(xs, ys, "-", lw=0.7, alpha=0.35, color=colors[row.group])
            ax.plot(xs[-1:], ys[-1:], "*", ms=10, color=colors[row.group])
        ax.set_xlabel(f"{names[i]} {'↑' if maximise[i] else '↓'}")
        ax.set_ylabel(f"{names[j]} {'↑' if maximise[j] else '↓'}")
        ax.grid(alpha=0.3)
    handles = [matplotlib.lines.Line2D([], [], marker="*", ls="", ms=9, color=colors[g], label=g) for g in groups]
    fig.legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle("test split, sampled point per evaluation (star: final), every seed", fontsize=10)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_weights(rows: Sequence[Row], path: str) -> None:
    """Each objective's weight against the step, mean over a group's seeds."""
    names = sorted({n for r in rows for n in r.weights})
    groups = list(dict.fromkeys(r.group for r in rows))
    colors = _colors(groups)
    fig, axes = plt.subplots(1, len(names), figsize=(4.4 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        for group in groups:
            series = [dict(r.weights.get(name, [])) for r in rows if r.group == group]
            steps = sorted(set.intersection(*(set(s) for s in series))) if series else []
            if steps:
                ax.plot(steps, [np.mean([s[t] for s in series]) for t in steps], lw=1.2, color=colors[group],
                        label=group)
        ax.set(title=f"weight/{name}", xlabel="RL step")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
