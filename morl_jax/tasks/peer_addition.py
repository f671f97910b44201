"""The peer workload as a task: 512 prompts `{a}+{b}=` and the rewards accuracy and brevity.

The prompts the TRL and Tunix harnesses of morl_jax/benchmarks/peers read: `a, b ~ randint(0, 99)`
from `random.Random(0)`, answer a+b, file order; reward weights (1.0, 0.5). The validation and
test splits continue the same random stream, skipping pairs already used by an earlier split.
"""

from __future__ import annotations

import functools
import random
from typing import Any, Mapping, Sequence

import numpy as np

from morl_jax.rewards import RewardSet, brevity, peer_accuracy
from morl_jax.rewards.peer import MAX_COMPLETION_LENGTH, clean
from morl_jax.tasks.base import (Objective, Task, check_eval_batch, frozen_columns, register_task,
                                 style_probabilities)

NUM_PROMPTS = 512
PROMPT_SEED = 0
STYLES = ("answer", "explained", "wrong")
DEFAULT_STYLE_MIX = {"answer": 0.6, "explained": 0.2, "wrong": 0.2}


def peer_pairs(validation_size: int, test_size: int) -> dict[str, list[tuple[int, int]]]:
    """(a, b) pairs per split: train = the peer workload's 512 (duplicates kept, file order)."""
    rng = random.Random(PROMPT_SEED)
    train = [(rng.randint(0, 99), rng.randint(0, 99)) for _ in range(NUM_PROMPTS)]
    used, out = set(train), {"train": train}
    if validation_size + test_size > 100 * 100 - len(used):
        raise ValueError(f"validation_size + test_size must be <= {100 * 100 - len(used)} "
                         f"(the (a, b) pairs not in the train split), got {validation_size + test_size}")
    for split, size in (("validation", validation_size), ("test", test_size)):
        pairs: list[tuple[int, int]] = []
        while len(pairs) < size:
            pair = (rng.randint(0, 99), rng.randint(0, 99))
            if pair not in used:
                used.add(pair)
                pairs.append(pair)
        out[split] = pairs
    return out


@register_task("peer_addition")
class PeerAdditionTask(Task):
    """Two-number addition; objectives (accuracy up, length down), rewards (accuracy, brevity)."""

    name = "peer_addition"
    split_names = ("train", "validation", "test")
    objectives = (Objective("accuracy", True), Objective("length", False))
    default_weights = (1.0, 0.5)

    def __init__(self, *, validation_size: int = 64, test_size: int = 64,
                 max_completion_len: int = MAX_COMPLETION_LENGTH):
        self.max_completion_len = int(max_completion_len)
        self._pairs = peer_pairs(int(validation_size), int(test_size))
        self._columns: dict[str, dict[str, np.ndarray]] = {}

    def pairs(self, split: str) -> list[tuple[int, int]]:
        self._check_split(split)
        return self._pairs[split]

    def split(self, name: str) -> dict[str, np.ndarray]:
        if name not in self._columns:
            pairs = self.pairs(name)
            self._columns[name] = frozen_columns({
                "id": np.array([f"{name}-{i}" for i in range(len(pairs))], dtype=str),
                "prompt": np.array([f"{a}+{b}=" for a, b in pairs], dtype=str),
                "answer": np.array([a + b for a, b in pairs], dtype=np.int64),
                "answer_text": np.array([str(a + b) for a, b in pairs], dtype=str),
                "a": np.array([a for a, _ in pairs], dtype=np.int64),
                "b": np.array([b for _, b in pairs], dtype=np.int64),
            })
        return dict(self._columns[name])

    def reward_set(self, *, max_len: int | None = None) -> RewardSet:
        limit = self.max_completion_len if max_len is None else max_len
        return RewardSet({"accuracy": peer_accuracy,
                          "brevity": functools.update_wrapper(
                              functools.partial(brevity, max_len=limit), brevity)})

    @property
    def worst_point(self) -> np.ndarray:
        return np.array([0.0, float(self.max_completion_len)])

    def evaluate(self, prompts: Sequence[str], completions: Sequence[str],
                 columns: Mapping[str, Any]) -> dict[str, float]:
        """accuracy, length (mean characters after removing special tokens), brevity (mean reward)."""
        completions = list(completions)
        check_eval_batch(prompts, completions, columns, ("answer",))
        return {
            "accuracy": float(np.mean(peer_accuracy(prompts, completions, answer=columns["answer"]))),
            "length": float(np.mean([len(clean(c)) for c in completions])),
            "brevity": float(np.mean(brevity(prompts, completions, max_len=self.max_completion_len))),
        }

    def sft_examples(self, n: int, seed: int,
                     style_mix: Mapping[str, float] | None = None) -> list[tuple[str, str, str]]:
        """Styles: `answer` ("12"), `explained` ("12 since 5+7=12": right, longer), `wrong`."""
        probs = style_probabilities(DEFAULT_STYLE_MIX if style_mix is None else style_mix, STYLES)
        rng = random.Random(seed)
        pairs = self.pairs("train")
        out = []
        for _ in range(n):
            a, b = pairs[rng.randrange(len(pairs))]
            style = rng.choices(list(probs), list(probs.values()))[0]
            if style == "answer":
                text = str(a + b)
            elif style == "explained":
                text = f"{a + b} since {a}+{b}={a + b}"
            else:
                wrong = a + b + rng.choice((-10, -1, 1, 10))
                text = str(wrong if wrong >= 0 else a + b + 10)
            out.append((f"{a}+{b}=", text, style))
        return out
