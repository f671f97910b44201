"""Tasks from data and configured rewards, without subclassing `Task`: `DatasetTask` and the `files` task.

A DatasetTask turns raw rows into the columns the loop reads:

* `prompt`: `prompt_template` rendered with the row (`"{question} Answer within \\boxed{{}}."`; a field name
  may be dotted, `{extra_info.question}`; literal braces are doubled);
* `system` (when `system_prompt` is set, rendered the same way): the system turn, used when prompts go
  through the model's chat template, else written before the prompt;
* `answer`: the `answer_column` (any field), the gold answer reward functions receive;
* the `columns` listed (metadata), under their own names, passed to every reward function.

Rewards are config specs (`morl_jax.rewards.spec`). The validation objectives are named by `objectives`: a
reward name (the mean of that reward, in its direction) or `length` (the mean completion length in policy
tokens, minimised); by default every reward. The worst point is known when every objective's is (a reward
spec's `worst`; for `length`, `max_completion_len`); otherwise it is None and the loop takes the initial
model's point as the hypervolume reference.
"""

from __future__ import annotations

import abc
import string
from typing import Any, Mapping, Sequence

import numpy as np

from morl_jax.data.files import object_array, read_files, to_columns
from morl_jax.rewards import RewardSet, build_reward_set, parse_specs
from morl_jax.rewards.spec import RewardSpec
from morl_jax.tasks.base import Objective, Task, check_eval_batch, frozen_columns, register_task

LENGTH = "length"
SPLITS = ("train", "validation", "test")
RESERVED = ("prompt", "system", "answer", "completion_tokens")


def render(template: str, row: Mapping[str, Any], where: str) -> str:
    """`template` with `{field}` placeholders filled from `row` (dotted field names are looked up whole)."""
    out = []
    formatter = string.Formatter()
    try:
        parsed = list(formatter.parse(template))
    except ValueError as e:
        raise ValueError(f"{where} {template!r:.80} is not a valid template ({e}); write literal braces as "
                         "{{ and }}") from e
    for literal, field, spec, conversion in parsed:
        out.append(literal)
        if field is None:
            continue
        if field not in row:
            raise ValueError(f"{where} names field {field!r}, which the data does not have; fields: "
                             f"{', '.join(sorted(row))}")
        value = formatter.convert_field(row[field], conversion) if conversion else row[field]
        out.append(format(value, spec or ""))
    return "".join(out)


