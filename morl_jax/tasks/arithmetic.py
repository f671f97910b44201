"""The built-in arithmetic benchmark: accuracy / conciseness / clarity, as in the paper, at toy size.

Problems and splits live in `arithmetic_problems`, solution styles in `arithmetic_styles`,
gaming diagnostics in `arithmetic_diagnostics`; this module wires them into a registered Task.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from morl_jax.rewards import Conciseness, RewardSet, accuracy, clarity
from morl_jax.rewards.conciseness import MODES as CONCISENESS_MODES
from morl_jax.tasks import arithmetic_diagnostics, arithmetic_styles
from morl_jax.tasks.arithmetic_problems import (LEVELS, SPLIT_FRACTIONS, Level, Problem,
                                                generate_split, split_of)
from morl_jax.tasks.base import Objective, Task, check_eval_batch, frozen_columns, register_task

__all__ = ["ArithmeticTask", "LEVELS", "Level", "Problem", "generate_split", "problem_columns",
           "split_of"]


def problem_columns(problems: Sequence[Problem]) -> dict[str, np.ndarray]:
    """Dataset columns of a list of problems."""
    return {
        "id": np.array([p.id for p in problems], dtype=str),
        "prompt": np.array([p.prompt for p in problems], dtype=str),
        "answer": np.array([p.answer for p in problems], dtype=np.int64),
        "answer_text": np.array([str(p.answer) for p in problems], dtype=str),
        "expression": np.array([p.expression for p in problems], dtype=str),
        "start": np.array([p.start for p in problems], dtype=np.int64),
        "num_ops": np.array([p.num_ops for p in problems], dtype=np.int64),
        "difficulty": np.array([p.difficulty for p in problems], dtype=np.int64),
    }


def parity(prompts: Sequence[str], completions: Sequence[str], *, completion_tokens: Sequence[int],
           **_: Any) -> np.ndarray:
    """1.0 when the completion has an even number of tokens: independent of whether it is right, short or clear."""
    del prompts, completions
    return (np.asarray(completion_tokens) % 2 == 0).astype(np.float64)


@register_task("arithmetic")
class ArithmeticTask(Task):
    """Multi-step arithmetic word problems; objectives (accuracy up, length down, clarity up).

    Rewards (in order): accuracy, conciseness (binary vs the running mean, or `linear`), clarity.
    `max_completion_len` is the generation limit: the linear conciseness scale and the length
    coordinate of `worst_point`. The default 128 holds every style's solution at every level (the
    longest, verbose at level 6, has about 125 characters; 96 suffices for levels 1-5).
    """

    name = "arithmetic"
    split_names = tuple(s for s, _ in SPLIT_FRACTIONS)
    objectives = (Objective("accuracy", True), Objective("length", False),
                  Objective("clarity", True))
    default_weights = (0.334, 0.333, 0.333)  # the paper's "balanced" weighting

    def __init__(self, *, seed: int = 0, train_size: int = 2000, validation_size: int = 100,
                 test_size: int = 100, difficulties: Sequence[int] = (1, 2),
                 max_completion_len: int = 128, conciseness_mode: str = "binary"):
        unknown = sorted(set(difficulties) - set(LEVELS))
        if unknown or not difficulties:
            raise ValueError(f"difficulties must be a non-empty subset of {sorted(LEVELS)}, "
                             f"got {list(difficulties)}")
        self.seed = int(seed)
        self.sizes = {"train": int(train_size), "validation": int(validation_size),
                      "test": int(test_size)}
        if min(self.sizes.values()) < 0:
            raise ValueError(f"split sizes must be >= 0, got {self.sizes}")
        self.difficulties = tuple(int(d) for d in difficulties)
        self.max_completion_len = int(max_completion_len)
        if self.max_completion_len <= 0:
            raise ValueError(f"max_completion_len must be > 0, got {max_completion_len}")
        if conciseness_mode not in CONCISENESS_MODES:
            raise ValueError(f"unknown conciseness_mode {conciseness_mode!r}; "
                             f"known: {', '.join(CONCISENESS_MODES)}")
        self.conciseness_mode = conciseness_mode
        self._problems: dict[str, list[Problem]] = {}
        self._columns: dict[str, dict[str, np.ndarray]] = {}

    def problems(self, split: str) -> list[Problem]:
        """The Problem records of a split (generated once, then cached)."""
        self._check_split(split)
        if split not in self._problems:
            self._problems[split] = generate_split(split, self.sizes[split], self.seed,
                                                   self.difficulties)
        return self._problems[split]

    def split(self, name: str) -> dict[str, np.ndarray]:
        if name not in self._columns:
            self._columns[name] = frozen_columns(problem_columns(self.problems(name)))
        return dict(self._columns[name])

    def reward_set(self, *, conciseness_mode: str | None = None, max_len: int | None = None,
                   length_fn: Callable[[str], float] | None = None,
                   include: Sequence[str] = ("accuracy", "conciseness", "clarity")) -> RewardSet:
        """The training rewards named in `include`, in that order: accuracy, conciseness (policy tokens from the
        `completion_tokens` column, or `length_fn` of the text), clarity, and parity (1 for an even number of
        completion tokens: a reward the task's quality does not bear on, for experiments with an independent
        objective)."""
        conciseness = Conciseness(
            self.conciseness_mode if conciseness_mode is None else conciseness_mode,
            max_len=self.max_completion_len if max_len is None else max_len, length_fn=length_fn)
        available = {"accuracy": accuracy, "conciseness": conciseness, "clarity": clarity, "parity": parity}
        unknown = [name for name in include if name not in available]
        if unknown or not include or len(set(include)) != len(include):
            raise ValueError(f"include must name distinct rewards of {sorted(available)}, got {list(include)}")
        return RewardSet({name: available[name] for name in include})

    @property
    def worst_point(self) -> np.ndarray:
        """The hypervolume reference: 5 % of each objective's range beyond its worst value (accuracy and clarity
        below 0, length above the generation limit), so that a checkpoint with accuracy or clarity 0, or a
        completion at the limit, still adds its box instead of touching the reference."""
        limit = float(self.max_completion_len)
        return np.array([-0.05, 1.05 * limit, -0.05])

    def evaluate(self, prompts: Sequence[str], completions: Sequence[str],
                 columns: Mapping[str, Any]) -> dict[str, float]:
        """accuracy, length (mean policy tokens, the `completion_tokens` column), clarity, and diagnostics:

        answer_present (a parsable answer), steps_written / steps_needed (means),
        step_errors (mean wrong equations), steps_short_rate (fewer equations than operations),
        clear_without_steps_rate (clarity 1 with < 2 equations: empty markers),
        correct_with_step_errors_rate (right answer, some wrong equation).
        """
        completions = list(completions)
        check_eval_batch(prompts, completions, columns, ("answer", "num_ops", "completion_tokens"))
        facts = [arithmetic_diagnostics.diagnose(c, a, k)
                 for c, a, k in zip(completions, columns["answer"], columns["num_ops"])]

        def rate(key: str | Callable[[dict[str, Any]], float]) -> float:
            get = key if callable(key) else (lambda f: f[key])
            return float(np.mean([float(get(f)) for f in facts]))

        return {
            "accuracy": float(np.mean(accuracy(prompts, completions, answer=columns["answer"]))),
            "length": float(np.mean(np.asarray(columns["completion_tokens"], dtype=np.float64))),
            "clarity": float(np.mean(clarity(prompts, completions))),
            "answer_present": rate(lambda f: f["answer"] is not None),
            "steps_written": rate("steps_written"),
            "steps_needed": rate("num_ops"),
            "step_errors": rate("step_errors"),
            "steps_short_rate": rate(lambda f: f["steps_written"] < f["num_ops"]),
            "clear_without_steps_rate": rate(lambda f: f["clear"] and f["steps_written"] < 2),
            "correct_with_step_errors_rate": rate(lambda f: f["correct"] and f["step_errors"] > 0),
        }

    def sft_examples(self, n: int, seed: int,
                     style_mix: Mapping[str, float] | None = None) -> list[tuple[str, str, str]]:
        """n examples from the train split (cycling through seeded permutations if n > size)."""
        train = self.problems("train")
        if n > 0 and not train:
            raise ValueError("sft_examples needs a non-empty train split (train_size > 0)")
        rng = random.Random(seed)
        chosen: list[Problem] = []
        while len(chosen) < n:
            order = list(range(len(train)))
            rng.shuffle(order)
            chosen.extend(train[i] for i in order[:n - len(chosen)])
        return arithmetic_styles.sft_examples(chosen, style_mix, rng.randrange(2**32))
