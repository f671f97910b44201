"""Any reasoning-gym dataset as a task: its questions as prompts, its answers as gold, its scorer as a reward.

    task.name = "reasoning_gym"
    task.kwargs = dict(dataset="basic_arithmetic", dataset_kwargs=dict(min_terms=2, max_terms=2), seed=0, ...)

reasoning-gym generates problems offline and deterministically from a seed; the train, validation and test
splits come from the seeds `seed`, `seed + 1` and `seed + 2`, and a validation or test question that an earlier
split already holds is skipped (generation continues until the split is full), so no question is in two splits.
Columns: `prompt` (the template over `question`), `answer`, `entry` (the whole generated item, which the scorer
reads) and any `columns` named from the item's metadata. Default reward: the dataset's scorer on the last
`\\boxed{}` (`reasoning_gym_score`); the paper's math rewards or any others can be configured instead.
"""

from __future__ import annotations

from typing import Any, Mapping

from morl_jax.tasks.base import register_task
from morl_jax.tasks.dataset import DatasetTask

DEFAULT_REWARDS = ({"name": "score", "fn": "reasoning_gym_score", "worst": 0.0},)
DEFAULT_TEMPLATE = "{question} Give the final answer within \\boxed{{}}."


@register_task("reasoning_gym")
class ReasoningGymTask(DatasetTask):
    """A reasoning-gym dataset (`dataset`, built with `dataset_kwargs`), splits of the given sizes."""

    def __init__(self, *, dataset: str, dataset_kwargs: Mapping[str, Any] | None = None, seed: int = 0,
                 train_size: int = 1000, validation_size: int = 100, test_size: int = 100, **options: Any):
        import reasoning_gym

        known = sorted(reasoning_gym.factory.DATASETS)
        if dataset not in known:
            raise ValueError(f"unknown reasoning-gym dataset {dataset!r}; known: {', '.join(known)}")
        self.dataset, self.dataset_kwargs, self.seed = dataset, dict(dataset_kwargs or {}), int(seed)
        self.sizes = {"train": int(train_size), "validation": int(validation_size), "test": int(test_size)}
        if min(self.sizes.values()) < 1:
            raise ValueError(f"split sizes must be >= 1, got {self.sizes}")
        try:
            reasoning_gym.create_dataset(dataset, size=1, seed=self.seed, **self.dataset_kwargs)
        except (TypeError, ValueError, AssertionError) as e:
            raise ValueError(f"reasoning-gym dataset {dataset!r} rejects dataset_kwargs {self.dataset_kwargs}: {e}") from e
        self._rows: dict[str, list[dict[str, Any]]] = {}
        options["columns"] = ("entry", *options.get("columns", ()))
        options.setdefault("rewards", DEFAULT_REWARDS)
        options.setdefault("prompt_template", DEFAULT_TEMPLATE)
        super().__init__(name="reasoning_gym", **options)

    def load_rows(self, split: str) -> list[dict[str, Any]]:
        if not self._rows:
            self._rows = self._generate()
        return self._rows[split]

    def _generate(self) -> dict[str, list[dict[str, Any]]]:
        import reasoning_gym

        seen: set[str] = set()
        out = {}
        for offset, split in enumerate(("train", "validation", "test")):
            size, rows, attempt = self.sizes[split], [], 0
            taken: set[str] = set()
            while len(rows) < size:
                batch = reasoning_gym.create_dataset(self.dataset, size=2 * size,
                                                     seed=self.seed + offset + 1000 * attempt, **self.dataset_kwargs)
                for item in batch:
                    if split != "train" and (item["question"] in seen or item["question"] in taken):
                        continue
                    taken.add(item["question"])
                    rows.append({**item["metadata"], "question": item["question"], "answer": str(item["answer"]),
                                 "entry": item})
                    if len(rows) == size:
                        break
                attempt += 1
                if attempt > 20:
                    raise ValueError(f"reasoning-gym dataset {self.dataset!r} yields fewer than {size} {split} "
                                     "questions not in an earlier split; lower the split sizes")
            seen.update(taken)
            out[split] = rows
        return out
