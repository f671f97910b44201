"""launch/: every script parses (bash -n), passes shellcheck where it is installed, starts with a usage comment,
and prints that usage (exit 2) when called without arguments. multiprocess_cpu.sh runs for real in
test_multiprocess.py."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LAUNCH = Path(__file__).resolve().parents[1] / "launch"
SCRIPTS = sorted(p for p in LAUNCH.iterdir() if p.suffix in (".sh", ".sbatch"))


def test_the_launch_directory_has_every_launcher_and_the_xpk_notes():
    assert {p.name for p in SCRIPTS} == {"local.sh", "multiprocess_cpu.sh", "tpu_vm.sh", "slurm.sbatch"}
    assert "xpk workload create" in (LAUNCH / "xpk.md").read_text()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_parses_lints_and_explains_its_usage(script):
    lines = script.read_text().splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    assert lines[1].startswith("# Usage: ") and script.name in lines[1]
    subprocess.run(["bash", "-n", str(script)], check=True)
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    if shellcheck:
        result = subprocess.run([shellcheck, str(script)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stdout.startswith("Usage: ") and script.name in result.stdout.splitlines()[0]
