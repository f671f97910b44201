"""ToolRL's tool-calling task (`rlla_4k`), the setting of SAW and GDPO's tool-calling experiments.

The system turn is the record's instruction (the tools and the output format), the user turn its input; the
gold answer is the reference output. Rewards (default): `format` in {0, 1} and `correctness` in [-3, 3]
(`morl_jax.rewards.toolrl`), both also the validation objectives. Splits: ToolRL's train / test split (see
`morl_jax.data.toolrl`), with `validation_size` train records drawn with `seed` (Hugging Face
`train_test_split` semantics) held out for validation.
"""

from __future__ import annotations

from typing import Any

from morl_jax.data import read_toolrl
from morl_jax.data.tfds_builders import hf_train_test_split
from morl_jax.tasks.base import register_task
from morl_jax.tasks.dataset import DatasetTask

DEFAULT_REWARDS = (
    {"name": "format", "fn": "toolrl_format", "worst": 0.0},
    {"name": "correctness", "fn": "toolrl_correctness", "worst": -3.0},
)


@register_task("toolcall")
class ToolCallTask(DatasetTask):
    """ToolRL data from `data_dir` (processed parquet or the raw records)."""

    def __init__(self, *, data_dir: str = "data/rlla_4k", validation_size: int = 128, seed: int = 42,
                 **options: Any):
        self.data_dir, self.validation_size, self.seed = data_dir, int(validation_size), int(seed)
        self._rows: dict[str, list[dict[str, Any]]] = {}
        options.setdefault("rewards", DEFAULT_REWARDS)
        options.setdefault("prompt_template", "{prompt}")
        options.setdefault("system_prompt", "{system}")
        super().__init__(name="toolcall", **options)

    def load_rows(self, split: str) -> list[dict[str, Any]]:
        if not self._rows:
            data = read_toolrl(self.data_dir)
            train = data["train"]
            if not 0 < self.validation_size < len(train):
                raise ValueError(f"toolcall: validation_size must be in [1, {len(train) - 1}] (the train split has "
                                 f"{len(train)} records), got {self.validation_size}")
            kept, held_out = hf_train_test_split(len(train), self.validation_size, self.seed)
            self._rows = {"train": [train[i] for i in kept], "validation": [train[i] for i in held_out],
                          "test": data["test"]}
        return self._rows[split]
