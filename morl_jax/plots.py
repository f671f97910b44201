"""The run's figures: Pareto fronts of the validation points (`pareto_front.png`) and weight trajectories
(`weights.png`).

Figures are built with matplotlib's object-oriented API (no pyplot), so importing or calling this module never
changes the process's matplotlib backend (a notebook's inline plots keep working); each function writes its file
when given a path and returns the figure (a notebook displays it)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
from etils import epath
from matplotlib.figure import Figure

from morl_jax.pareto import ParetoArchive

ARROWS = {True: "↑", False: "↓"}


def save_figure(fig: Figure, path: epath.PathLike) -> None:
    """Write a figure as PNG to a local or remote (gs://) path."""
    with epath.Path(path).open("wb") as f:
        fig.savefig(f, format="png", dpi=120, bbox_inches="tight")


def plot_fronts(path: str | None, archives: Mapping[str, ParetoArchive], title: str = "") -> Figure:
    """Pairwise 2-D projections of every validation point, coloured by step; Pareto-optimal points ringed."""
    first = next(iter(archives.values()))
    names = first.names
    pairs = list(itertools.combinations(range(len(names)), 2)) or [(0, 0)]
    fig = Figure(figsize=(4.2 * len(pairs), 3.8))
    axes = fig.subplots(1, len(pairs), squeeze=False)
    markers = dict(zip(archives, "os^v"))
    steps_all = np.concatenate([np.asarray(a.steps, float) for a in archives.values() if len(a)] or [np.zeros(1)])
    norm = matplotlib.colors.Normalize(vmin=steps_all.min(), vmax=max(steps_all.max(), steps_all.min() + 1))
    sc = None
    for ax, (i, j) in zip(axes[0], pairs):
        for label, archive in archives.items():
            if not len(archive):
                continue
            pts, steps = np.asarray(archive.points), np.asarray(archive.steps)
            front = archive.pareto_mask()
            sc = ax.scatter(pts[:, i], pts[:, j], c=steps, cmap="viridis", norm=norm, marker=markers[label],
                            s=28, label=label, alpha=0.85)
            ax.scatter(pts[front, i], pts[front, j], facecolors="none", edgecolors="red", s=90, linewidths=1.2,
                       marker=markers[label])
        ax.set_xlabel(f"{names[i]} {ARROWS[bool(first.maximise[i])]}")
        ax.set_ylabel(f"{names[j]} {ARROWS[bool(first.maximise[j])]}")
        ax.grid(alpha=0.3)
    axes[0][0].legend(loc="best", fontsize=8, title="red ring = Pareto-optimal", title_fontsize=7)
    if sc is not None:
        fig.colorbar(sc, ax=axes[0].tolist(), label="RL step")
    if title:
        fig.suptitle(title, fontsize=10)
    if path:
        save_figure(fig, path)
    return fig


def plot_weights(path: str | None, rows: Sequence[Mapping[str, Any]], names: Sequence[str], title: str = "") -> Figure:
    """The logged weight of every objective (`weight/<name>`) against the RL step."""
    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.subplots()
    for name in names:
        points = [(r["step"], r[f"weight/{name}"]) for r in rows if r.get(f"weight/{name}") is not None]
        if points:
            steps, values = zip(*points)
            ax.plot(steps, values, lw=1.4, label=name)
    ax.set_xlabel("RL step")
    ax.set_ylabel("weight")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    if title:
        ax.set_title(title, fontsize=10)
    if path:
        save_figure(fig, path)
    return fig
