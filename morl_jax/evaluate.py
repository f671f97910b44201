"""Validation: decode a fixed set of prompts -> the task's objective vector -> Pareto archive -> plot.

Two points per evaluation: `greedy` (one argmax decoding per prompt) and `sampled` (the mean over
`num_samples` samples per prompt at the training temperature). Greedy decoding of a tiny model can flip a whole
split between styles from one checkpoint to the next; the sampled point moves smoothly.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from flax import nnx

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from morl_jax.models import Tokenizer, decode_completions, encode_prompts, generate  # noqa: E402
from morl_jax.parallel import put_batch  # noqa: E402
from morl_jax.pareto import ParetoArchive  # noqa: E402
from morl_jax.tasks import Task  # noqa: E402

MODES = ("greedy", "sampled")


@dataclasses.dataclass(frozen=True)
class EvalSettings:
    num_prompts: int = 64
    num_samples: int = 4
    max_new_tokens: int = 64
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0


class Evaluator:
    """Decodes the first `num_prompts` prompts of a split and scores them with `task.evaluate`."""

    def __init__(self, task: Task, tokenizer: Tokenizer, graphdef: nnx.GraphDef, split: str,
                 settings: EvalSettings, prompt_len: int, mesh: jax.sharding.Mesh | None = None):
        columns = task.split(split)
        n = min(settings.num_prompts, len(columns["prompt"]))
        self.columns = {k: np.asarray(v)[:n] for k, v in columns.items()}
        self.task, self.tokenizer, self.graphdef, self.settings = task, tokenizer, graphdef, settings
        tokens, mask = encode_prompts(tokenizer, list(self.columns["prompt"]), length=prompt_len)
        reps = settings.num_samples
        put = (lambda x: jax.tree.map(jnp.asarray, x)) if mesh is None else (lambda x: put_batch(x, mesh))
        self._prompts = put((tokens, mask))
        self._sampled_prompts = put((np.repeat(tokens, reps, 0), np.repeat(mask, reps, 0)))
        self._sampled_columns = {k: np.repeat(v, reps, 0) for k, v in self.columns.items()}

    def _decode(self, params: Any, prompts: tuple[jax.Array, jax.Array], key: jax.Array, greedy: bool) -> list[str]:
        s = self.settings
        rollout = generate(self.graphdef, params, *prompts, key, max_new_tokens=s.max_new_tokens,
                           eos_id=self.tokenizer.eos_id, pad_id=self.tokenizer.pad_id, temperature=s.temperature,
                           top_k=s.top_k, top_p=s.top_p, greedy=greedy)
        tokens, mask = jax.device_get((rollout.tokens, rollout.completion_mask))
        return decode_completions(self.tokenizer, tokens, mask)

    def __call__(self, params: Any, key: jax.Array) -> dict[str, dict[str, Any]]:
        """{"greedy": {...}, "sampled": {...}}: objective values and diagnostics, plus a few example texts."""
        out = {}
        greedy = self._decode(params, self._prompts, key, greedy=True)
        out["greedy"] = self.task.evaluate(list(self.columns["prompt"]), greedy, self.columns)
        sampled = self._decode(params, self._sampled_prompts, key, greedy=False)
        out["sampled"] = self.task.evaluate(list(self._sampled_columns["prompt"]), sampled, self._sampled_columns)
        out["examples"] = [{"prompt": str(p), "greedy": g} for p, g in zip(self.columns["prompt"][:3], greedy[:3])]
        return out

    def point(self, result: Mapping[str, float]) -> np.ndarray:
        """The objective vector (task objective order) of one mode's result."""
        return np.array([result[name] for name in self.task.objective_names], dtype=np.float64)


def plot_fronts(path: str, archives: Mapping[str, ParetoArchive], title: str = "") -> None:
    """Pairwise 2-D projections of every validation point, coloured by step; Pareto-optimal points ringed."""
    first = next(iter(archives.values()))
    names = first.names
    pairs = list(itertools.combinations(range(len(names)), 2)) or [(0, 0)]
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.2 * len(pairs), 3.8), squeeze=False)
    markers = dict(zip(archives, "os^v"))
    steps_all = np.concatenate([np.asarray(a.steps, float) for a in archives.values() if len(a)] or [np.zeros(1)])
    norm = matplotlib.colors.Normalize(vmin=steps_all.min(), vmax=max(steps_all.max(), steps_all.min() + 1))
    for ax, (i, j) in zip(axes[0], pairs):
        for mode, archive in archives.items():
            if not len(archive):
                continue
            pts, steps = np.asarray(archive.points), np.asarray(archive.steps)
            front = archive.pareto_mask()
            sc = ax.scatter(pts[:, i], pts[:, j], c=steps, cmap="viridis", norm=norm, marker=markers[mode],
                            s=28, label=mode, alpha=0.85)
            ax.scatter(pts[front, i], pts[front, j], facecolors="none", edgecolors="red", s=90, linewidths=1.2,
                       marker=markers[mode])
        arrow = {True: "↑", False: "↓"}
        ax.set_xlabel(f"{names[i]} {arrow[bool(first.maximise[i])]}")
        ax.set_ylabel(f"{names[j]} {arrow[bool(first.maximise[j])]}")
        ax.grid(alpha=0.3)
    axes[0][0].legend(loc="best", fontsize=8, title="red ring = Pareto-optimal", title_fontsize=7)
    fig.colorbar(sc, ax=axes[0].tolist(), label="RL step")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
