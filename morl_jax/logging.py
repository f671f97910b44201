"""Metric writers: JSONL (the record), TensorBoard event files (tensorboardX, no TensorFlow), console progress.

Every raw per-objective reward and every current weight goes through `MetricLogger.write`, every step.
Only process 0 writes, so the same code runs on every host of a pod.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
import tqdm
from tensorboardX import SummaryWriter

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


def to_python(value: Any) -> Any:
    """A JSON-able Python scalar/list for numpy/jax values (non-finite floats become None)."""
    if isinstance(value, (jax.Array, np.ndarray, np.generic)):
        value = np.asarray(value).tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [to_python(v) for v in value]
    return value


def read_metrics(workdir: str) -> list[dict[str, Any]]:
    """All rows of a run's metrics.jsonl, in order."""
    path = os.path.join(workdir, METRICS_FILE)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _truncate_after(path: str, step: int) -> None:
    """Drop rows logged after `step` (a resumed run writes them again)."""
    if not os.path.exists(path):
        return
    with open(path) as f:
        rows = [line for line in f if line.strip() and json.loads(line)["step"] <= step]
    with open(path, "w") as f:
        f.writelines(rows)


class MetricLogger:
    """Writes scalar metrics per step to JSONL and TensorBoard and drives a console progress bar.

    On resume (`start_step > 0`) rows and events after `start_step` are discarded, and a restart without a
    checkpoint (`start_step == 0`) discards them all, so the record of a resumed run equals that of an
    uninterrupted one.
    """

    def __init__(
        self,
        workdir: str,
        *,
        total_steps: int,
        start_step: int = 0,
        console: bool = True,
        progress_keys: Sequence[str] = (),
    ):
        self.enabled = jax.process_index() == 0
        self.progress_keys = tuple(progress_keys)
        self._bar = None
        self._tb = None
        self._file = None
        if not self.enabled:
            return
        os.makedirs(workdir, exist_ok=True)
        path = os.path.join(workdir, METRICS_FILE)
        # Rows up to the checkpoint's step are kept; without a checkpoint (start_step 0) the run starts over,
        # so even an earlier attempt's step-0 row goes (it is written again).
        kept = start_step if start_step else -1
        _truncate_after(path, kept)
        self._file = open(path, "a")
        self._tb = SummaryWriter(
            os.path.join(workdir, TENSORBOARD_DIR), purge_step=kept + 1, flush_secs=30
        )
        self._console = console
        self._total, self._start = total_steps, start_step

    def write(self, step: int, metrics: Mapping[str, Any]) -> None:
        """Record one row of metrics for `step` (scalars; lists are written to JSONL only)."""
        if not self.enabled:
            return
        row = {"step": int(step), **{k: to_python(v) for k, v in metrics.items()}}
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
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
        self._tb.close()
        self._file.close()
