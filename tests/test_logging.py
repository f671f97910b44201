"""MetricLogger: JSONL rows, TensorBoard events readable without TensorFlow, resume truncation."""

import glob
import os
import struct

import numpy as np

from morl_jax.logging import MetricLogger, read_metrics, summary_writer_class


def _tb_scalars(workdir):
    """(tag, step, value) of every scalar in the run's event files (TFRecord framing parsed by hand)."""
    summary_writer_class()  # tensorboardX imported as the code imports it: without torch
    from tensorboardX.proto import event_pb2
    out = []
    for path in sorted(glob.glob(os.path.join(workdir, "tensorboard", "events.*"))):
        data = open(path, "rb").read()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + length])
            pos += 12 + length + 4
            for v in event.summary.value:
                out.append((v.tag, event.step, v.simple_value))
    return out


def test_rows_go_to_jsonl_and_tensorboard(tmp_path):
    log = MetricLogger(str(tmp_path), total_steps=3, console=False)
    log.write(1, {"reward/accuracy": np.float32(0.5), "weight/accuracy": 0.25, "lengths": [3, 4]})
    log.write(2, {"reward/accuracy": 0.75, "loss": float("nan")})
    log.close()
    rows = read_metrics(str(tmp_path))
    assert rows == [
        {"step": 1, "reward/accuracy": 0.5, "weight/accuracy": 0.25, "lengths": [3, 4]},
        {"step": 2, "reward/accuracy": 0.75, "loss": None},
    ]
    scalars = _tb_scalars(str(tmp_path))
    assert ("reward/accuracy", 2, 0.75) in scalars
    assert ("weight/accuracy", 1, 0.25) in scalars
    assert not any(tag == "lengths" for tag, _, _ in scalars)


def test_resume_drops_rows_after_the_restored_step(tmp_path):
    log = MetricLogger(str(tmp_path), total_steps=5, console=False)
    for step in range(1, 5):
        log.write(step, {"x": float(step)})
    log.close()
    log = MetricLogger(str(tmp_path), total_steps=5, start_step=2, console=False)
    log.write(3, {"x": 30.0})
    log.close()
    assert [(r["step"], r["x"]) for r in read_metrics(str(tmp_path))] == [(1, 1.0), (2, 2.0), (3, 30.0)]


def test_a_remote_workdir_is_rewritten_whole_at_each_row(tmp_path, monkeypatch):
    """Object stores (gs://) cannot append: the record is written whole, with the same rows."""
    from morl_jax import logging as metric_logging  # noqa: PLC0415

    monkeypatch.setattr(metric_logging, "is_remote", lambda path: True)  # the name logging.py calls
    log = MetricLogger(str(tmp_path), total_steps=3, console=False)
    for step in (1, 2):
        log.write(step, {"x": float(step)})
        assert [r["step"] for r in read_metrics(str(tmp_path))] == list(range(1, step + 1))
    log.close()
    log = MetricLogger(str(tmp_path), total_steps=3, start_step=None, console=False)
    log.message("before the step is known nothing is opened")
    assert [r["step"] for r in read_metrics(str(tmp_path))] == [1, 2]
    log.start(1)
    log.write(2, {"x": 20.0})
    log.close()
    assert [(r["step"], r["x"]) for r in read_metrics(str(tmp_path))] == [(1, 1.0), (2, 20.0)]
