"""Scoring an aggregate on a task split: decode with the aggregate, score with the task, normalise the objectives.

`MixtureEvaluator` follows the protocol of `evaluate.Validator`'s sampled point (the first `num_prompts` prompts
of a split, `num_samples` completions each at the sampling temperature, `task.evaluate` on all of them), so its
points compare with the validation points a training run logs. `ObjectiveSpace` maps objective vectors to
normalised, maximised coordinates (the task's worst point at 0, an ideal point at 1) in which preferences,
utilities and front metrics are defined.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np

from morl_jax import models, tasks
from morl_jax.aggregation.experts import Experts
from morl_jax.aggregation.levels import Aggregator, get_aggregator
from morl_jax.aggregation.sampling import generate, prompt_hidden
from morl_jax.rollout import prompt_texts


@dataclasses.dataclass(frozen=True)
class ObjectiveSpace:
    """names, maximise [M], worst [M] and ideal [M] points in the objectives' own units."""

    names: tuple[str, ...]
    maximise: np.ndarray
    worst: np.ndarray
    ideal: np.ndarray

    @classmethod
    def of_task(cls, task: tasks.Task, ideal: Sequence[float] | None = None) -> ObjectiveSpace:
        """The task's objectives between its worst point and `ideal` (default: 1 for a maximised objective, 0 for
        a minimised one, which fits rates and lengths such as the arithmetic task's)."""
        if task.worst_point is None:
            raise ValueError(f"task {task.name!r} has no worst point, which the normalised objectives start from")
        worst = np.asarray(task.worst_point, dtype=np.float64)
        best = (np.where(task.maximise, 1.0, 0.0) if ideal is None else np.asarray(ideal, dtype=np.float64))
        if best.shape != worst.shape or np.any(np.where(task.maximise, best <= worst, best >= worst)):
            raise ValueError(f"ideal point {best.tolist()} must beat the worst point {worst.tolist()} in every "
                             f"objective {task.objective_names}")
        return cls(tuple(task.objective_names), np.asarray(task.maximise, dtype=bool), worst, best)

    def normalise(self, points: Any) -> np.ndarray:
        """(x − worst) / (ideal − worst): maximised, 0 at the worst point and 1 at the ideal one."""
        return (np.asarray(points, dtype=np.float64) - self.worst) / (self.ideal - self.worst)

    def point(self, result: Mapping[str, float]) -> np.ndarray:
        return np.array([result[n] for n in self.names], dtype=np.float64)


@dataclasses.dataclass
class Decoded:
    """The texts of one decoding (prompts, completions, columns with `completion_tokens`), its wall time and
    the number of completion tokens generated."""

    prompts: list[str]
    completions: list[str]
    columns: dict[str, np.ndarray]
    seconds: float
    tokens: int


