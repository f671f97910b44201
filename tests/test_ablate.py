"""The sweep runner: one resumable run per grid point and seed, a results table and a plot."""

import csv
import os

from morl_jax import ablate

ROOT = os.path.join(os.path.dirname(__file__), "..")


def test_grid_runs_every_point_and_writes_the_table(tmp_path):
    config = os.path.join(ROOT, "configs", "arith.py") + ":size=test"
    rows = ablate.run_grid(config, {"weights": ["accuracy", "efficiency"], "rl.clip_high": ["0.2"]}, [0],
                           str(tmp_path), {"rl.num_steps": "2"})
    assert [r["run"] for r in rows] == ["weights=accuracy_clip_high=0.2_seed=0",
                                        "weights=efficiency_clip_high=0.2_seed=0"]
    with open(tmp_path / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert [t["weights"] for t in table] == ["accuracy", "efficiency"]
    assert all(0.0 <= float(t["sampled/accuracy"]) <= 1.0 for t in table)
    assert os.path.getsize(tmp_path / "fronts.png") > 1000
    assert "| run |" in (tmp_path / "results.md").read_text()
    # both runs shared one warm start (same fingerprint), and each used its own weights
    assert os.listdir(tmp_path / "sft_cache") and not os.path.exists(tmp_path / rows[0]["run"] / "sft")
    metrics = [ablate.read_metrics(str(tmp_path / r["run"]))[1] for r in rows]
    assert [m["weight/accuracy"] for m in metrics] == [0.5, 0.25]
    assert all(m["step"] == 1 for m in metrics)


def test_load_config_merges_variants_and_dotted_overrides():
    config = ablate.load_config(os.path.join(ROOT, "configs", "arith.py"), {"size": "test", "weights": "balanced"},
                                {"optimizer.learning_rate": "3e-4", "rl.estimator": "rloo"})
    assert config.optimizer.learning_rate == 3e-4 and config.rl.estimator == "rloo"
    assert config.weighting.weights == (0.334, 0.333, 0.333) and config.rl.num_steps == 4
