"""Validation: fixed prompts of a selection split and a test split -> objective vectors -> Pareto archives.

Two points per split and evaluation: `greedy` (one argmax decoding per prompt) and `sampled` (the mean over
`num_samples` samples per prompt at the training temperature; greedy decoding of a tiny model can flip a whole
split between styles from one checkpoint to the next, the sampled point moves smoothly). The selection split
(validation) feeds the weight optimizers' signals and chooses the Pareto-optimal checkpoints; the test split
reports them, so no checkpoint is selected and reported on the same prompts.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
from etils import epath

from morl_jax.pareto import ParetoArchive, mean_pareto_step
from morl_jax.rollout import RolloutCollector
from morl_jax.tasks import Task

MODES = ("greedy", "sampled")
REFERENCES = ("worst", "initial")


@dataclasses.dataclass(frozen=True)
class EvalSettings:
    """num_prompts (first prompts of each split), num_samples (per prompt, sampled point), the selection and
    test splits ("" = no test split), the archives' hypervolume reference ("worst": the task's worst point;
    "initial": the initial model's point), and the validation that feeds weight optimizers: its mode and its
    archive's reference (the paper: greedy, the initial model's point)."""

    num_prompts: int = 64
    num_samples: int = 4
    split: str = "validation"
    test_split: str = "test"
    reference: str = "worst"
    signal_mode: str = "greedy"
    signal_reference: str = "initial"

    @property
    def splits(self) -> tuple[str, ...]:
        return (self.split,) + ((self.test_split,) if self.test_split else ())


@dataclasses.dataclass
class Summary:
    """What a finished run reports (`summary.json`). Points are {objective: value}; nested by split, then mode.

    `pareto[mode]` lists the checkpoints that are Pareto-optimal on the selection split, each with its
    selection-split and test-split points; `mean_pareto_step[mode]` is their mean step (the paper's "fewer
    training steps" measure)."""

    workdir: str
    objectives: list[str]
    maximise: list[bool]
    steps: int
    selection_split: str
    test_split: str
    initial: dict[str, dict[str, dict[str, float]]]
    final: dict[str, dict[str, dict[str, float]]]
    hypervolume: dict[str, dict[str, float]]
    reference: dict[str, dict[str, list[float]]]
    pareto: dict[str, list[dict[str, Any]]]
    mean_pareto_step: dict[str, float]
    timings: dict[str, float]
    files: dict[str, str]

    @property
    def report_split(self) -> str:
        """The split results are reported on: the test split when there is one."""
        return self.test_split or self.selection_split

    def save(self, path: epath.PathLike) -> None:
        epath.Path(path).write_text(json.dumps(dataclasses.asdict(self), indent=1))

    @classmethod
    def load(cls, path: epath.PathLike) -> Summary:
        return cls(**json.loads(epath.Path(path).read_text()))


class Validator:
    """Decodes the first `num_prompts` prompts of each split, scores them with `task.evaluate`, and keeps one
    Pareto archive per split and mode plus, for weight optimizers that read validation signals, a signal
    archive. Results are cached per step, so a report and a signal at the same step decode once."""

    def __init__(self, task: Task, collector: RolloutCollector, settings: EvalSettings, key: jax.Array):
        self.task, self.collector, self.settings, self.key = task, collector, settings, key
        self.columns = {}
        for split in settings.splits:
            columns = task.split(split)
            n = min(settings.num_prompts, len(columns["prompt"]))
            self.columns[split] = {k: np.asarray(v)[:n] for k, v in columns.items()}
        self.archives: dict[str, ParetoArchive] = {}
        self.initial: dict[str, list[float]] = {}
        self.signal_archive: ParetoArchive | None = None
        self.signal_count = 0
        self._cache: tuple[int, dict[tuple[str, str], dict[str, Any]]] = (-1, {})

    # ----- decoding ------------------------------------------------------------------------------------------
    def result(self, params: Any, step: int, split: str, mode: str) -> dict[str, Any]:
        """Objective values and diagnostics of one split and mode at `step` (plus a few example texts)."""
        if self._cache[0] != step:
            self._cache = (step, {})
        cache = self._cache[1]
        if (split, mode) not in cache:
            columns = self.columns[split]
            key = jax.random.fold_in(jax.random.fold_in(self.key, step), self.settings.splits.index(split))
            greedy = mode == "greedy"
            rollouts = self.collector(params, columns, key, group_size=1 if greedy else self.settings.num_samples,
                                      greedy=greedy)
            out = rollouts.evaluate(self.task)  # each process scores its share of the split
            out["examples"] = rollouts.completions[:3]
            cache[(split, mode)] = out
        return cache[(split, mode)]

    def point(self, result: Mapping[str, float]) -> np.ndarray:
        """The objective vector (task objective order) of one result."""
        return np.array([result[name] for name in self.task.objective_names], dtype=np.float64)

    def _reference(self, point: np.ndarray, reference: str) -> np.ndarray:
        """The hypervolume reference: the task's worst point, or `point` (the initial model's) when asked for or
        when the task has no worst point."""
        worst = self.task.worst_point
        return point if reference == "initial" or worst is None else np.asarray(worst, dtype=np.float64)

    def _archive(self, ref: np.ndarray) -> ParetoArchive:
        return ParetoArchive(ref, names=list(self.task.objective_names), maximise=list(self.task.maximise))

    # ----- reporting -----------------------------------------------------------------------------------------
    def report(self, params: Any, step: int) -> dict[str, float]:
        """Evaluate every split and mode, add the points to their archives; the metrics row of this evaluation."""
        row = {}
        for split in self.settings.splits:
            for mode in MODES:
                result = self.result(params, step, split, mode)
                point, name = self.point(result), f"{split}/{mode}"
                if name not in self.archives:
                    self.initial[name] = point.tolist()
                    self.archives[name] = self._archive(self._reference(point, self.settings.reference))
                gain = self.archives[name].add(point, step)
                row.update({f"{name}/{k}": v for k, v in result.items() if k != "examples"})
                row[f"{name}/hypervolume"] = self.archives[name].hypervolume()
                row[f"{name}/hv_gain"] = gain
        return row

    def describe(self, row: Mapping[str, float], step: int) -> str:
        """One console line of an evaluation row."""
        split = self.settings.split
        parts = [f"{mode} " + " ".join(f"{n}={row[f'{split}/{mode}/{n}']:.3g}" for n in self.task.objective_names)
                 for mode in MODES]
        example = self._cache[1].get((split, "greedy"), {}).get("examples", [""])[0]
        return f"eval step {step} ({split}): " + ", ".join(parts) + f" | e.g. {example!r}"

    # ----- signals for the weight optimizers ---------------------------------------------------------------
    def signal(self, params: Any, step: int) -> None:
        """Validate for the weight optimizer: the first call sets the signal archive's reference point."""
        s = self.settings
        point = self.point(self.result(params, step, s.split, s.signal_mode))
        if self.signal_archive is None:
            initial = s.signal_reference == "initial" or self.task.worst_point is None
            self.signal_archive = self._archive(self._reference(point, s.signal_reference))
            if not initial:
                self.signal_archive.add(point, step, {"gain": 0.0})
            return
        gain = self.signal_archive.gain(point)
        self.signal_archive.add(point, step, {"gain": gain})
        self.signal_count += 1

    def signal_fields(self) -> dict[str, np.ndarray]:
        """The latest validation signals in maximisation form (see `weighting.Signals`); the front is padded to a
        power of two rows (at least 8), so its shape changes rarely."""
        archive = self.signal_archive
        if archive is None:
            raise RuntimeError("no signal validation yet: call signal() at step 0 first")
        points = archive.signed_points
        latest = points[-1] if len(points) else archive.signed_ref
        front = points[:-1] if self.signal_count else points
        size = max(8, 1 << int(np.ceil(np.log2(max(len(front), 1)))))
        padded = np.zeros((size, points.shape[1] if len(points) else archive.num_objectives), np.float32)
        padded[:len(front)] = front
        gain = archive.entries[-1].metadata.get("gain", 0.0) if self.signal_count else 0.0
        return {"eval_point": latest.astype(np.float32), "eval_front": padded,
                "eval_front_mask": np.arange(size) < len(front), "eval_reference": archive.signed_ref.astype(np.float32),
                "hv_gain": np.float32(gain), "eval_count": np.int32(self.signal_count)}

    # ----- state and summary ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"archives": {k: a.to_dict() for k, a in self.archives.items()}, "initial": self.initial,
                "signal_archive": None if self.signal_archive is None else self.signal_archive.to_dict(),
                "signal_count": self.signal_count}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.archives = {k: ParetoArchive.from_dict(d) for k, d in state["archives"].items()}
        self.initial = dict(state["initial"])
        signal = state["signal_archive"]
        self.signal_archive = None if signal is None else ParetoArchive.from_dict(signal)
        self.signal_count = int(state["signal_count"])

    def summary(self, workdir: str, steps: int, timings: dict[str, float], files: dict[str, str]) -> Summary:
        """The run's summary from the archives."""
        names = list(self.task.objective_names)
        s = self.settings
        initial, final, hv, reference = ({split: {} for split in s.splits} for _ in range(4))
        for key, archive in self.archives.items():
            split, mode = key.split("/")
            initial[split][mode] = dict(zip(names, self.initial[key]))
            final[split][mode] = dict(zip(names, archive.points[-1].tolist()))
            hv[split][mode] = archive.hypervolume()
            reference[split][mode] = archive.ref.tolist()
        pareto, mean_step = {}, {}
        for mode in MODES:
            selection = self.archives.get(f"{s.split}/{mode}")
            if selection is None:
                continue
            test = self.archives.get(f"{s.test_split}/{mode}")
            test_points = {} if test is None else dict(zip(test.steps.tolist(), test.points.tolist()))
            front = selection.pareto_mask()
            pareto[mode] = [{"step": int(step), s.split: dict(zip(names, p)),
                             **({s.test_split: dict(zip(names, test_points[int(step)]))} if test else {})}
                            for p, step in zip(selection.points[front].tolist(), selection.steps[front])]
            mean_step[mode] = float(mean_pareto_step(selection.signed_points, selection.steps))
        return Summary(workdir=workdir, objectives=names, maximise=[bool(m) for m in self.task.maximise],
                       steps=steps, selection_split=s.split, test_split=s.test_split, initial=initial, final=final,
                       hypervolume=hv, reference=reference, pareto=pareto, mean_pareto_step=mean_step,
                       timings=timings, files=files)