class MixtureEvaluator:
    """Decodes a split's first `num_prompts` prompts `num_samples` times each with an aggregate of `experts`.

    Rows are decoded in batches of at most `max_rows` (the last one padded), so every call compiles one shape.
    """

    def __init__(self, task: tasks.Task, tokenizer: models.Tokenizer, experts: Experts, *, prompt_len: int,
                 max_new_tokens: int, temperature: float, num_prompts: int, num_samples: int, chat: bool = False,
                 max_rows: int = 256):
        if num_prompts < 1 or num_samples < 1 or max_rows < 1:
            raise ValueError(f"MixtureEvaluator: need num_prompts, num_samples, max_rows >= 1, got {num_prompts}, "
                             f"{num_samples}, {max_rows}")
        self.task, self.tokenizer, self.experts = task, tokenizer, experts
        self.prompt_len, self.max_new_tokens, self.temperature = prompt_len, max_new_tokens, temperature
        self.num_prompts, self.num_samples, self.chat, self.max_rows = num_prompts, num_samples, chat, max_rows
        self._columns: dict[str, dict[str, np.ndarray]] = {}

    def columns(self, split: str, num_prompts: int | None = None) -> dict[str, np.ndarray]:
        """The first `num_prompts` (default: the evaluator's) rows of a split's columns."""
        n = self.num_prompts if num_prompts is None else num_prompts
        if (split, n) not in self._columns:
            columns = self.task.split(split)
            self._columns[(split, n)] = {k: np.asarray(v)[:n] for k, v in columns.items()}
        return self._columns[(split, n)]

    def encode(self, columns: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Left-padded prompt tokens and mask [n, P] of `columns`, as the rollout collector encodes them."""
        prompts, systems = prompt_texts(columns)
        return models.encode_prompts(self.tokenizer, prompts, length=self.prompt_len, chat=self.chat,
                                     systems=systems)

    def contexts(self, columns: Mapping[str, Any]) -> np.ndarray:
        """The shared start's final hidden state at each prompt's last token [n, D]."""
        tokens, mask = self.encode(columns)
        return np.asarray(prompt_hidden(self.experts.graphdef, self.experts.start, tokens, mask))

    def decode(self, aggregator: str | Aggregator, weights: Any, columns: Mapping[str, Any], key: jax.Array, *,
               num_samples: int | None = None) -> Decoded:
        """`num_samples` (default: the evaluator's) completions of every prompt of `columns`; `weights` is [K] or
        one row per prompt [n, K]."""
        agg = get_aggregator(aggregator)
        s = self.num_samples if num_samples is None else num_samples
        tokens, mask = self.encode(columns)
        n = len(tokens)
        w = np.asarray(weights, dtype=np.float64)
        w = np.repeat(w, s, axis=0) if w.ndim == 2 and len(w) == n else w
        if w.ndim == 2 and len(w) != n * s:
            raise ValueError(f"decode: per-prompt weights need one row per prompt ({n}), got {len(weights)}")
        tokens, mask = np.repeat(tokens, s, axis=0), np.repeat(mask, s, axis=0)
        rows = len(tokens)
        size = min(self.max_rows, rows)
        out_tokens, out_mask = [], []
        start_time = time.time()
        for chunk, first in enumerate(range(0, rows, size)):
            index = np.minimum(np.arange(first, first + size), rows - 1)  # the last batch repeats its last row
            chunk_weights = w[index] if w.ndim == 2 else w
            out = generate(agg, self.experts, chunk_weights, tokens[index], mask[index], jax.random.fold_in(key, chunk),
                           max_new_tokens=self.max_new_tokens, eos_id=self.tokenizer.eos_id,
                           pad_id=self.tokenizer.pad_id, temperature=self.temperature)
            t, m = jax.device_get((out.tokens, out.completion_mask))
            keep = min(size, rows - first)
            out_tokens.append(t[:keep])
            out_mask.append(m[:keep])
        seconds = time.time() - start_time
        completion_tokens, completion_mask = np.concatenate(out_tokens), np.concatenate(out_mask)
        counts = (completion_mask & (completion_tokens != self.tokenizer.eos_id)).sum(axis=1)
        prompts, _ = prompt_texts(columns)
        return Decoded(prompts=[p for p in prompts for _ in range(s)],
                       columns={**{k: np.repeat(np.asarray(v), s, axis=0) for k, v in columns.items()},
                                "completion_tokens": counts.astype(np.int64)},
                       completions=models.decode_completions(self.tokenizer, completion_tokens, completion_mask),
                       seconds=seconds, tokens=int(completion_mask.sum()))

    def evaluate(self, decoded: Decoded) -> dict[str, float]:
        """The task's objectives and diagnostics of a decoding (means over every completion)."""
        return self.task.evaluate(decoded.prompts, decoded.completions, decoded.columns)

    def per_sample(self, decoded: Decoded, space: ObjectiveSpace) -> np.ndarray:
        """Every completion's own objective vector, normalised [N, M] (the bandit's and router's rewards)."""
        points = []
        for i in range(len(decoded.completions)):
            result = self.task.evaluate([decoded.prompts[i]], [decoded.completions[i]],
                                        {k: v[i:i + 1] for k, v in decoded.columns.items()})
            points.append(space.point(result))
        return space.normalise(np.array(points))
