"""Metric writers: JSONL (the record), TensorBoard event files (tensorboardX, no TensorFlow), console progress.

Every raw per-objective reward and every current weight goes through `MetricLogger.write`, every step.
Only process 0 writes, so the same code runs on every host of a pod. Paths go through `etils.epath`, so the
workdir may be a bucket (gs://...): local metric files are appended to, remote ones (object stores cannot append)
rewritten whole at each row.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
import tqdm
from etils import epath

from morl_jax.paths import is_remote

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


def summary_writer_class() -> type:
    """tensorboardX's SummaryWriter, imported on first use. tensorboardX imports torch whenever it is installed (1.4 s
    of every process's start-up) only to accept torch tensors; we log floats, so torch is hidden from that import."""
    hide = "torch" not in sys.modules
    if hide:
        sys.modules["torch"] = None  # `import torch` raises ImportError, tensorboardX's path when torch is absent
    try:
        from tensorboardX import SummaryWriter  # noqa: PLC0415
    finally:
        if hide:
            del sys.modules["torch"]
    return SummaryWriter


def to_python(value: Any) -> Any:
    """A JSON-able Python scalar/list for numpy/jax values (non-finite floats become None)."""
    if isinstance(value, (jax.Array, np.ndarray, np.generic)):
        value = np.asarray(value).tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [to_python(v) for v in value]
    return value


def read_metrics(workdir: epath.PathLike) -> list[dict[str, Any]]:
    """All rows of a run's metrics.jsonl, in order."""
    path = epath.Path(workdir) / METRICS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _rows_up_to(path: epath.Path, step: int) -> list[str]:
    """The lines of rows logged at or before `step` (a resumed run writes the later ones again)."""
    if not path.exists():
        return []
    return [line + "\n" for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]


class MetricLogger:
    """Writes scalar metrics per step to JSONL and TensorBoard and drives a console progress bar.

    On resume (`start_step > 0`) rows and events after `start_step` are discarded, and a restart without a
    checkpoint (`start_step == 0`) discards them all, so the record of a resumed run equals that of an
    uninterrupted one. With `start_step=None` nothing is opened until `start(step)` (the loop knows its step only
    after it found a checkpoint that restores); `message` works before that.
    """

    def __init__(
        self,
        workdir: epath.PathLike,
        *,
        total_steps: int,
        start_step: int | None = 0,
        console: bool = True,
        progress_keys: Sequence[str] = (),
    ):
        self.enabled = jax.process_index() == 0
        self.progress_keys = tuple(progress_keys)
        self.workdir = epath.Path(workdir)
        self._bar = None
        self._tb = None
        self._file = None
        self._rows: list[str] = []
        self._console = console
        self._total, self._start = total_steps, start_step
        if start_step is not None:
            self.start(start_step)

    def start(self, start_step: int) -> None:
        """Open the record at `start_step`: rows and events after it are dropped."""
        self._start = start_step
        if not self.enabled:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / METRICS_FILE
        # Rows up to the checkpoint's step are kept; without a checkpoint (start_step 0) the run starts over,
        # so even an earlier attempt's step-0 row goes (it is written again).
        kept = start_step if start_step else -1
        self._rows = _rows_up_to(path, kept)
        path.write_text("".join(self._rows))
        if not is_remote(path):
            self._file = path.open("a")
        self._tb = summary_writer_class()(str(self.workdir / TENSORBOARD_DIR), purge_step=kept + 1, flush_secs=30)

    def write(self, step: int, metrics: Mapping[str, Any]) -> None:
        """Record one row of metrics for `step` (scalars; lists are written to JSONL only)."""
        if not self.enabled:
            return
        row = {"step": int(step), **{k: to_python(v) for k, v in metrics.items()}}
        line = json.dumps(row) + "\n"
        if self._file is not None:
            self._file.write(line)
            self._file.flush()
        else:
            self._rows.append(line)
            (self.workdir / METRICS_FILE).write_text("".join(self._rows))
        for key, value in row.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self._tb.add_scalar(key, value, global_step=step)

    def progress(self, step: int, metrics: Mapping[str, Any]) -> None:
        """Advance the console bar to `step`, showing the configured key numbers."""
        if not (self.enabled and self._console):
            return
        if self._bar is None:  # started on the first step, so its rate excludes set-up and warm start
            self._bar = tqdm.tqdm(total=self._total, initial=self._start, desc="rl", unit="step", file=sys.stdout,
                                  dynamic_ncols=True, leave=True, mininterval=1.0)
        shown = {}
        for key in self.progress_keys:
            if key in metrics and isinstance(to_python(metrics[key]), (int, float)):
                shown[key.split("/")[-1]] = f"{float(metrics[key]):.3g}"
        self._bar.set_postfix(shown, refresh=False)
        self._bar.update(step - self._bar.n)

    def message(self, text: str) -> None:
        """Print a line without breaking the progress bar."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.write(text)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        if self._tb is not None:
            self._tb.close()
        if self._file is not None:
            self._file.close()
