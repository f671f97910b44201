"""Two JAX processes on 127.0.0.1 (CPU, gloo collectives), started by launch/multiprocess_cpu.sh as a user would:
a run stopped after step 2 and resumed from its collective checkpoint gives the metrics of an uninterrupted
one-process run on the same (fsdp=2) mesh; only process 0 writes the run's files, both write checkpoint shards."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OVERRIDES = ["--config=configs/arith.py:size=test", "--config.rl.num_steps=3", "--config.sft.steps=2",
             "--config.mesh.shape.data=1", "--config.mesh.shape.fsdp=-1"]


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_PLATFORMS")}
    env.update(PYTHON=sys.executable, **extra)
    return env


def _rows(workdir):
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]


def _close(a, b, path="row"):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, float) and isinstance(b, float):
        assert abs(a - b) <= 1e-5 * max(1.0, abs(b)), (path, a, b)
    else:
        assert a == b, (path, a, b)


def test_two_processes_checkpoint_resume_and_match_the_one_process_run(tmp_path):
    launch = [str(REPO / "launch" / "multiprocess_cpu.sh"), "2", "1"]
    multi, single = tmp_path / "two_processes", tmp_path / "one_process"
    port = str(20000 + os.getpid() % 20000)
    for extra in (["--stop_after=2"], []):  # killed after step 2 (checkpointed), then the same command resumes
        result = subprocess.run(launch + OVERRIDES + [f"--workdir={multi}"] + extra, cwd=REPO, text=True,
                                capture_output=True, env=_env(PORT=port), timeout=900)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "resumed from step 2" in result.stdout
    assert "(2 processes, 2 devices)" in result.stdout
    reference = subprocess.run([sys.executable, "-m", "morl_jax.main"] + OVERRIDES + [f"--workdir={single}"],
                               cwd=REPO, text=True, capture_output=True, timeout=900,
                               env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu"))
    assert reference.returncode == 0, reference.stderr[-3000:]
    got, want = _rows(multi), _rows(single)
    assert [r["step"] for r in got] == [0, 1, 2, 3]
    _close(got, want)
    summary, want_summary = (json.loads((d / "summary.json").read_text()) for d in (multi, single))
    _close(summary["hypervolume"], want_summary["hypervolume"])
    # Process 0 wrote the run's files; process 1 only its log (from the launcher) and its checkpoint shards.
    assert sorted(p.name for p in multi.iterdir()) == ["checkpoints", "config.json", "logs", "metrics.jsonl", "sft",
                                                       "summary.json", "tensorboard"]
    shards = {p.name for p in (multi / "checkpoints" / "3" / "state").iterdir() if p.name.startswith("ocdbt.process")}
    assert shards == {"ocdbt.process_0", "ocdbt.process_1"}
