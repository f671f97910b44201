"""Two JAX processes on 127.0.0.1 (CPU, gloo collectives), started by launch/multiprocess_cpu.sh as a user would:
a run stopped after step 2 and resumed from its collective checkpoint gives the metrics of an uninterrupted
one-process run on the same (fsdp=2) mesh; only process 0 writes the run's files, both write checkpoint shards.
A mesh split over DCN (`mesh.dcn`) puts its outer axis across the processes, and a batch on it is split, scored and
assembled per process."""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OVERRIDES = ["--config=configs/arith.py:size=test", "--config.rl.num_steps=3", "--config.sft.steps=2",
             "--config.mesh.shape.data=1", "--config.mesh.shape.fsdp=-1"]


def _env(devices=None, **extra):
    """This environment (the suite's XLA flags) with `devices` CPU devices per process when given."""
    env = {k: v for k, v in os.environ.items() if k != "JAX_PLATFORMS"}
    if devices:
        env.update(XLA_FLAGS=f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}",
                   JAX_PLATFORMS="cpu")
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


@pytest.mark.xdist_group("subprocess_jobs")  # one worker runs it and the notebooks one after the other
def test_two_processes_checkpoint_resume_and_match_the_one_process_run(tmp_path, one_subprocess_job_at_a_time):
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
                               env=_env(devices=2))
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


DCN_SCRIPT = textwrap.dedent('''
    import sys
    import jax, numpy as np
    from morl_jax import parallel

    parallel.initialize(f"127.0.0.1:{sys.argv[1]}", 2, int(sys.argv[2]))
    mesh = parallel.make_mesh({"fsdp": -1}, dcn={"data": 2})  # FSDP inside a process, data parallel across the two
    assert dict(mesh.shape) == {"data": 2, "fsdp": 2, "tensor": 1}, mesh.shape
    assert [{d.process_index for d in row.flat} for row in mesh.devices] == [{0}, {1}], mesh.devices
    x = np.arange(8 * 3, dtype=np.float32).reshape(8, 3)
    with jax.set_mesh(mesh):
        batch = parallel.put_batch(x, mesh)
        total = jax.jit(lambda a: (a * a).sum(0))(batch)
    rows = parallel.rows_to_score(batch.sharding, 8)
    assert rows.tolist() == list(range(4 * jax.process_index(), 4 * jax.process_index() + 4)), rows
    np.testing.assert_array_equal(parallel.assemble_rows(x[rows] + 1, rows, 8), x + 1)
    np.testing.assert_allclose(parallel.gather(total), (x * x).sum(0))
    print("DCN_OK")
''')


def test_a_dcn_axis_spans_the_processes():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    env = _env(devices=2)
    procs = [subprocess.Popen([sys.executable, "-c", DCN_SCRIPT, port, str(i)], cwd=REPO, text=True, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0 and "DCN_OK" in out, out[-2000:] + err[-4000:]
