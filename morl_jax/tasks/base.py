"""The Task interface (prompt splits, the K rewards, the evaluation objectives) and its registry."""

from __future__ import annotations

import abc
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np

from morl_jax.rewards import RewardSet

CHARACTERS = "0123456789+-*= abcdefghijklmnopqrstuvwxyz.,:;?!()<>/'\"_#%&@A"
"""The 60 non-special symbols of the 64-id character tokenizer; built-in task text uses only these.

The peer workload lists `...@ABCDEFGHI` but keeps the first 64 tokens (4 specials + 60), so `A`
is the only upper-case letter in the vocabulary."""


class Objective(NamedTuple):
    """One evaluation objective: its name and whether larger is better."""
    name: str
    maximise: bool


class Task(abc.ABC):
    """A prompt source with its K reward functions and its validation objective vector.

    Required: `split`, `reward_set`, `evaluate` (the objectives; extra diagnostics are optional). Optional:
    `sft_examples` (without them the loop skips the supervised warm start, `has_sft_examples` is False) and
    `worst_point` (None: the hypervolume reference falls back to the initial model's point).
    """

    name: str
    split_names: tuple[str, ...]
    objectives: tuple[Objective, ...]
    default_weights: tuple[float, ...]
    max_completion_len: int

    @abc.abstractmethod
    def split(self, name: str) -> dict[str, np.ndarray]:
        """Columns of a split: at least `prompt`, plus the metadata the reward functions need."""

    @abc.abstractmethod
    def reward_set(self, **options: Any) -> RewardSet:
        """A fresh RewardSet with the task's K training objectives, in order."""

    @abc.abstractmethod
    def evaluate(self, prompts: Sequence[str], completions: Sequence[str],
                 columns: Mapping[str, Any]) -> dict[str, float]:
        """The objective vector (keys = objective names) plus diagnostics, as plain floats."""

    def sft_examples(self, n: int, seed: int,
                     style_mix: Mapping[str, float] | None = None) -> list[tuple[str, str, str]]:
        """n supervised (prompt, completion, style) examples drawn from the train split (optional)."""
        raise NotImplementedError(f"task {self.name!r} provides no SFT examples")

    @property
    def has_sft_examples(self) -> bool:
        """Whether the task overrides `sft_examples` (a supervised warm start is possible)."""
        return type(self).sft_examples is not Task.sft_examples

    @property
    def worst_point(self) -> np.ndarray | None:
        """Default hypervolume reference point, in `objectives` order; None when the task does not know one."""
        return None

    @property
    def objective_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.objectives)

    @property
    def maximise(self) -> np.ndarray:
        return np.array([o.maximise for o in self.objectives], dtype=bool)

    def _check_split(self, name: str) -> None:
        if name not in self.split_names:
            raise KeyError(f"task {self.name!r} has no split {name!r}; splits: "
                           f"{', '.join(self.split_names)}")


def frozen_columns(columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Read-only arrays, so a cached split cannot be changed by a caller."""
    out = {}
    for k, v in columns.items():
        v = np.asarray(v)
        v.flags.writeable = False
        out[k] = v
    return out


def check_eval_batch(prompts: Sequence[str], completions: Sequence[str],
                     columns: Mapping[str, Any], needed: Sequence[str]) -> None:
    """A non-empty batch with one prompt, one completion and one entry of each needed column per sample."""
    n = len(completions)
    if n == 0:
        raise ValueError("evaluate needs at least one completion")
    missing = [k for k in needed if k not in columns]
    if missing:
        raise KeyError(f"evaluate needs column(s) {missing}; got {sorted(columns)}")
    sizes = {"prompts": len(prompts), **{k: len(columns[k]) for k in needed}}
    wrong = {k: v for k, v in sizes.items() if v != n}
    if wrong:
        raise ValueError(f"{n} completions but {wrong}")


def style_probabilities(style_mix: Mapping[str, float], styles: Sequence[str]) -> dict[str, float]:
    """Validate a style -> probability mix and normalise it to sum to 1."""
    unknown = sorted(set(style_mix) - set(styles))
    if unknown:
        raise KeyError(f"unknown style(s) {unknown}; known: {', '.join(styles)}")
    if any(p < 0 for p in style_mix.values()) or sum(style_mix.values()) <= 0:
        raise ValueError(f"style probabilities must be >= 0 with a positive sum, got {dict(style_mix)}")
    total = float(sum(style_mix.values()))
    return {s: float(p) / total for s, p in style_mix.items() if p > 0}


_TASKS: dict[str, Callable[..., Task]] = {}


def register_task(name: str):
    """Decorator registering a Task class (or factory) under `name`."""

    def _register(factory: Callable[..., Task]) -> Callable[..., Task]:
        if name in _TASKS and _TASKS[name] is not factory:
            raise ValueError(f"task {name!r} is already registered")
        _TASKS[name] = factory
        return factory

    return _register


def task_names() -> tuple[str, ...]:
    return tuple(sorted(_TASKS))


def task_factory(name: str) -> Callable[..., Task]:
    """The class (or factory) registered as `name`, e.g. to inspect its options."""
    if name not in _TASKS:
        raise KeyError(f"unknown task {name!r}; known: {', '.join(task_names())}")
    return _TASKS[name]


def get_task(name: str, **kwargs: Any) -> Task:
    """Build the task registered as `name` with its options."""
    if name not in _TASKS:
        raise KeyError(f"unknown task {name!r}; known: {', '.join(task_names())}")
    return _TASKS[name](**kwargs)
