r"""GSM8K and MATH as tasks, from the files a user downloaded (prepared once as TFDS ArrayRecord datasets).

Both default to the dynamic-weighting paper's setting: the prompt is the problem followed by "Let's think step by
step and output the final answer within \boxed{}.", the rewards are accuracy (last `\boxed{}`, math-verify),
conciseness (policy tokens below the running mean of all training lengths) and clarity, and the validation
objectives are accuracy, length (tokens, minimised) and clarity. Every DatasetTask option (rewards, objectives,
templates, system prompt) can be changed from the config, e.g. GDPO's GSM8K rewards in configs/gsm8k_gdpo.py.
"""

from __future__ import annotations

from typing import Any

from morl_jax.data import tfds_builders
from morl_jax.tasks.base import register_task
from morl_jax.tasks.dataset import DatasetTask

BOXED_INSTRUCTION = "Let's think step by step and output the final answer within \\boxed{}."
PAPER_REWARDS = (
    {"name": "accuracy", "fn": "math_accuracy", "worst": 0.0},
    {"name": "conciseness", "fn": "conciseness", "worst": 0.0},
    {"name": "clarity", "fn": "math_clarity", "worst": 0.0},
)
PAPER_OBJECTIVES = ("accuracy", "length", "clarity")
PAPER_WEIGHTS = (0.334, 0.333, 0.333)  # the paper's "balanced" weighting


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _paper_options(field: str, options: dict[str, Any]) -> dict[str, Any]:
    options.setdefault("rewards", PAPER_REWARDS)
    options.setdefault("prompt_template", "{" + field + "} " + _escape(BOXED_INSTRUCTION))
    if "objectives" not in options and options["rewards"] is PAPER_REWARDS:
        options["objectives"] = PAPER_OBJECTIVES
    if "default_weights" not in options and options["rewards"] is PAPER_REWARDS:
        options["default_weights"] = PAPER_WEIGHTS
    return options


@register_task("gsm8k")
class Gsm8kTask(DatasetTask):
    """GSM8K from `raw_dir` (see `morl_jax.data.tfds_builders`): the published train split minus
    `validation_size` problems drawn with `seed` (Hugging Face `train_test_split` semantics) for validation, and
    the published test split. Fields for templates: `question`, `solution`, `answer` (the number after `####`)."""

    def __init__(self, *, raw_dir: str = "data/gsm8k", data_dir: str = "", validation_size: int = 500,
                 seed: int = 42, **options: Any):
        self.raw_dir, self.data_dir = raw_dir, data_dir
        self.validation_size, self.seed = int(validation_size), int(seed)
        self._rows: dict[str, list[dict[str, Any]]] = {}
        super().__init__(name="gsm8k", **_paper_options("question", options))

    def load_rows(self, split: str) -> list[dict[str, Any]]:
        if not self._rows:
            builder = tfds_builders.prepare("gsm8k", self.raw_dir, self.data_dir)
            train = tfds_builders.load_split(builder, "train")
            if not 0 < self.validation_size < len(train):
                raise ValueError(f"gsm8k: validation_size must be in [1, {len(train) - 1}] (the train split has "
                                 f"{len(train)} problems), got {self.validation_size}")
            kept, held_out = tfds_builders.hf_train_test_split(len(train), self.validation_size, self.seed)
            self._rows = {"train": [train[i] for i in kept], "validation": [train[i] for i in held_out],
                          "test": tfds_builders.load_split(builder, "test")}
        return self._rows[split]


@register_task("math")
class MathTask(DatasetTask):
    """MATH from `raw_dir`: `config="math500"` (MATH-500 re-split 300/100/100 with seed 42, as the paper) or
    `lighteval` / `lighteval_<subject>` (see `morl_jax.data.tfds_builders`). Template fields: `problem`,
    `solution`, `answer`, `subject`, `level`, `unique_id`."""

    def __init__(self, *, raw_dir: str = "data/math500", data_dir: str = "", config: str = "math500",
                 **options: Any):
        names = [c.name for c in tfds_builders.MathFiles.BUILDER_CONFIGS]
        if config not in names:
            raise ValueError(f"unknown MATH config {config!r}; known: {', '.join(names)}")
        self.raw_dir, self.data_dir, self.config = raw_dir, data_dir, config
        self._builder = None
        super().__init__(name="math", **_paper_options("problem", options))

    def load_rows(self, split: str) -> list[dict[str, Any]]:
        if self._builder is None:
            self._builder = tfds_builders.prepare("math", self.raw_dir, self.data_dir, config=self.config)
        return tfds_builders.load_split(self._builder, split)

