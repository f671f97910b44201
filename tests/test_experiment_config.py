"""Config validation: every mistake is caught before anything compiles, and the message names the key."""

import os
import subprocess
import sys

import pytest

from morl_jax.experiment_config import ConfigError, base_config, validate

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "configs"))
import arith  # noqa: E402
import peer  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..")


@pytest.mark.parametrize("variant", ["", "size=test", "algo=rloo,weights=efficiency", "algo=gdpo",
                                     "weights=accuracy,weighting=saw", "algo=reinforce_pp"])
def test_shipped_configs_are_valid(variant):
    validate(arith.get_config(variant))


def test_base_and_peer_configs_are_valid():
    validate(base_config())
    validate(peer.get_config())


def _mutated(fn):
    c = arith.get_config("size=test")
    fn(c)
    return c


@pytest.mark.parametrize("mutate, pattern", [
    (lambda c: c.rl.__setattr__("lerning_rate", 1.0), r"unknown config key 'rl.lerning_rate'"),
    (lambda c: c.__setattr__("optimiser", {"lr": 1}), r"unknown config key 'optimiser' \(did you mean 'optimizer'\?\)"),
    (lambda c: c.task.kwargs.__setattr__("train_sise", 10), r"'task.kwargs.train_sise'.*accepted: .*train_size"),
    (lambda c: c.task.__setattr__("name", "gsm9k"), r"'task.name': unknown task 'gsm9k'; known: .*arithmetic"),
    (lambda c: c.rl.__setattr__("estimator", "ppo2"), r"'rl.estimator': unknown estimator 'ppo2'; known: .*grpo"),
    (lambda c: c.rl.__setattr__("group_size", 1), r"'rl.group_size': estimator 'grpo' compares samples within a group"),
    (lambda c: c.weighting.__setattr__("weights", (0.5, 0.5)), r"'weighting.weights': 2 weights for the 3 rewards"),
    (lambda c: c.weighting.__setattr__("name", "magic"), r"'weighting.name': unknown weight optimizer 'magic'"),
    (lambda c: c.rl.__setattr__("minibatches", 3), r"'rl.minibatches': the rollout batch of .* = 16 samples must split into 3"),
    (lambda c: c.rl.__setattr__("max_new_tokens", 32), r"'rl.max_new_tokens': 32 differs from the task's max_completion_len \d+ \(set by task.kwargs\)"),
    (lambda c: c.rl.__setattr__("loss_aggregation", "mean"), r"'rl.loss_aggregation': unknown aggregation 'mean'"),
    (lambda c: c.rl.__setattr__("dual_clip", 0.5), r"'rl.dual_clip': must be 0 \(off\) or > 1"),
    (lambda c: c.model.__setattr__("preset", "gpt5"), r"'model.preset': unknown preset 'gpt5'"),
    (lambda c: c.eval.__setattr__("reference", "nadir"), r"'eval.reference'"),
    (lambda c: c.optimizer.__setattr__("schedule", "step"), r"'optimizer.schedule'"),
    (lambda c: c.mesh.__setattr__("data", 0), r"'mesh.data'"),
])
def test_invalid_configs_name_the_key(mutate, pattern):
    with pytest.raises(ConfigError, match=pattern):
        validate(_mutated(mutate))


def test_config_file_variants_reject_unknown_names():
    with pytest.raises(ValueError, match="unknown weights 'fast'"):
        arith.get_config("weights=fast")
    with pytest.raises(ValueError, match="unknown variant key"):
        arith.get_config("algorithm=grpo")


def test_cli_rejects_a_bad_override_before_writing_anything(tmp_path):
    workdir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "morl_jax.main", "--config=configs/arith.py:size=test", f"--workdir={workdir}",
         "--config.rl.group_size=1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "config key 'rl.group_size'" in proc.stderr
    assert not workdir.exists()