class DatasetTask(Task):
    """Rows per split (`load_rows`) + prompt template + configured rewards and objectives (module docstring)."""

    split_names = SPLITS

    def __init__(self, *, rewards: Sequence[Mapping[str, Any]], objectives: Sequence[str] | None = None,
                 prompt_template: str = "{prompt}", system_prompt: str = "", answer_column: str = "answer",
                 columns: Sequence[str] = (), max_completion_len: int | None = None,
                 default_weights: Sequence[float] | None = None, name: str = "dataset"):
        self.name = name
        self.specs: tuple[RewardSpec, ...] = parse_specs(rewards, "rewards")
        names = [s.name for s in self.specs]
        objectives = tuple(objectives) if objectives else tuple(names)
        unknown = [o for o in objectives if o not in names and o != LENGTH]
        if unknown or len(set(objectives)) != len(objectives):
            raise ValueError(f"objectives {list(objectives)}: each must be a reward name ({', '.join(names)}) or "
                             f"'{LENGTH}', without repeats")
        by_name = {s.name: s for s in self.specs}
        self.objectives = tuple(Objective(o, False) if o == LENGTH else Objective(o, by_name[o].maximise)
                                for o in objectives)
        if max_completion_len is not None and max_completion_len <= 0:
            raise ValueError(f"max_completion_len must be > 0, got {max_completion_len}")
        self.max_completion_len = max_completion_len
        reserved = [c for c in columns if c in RESERVED]
        if reserved:
            raise ValueError(f"columns {reserved} are reserved (the task fills {', '.join(RESERVED[:3])}; the "
                             "collector adds completion_tokens)")
        self.prompt_template, self.system_prompt = prompt_template, system_prompt
        self.answer_column, self.metadata_columns = answer_column, tuple(columns)
        weights = tuple(default_weights) if default_weights else (1.0 / len(names),) * len(names)
        if len(weights) != len(names):
            raise ValueError(f"default_weights has {len(weights)} entries for the {len(names)} rewards {names}")
        self.default_weights = weights
        build_reward_set(self.specs)  # imports and builds every reward now: a bad spec fails when the config is checked
        self._eval_rewards: RewardSet | None = None
        self._columns: dict[str, dict[str, np.ndarray]] = {}

    @abc.abstractmethod
    def load_rows(self, split: str) -> list[dict[str, Any]]:
        """The raw rows of `split` (dicts with the same keys), in a deterministic order."""

    def split(self, name: str) -> dict[str, np.ndarray]:
        self._check_split(name)
        if name not in self._columns:
            self._columns[name] = frozen_columns(self._build(name, self.load_rows(name)))
        return dict(self._columns[name])

    def _build(self, split: str, rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        where = f"task {self.name!r}, split {split!r}"
        if not rows:
            raise ValueError(f"{where}: no rows")
        first = rows[0]
        for key in (self.answer_column, *self.metadata_columns):
            if key not in first:
                raise ValueError(f"{where}: no field {key!r} (answer_column / columns); fields: "
                                 f"{', '.join(sorted(first))}")
        out = {"prompt": object_array(render(self.prompt_template, r, f"{where}: prompt_template") for r in rows),
               "answer": object_array(r[self.answer_column] for r in rows)}
        if self.system_prompt:
            out["system"] = object_array(render(self.system_prompt, r, f"{where}: system_prompt") for r in rows)
        metadata = to_columns([{k: r[k] for k in self.metadata_columns} for r in rows], where) \
            if self.metadata_columns else {}
        return {**out, **metadata}

    def reward_set(self) -> RewardSet:
        """A fresh RewardSet of the configured rewards, in order."""
        return build_reward_set(self.specs)

    @property
    def worst_point(self) -> np.ndarray | None:
        worst = {s.name: s.worst for s in self.specs}
        worst[LENGTH] = None if self.max_completion_len is None else float(self.max_completion_len)
        values = [worst[o.name] for o in self.objectives]
        return None if any(v is None for v in values) else np.array(values, dtype=np.float64)

    def evaluate(self, prompts: Sequence[str], completions: Sequence[str],
                 columns: Mapping[str, Any]) -> dict[str, float]:
        """Each objective (reward means in the rewards' own direction; `length` = mean `completion_tokens`), plus
        the mean of every reward that is not an objective. Stateful rewards are evaluated in eval mode on a
        set of their own, so validation never moves a training statistic."""
        completions = list(completions)
        check_eval_batch(prompts, completions, columns, ("completion_tokens",))
        if self._eval_rewards is None:
            self._eval_rewards = build_reward_set(self.specs).eval()
        rewards = self._eval_rewards
        values = rewards(prompts, completions, **dict(columns)) * rewards.signs[None, :]
        means = {name: float(np.mean(values[:, j])) for j, name in enumerate(rewards.names)}
        means[LENGTH] = float(np.mean(np.asarray(columns["completion_tokens"], dtype=np.float64)))
        out = {o.name: means[o.name] for o in self.objectives}
        out.update({name: value for name, value in means.items() if name not in out and name != LENGTH})
        return out


def _split_files(files: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(files) - set(SPLITS))
    missing = [s for s in SPLITS if s not in files]
    if unknown or missing:
        raise ValueError(f"files must map each of {', '.join(SPLITS)} to a file, list or glob pattern "
                         f"(.jsonl, .json, .parquet); {'unknown ' + str(unknown) if unknown else 'missing ' + str(missing)}")
    return dict(files)


@register_task("files")
class FilesTask(DatasetTask):
    """Your own data: `files={"train": ..., "validation": ..., "test": ...}` (paths or glob patterns of
    .jsonl / .json / .parquet files, relative to the working directory), plus the DatasetTask options."""

    def __init__(self, *, files: Mapping[str, Any], **options: Any):
        self.files = _split_files(files)
        super().__init__(name="files", **options)

    def load_rows(self, split: str) -> list[dict[str, Any]]:
        return read_files(self.files[split])
