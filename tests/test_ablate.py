"""The ablation runner on a tiny grid: cells, overrides, skipping finished cells, resuming an interrupted one,
the mean ± std table, identical metrics when a cell runs twice, and the job-array commands."""

import csv
import os
import shutil

import numpy as np
import pytest

from morl_jax import ablate, ablation_report, experiment_config, train
from morl_jax.logging import read_metrics

# One xdist worker runs every arithmetic-loop module (`make test` uses --dist loadgroup): they share its compiled
# programs, and this module's tests share one sweep.
pytestmark = pytest.mark.xdist_group("arith_loop")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEP_FILE = os.path.join(ROOT, "configs", "ablations", "dynamic_weighting.py")


def test_cells_expand_the_grid_in_order_with_extra_rows():
    sweep = ablate.Sweep(base="arith.py:size=test",
                         axes={"algo": {"grpo": [], "rloo": ["rl.estimator=rloo"]},
                               "weighting": {"a": ["x=1"], "b": ["x=2"]}},
                         seeds=(0, 1), extra=[({"algo": "gdpo", "weighting": "a"}, ["y=3"])])
    cells = ablate.cells(sweep)
    assert [c.name for c in cells[:3]] == ["algo=grpo,weighting=a,seed=0", "algo=grpo,weighting=a,seed=1",
                                           "algo=grpo,weighting=b,seed=0"]
    assert len(cells) == 2 * 2 * 2 + 2
    assert cells[2 * 2 + 1].overrides == ("rl.estimator=rloo", "x=1")
    assert cells[-1].overrides == ("y=3",) and cells[-1].directory == "algo-gdpo__weighting-a__seed-1"
    with pytest.raises(ValueError, match="duplicate cells"):
        ablate.cells(ablate.Sweep(base="", axes={"a": {"x": []}}, extra=[({"a": "x"}, [])]))


def test_every_cell_is_validated_before_anything_runs(tmp_path):
    sweep = ablate.load_sweep(SWEEP_FILE + ":test")
    with pytest.raises(experiment_config.ConfigError, match=r"cell algo=grpo,weighting=accuracy,seed=0: "
                                                              r".*unknown config key 'rl.groupsize'"):
        ablate.run(sweep, str(tmp_path / "sweep"), ["rl.groupsize=4"])
    assert not os.listdir(tmp_path / "sweep")


def test_print_commands_gives_one_main_command_per_cell(tmp_path, capsys):
    ablate.main([f"--config={SWEEP_FILE}:test", f"--workdir={tmp_path}", "--print_commands",
                 "--config.rl.num_steps=3"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and all("-m morl_jax.main" in line for line in lines)
    assert all("--config.rl.num_steps=3" in line and "--config=arith.py:size=test" in line for line in lines)
    assert "--workdir=" + os.path.join(str(tmp_path), "algo-grpo__weighting-gradient__seed-1") in lines[-1]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """The test sweep run once, with one cell interrupted first (it must resume, not restart)."""
    workdir = str(tmp_path_factory.mktemp("sweep"))
    sweep = ablate.load_sweep(SWEEP_FILE + ":test")
    cell = ablate.cells(sweep)[1]
    config = ablate.configs(sweep, workdir, [])[cell.name]
    assert train.run(config, os.path.join(workdir, cell.directory), stop_after=2) is None  # checkpointed at 2
    lines = []
    rows = ablate.run(sweep, workdir, log=lines.append)
    return workdir, sweep, rows, lines


def test_a_sweep_runs_every_cell_and_tables_mean_and_std(swept):
    workdir, sweep, rows, lines = swept
    assert [(r.labels["weighting"], r.seed) for r in rows] == [("accuracy", 0), ("accuracy", 1), ("gradient", 0),
                                                                ("gradient", 1)]
    assert len(lines) == 4 and lines[0].startswith("[  1/4] algo=grpo,weighting=accuracy,seed=0")
    with open(os.path.join(workdir, ablation_report.CSV)) as f:
        table = list(csv.DictReader(f))
    assert [t["weighting"] for t in table] == ["accuracy", "accuracy", "gradient", "gradient"]
    accuracy = [float(t["sampled/accuracy"]) for t in table[:2]]
    text = open(os.path.join(workdir, ablation_report.TABLE)).read()
    assert f"{np.mean(accuracy):.3g} ± {np.std(accuracy, ddof=1):.2g}" in text
    # every run's own weights: the gradient cells' weights move, the fixed ones' never do
    fixed = read_metrics(os.path.join(workdir, "algo-grpo__weighting-accuracy__seed-0"))
    assert {r["weight/accuracy"] for r in fixed if "weight/accuracy" in r} == {0.5}
    for plot in (ablation_report.FRONTS, ablation_report.WEIGHTS):
        assert os.path.getsize(os.path.join(workdir, plot)) > 1000
    assert os.listdir(os.path.join(workdir, "sft_cache"))  # one warm start shared by every cell


def test_the_interrupted_cell_resumed_to_the_numbers_of_a_whole_run(swept, tmp_path):
    workdir, sweep, rows, _ = swept
    cell = ablate.cells(sweep)[1]
    shutil.copytree(os.path.join(workdir, "sft_cache"), tmp_path / "sft_cache")
    config = ablate.configs(sweep, str(tmp_path), [])[cell.name]
    train.run(config, str(tmp_path / "whole"))
    strip = lambda rows: [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]  # noqa: E731
    assert strip(read_metrics(str(tmp_path / "whole"))) == strip(read_metrics(os.path.join(workdir, cell.directory)))


def test_finished_cells_are_skipped_and_the_report_is_the_same(swept):
    workdir, sweep, rows, _ = swept
    before = open(os.path.join(workdir, ablation_report.CSV)).read()
    lines = []
    again = ablate.run(sweep, workdir, log=lines.append)
    assert all(line.endswith("finished before, skipped") for line in lines)
    assert [r.metrics for r in again] == [r.metrics for r in rows]
    assert open(os.path.join(workdir, ablation_report.CSV)).read() == before


def test_ties_within_the_seed_spread_are_marked(swept):
    row = swept[2][0]
    make = lambda group, value: ablation_report.Row({"w": group}, 0, {"sampled/accuracy": value}, [], {},  # noqa
                                                    row.objectives, row.maximise)
    rows = [make("a", 0.50), make("a", 0.60), make("b", 0.52), make("b", 0.56), make("c", 0.10), make("c", 0.12)]
    text = ablation_report.markdown(rows, ["w"])
    assert "| a | **0.55 ± 0.071** |" in text  # the best
    assert "| b | 0.54 ± 0.028 ≈ |" in text  # within the spread: no difference
    assert "| c | 0.11 ± 0.014 |" in text  # worse by more than the spread


@pytest.mark.parametrize("spec", ["dynamic_weighting.py", "dynamic_weighting.py:full", "objective_relations.py"])
def test_shipped_sweeps_validate_every_cell(spec, tmp_path):
    sweep = ablate.load_sweep(os.path.join(ROOT, "configs", "ablations", spec))
    assert len(ablate.configs(sweep, str(tmp_path), [])) == len(ablate.cells(sweep)) >= 18
