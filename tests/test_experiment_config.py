"""Config validation: every mistake is caught before anything compiles, and the message names the key."""

import os
import subprocess
import sys

import pytest

from morl_jax import experiment_config
from morl_jax.experiment_config import ConfigError, base_config, load, validate

ROOT = os.path.join(os.path.dirname(__file__), "..")


@pytest.mark.parametrize("variant", ["", "size=test", "algo=rloo,weights=efficiency", "algo=gdpo",
                                     "weights=accuracy,weighting=saw", "algo=reinforce_pp",
                                     "weighting=gradient", "weighting=hypervolume_gradient",
                                     "weighting=hypervolume,algo=rloo"])
def test_shipped_configs_are_valid(variant):
    load(f"configs/arith.py:{variant}" if variant else "configs/arith.py")


def test_base_and_peer_configs_are_valid():
    validate(base_config())
    load("peer.py")


def _mutated(fn):
    c = load("arith.py:size=test")
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
    (lambda c: c.rl.__setattr__("level", "reward") or c.rl.__setattr__("estimator", "gdpo"),
     r"'rl.level': estimator 'gdpo' supports level 'advantage', not 'reward'"),
    (lambda c: c.rl.__setattr__("whitening", "token"), r"'rl.whitening': estimator 'grpo' does not whiten the batch"),
    (lambda c: c.rl.__setattr__("whitening", "tokens"), r"'rl.whitening': 'tokens' is not one of sample, token"),
    (lambda c: c.rl.__setattr__("kl_coef", 0.001) or c.rl.__setattr__("kl_estimator", "k1"),
     r"'rl.kl_estimator': 'k1' cannot be a loss term \(its expected gradient is zero\)"),
    (lambda c: c.weighting.__setattr__("name", "hypervolume"),
     r"'weighting.name': 'hypervolume' only rescales .* estimator 'grpo' is invariant to the reward scale.*"
     r"allow_scale_only"),
    (lambda c: c.weighting.__setattr__("post", ("floor:0.5",)), r"'weighting': floor: min_weight 0.5"),
    (lambda c: c.weighting.__setattr__("post", ("smooth",)), r"'weighting': unknown weight transform 'smooth'"),
    (lambda c: c.weighting.__setattr__("gram_layers", (3, 1)), r"'weighting.gram_layers'"),
    (lambda c: c.weighting.__setattr__("eval_mode", "beam"), r"'weighting.eval_mode'"),
    (lambda c: c.weighting.kwargs.__setattr__("lambda_", 1.0), r"'weighting.kwargs.lambda_'; accepted: .*weights"),
    (lambda c: c.eval.__setattr__("test_split", "validation"), r"'eval.test_split': equals eval.split"),
    (lambda c: c.eval.__setattr__("split", "dev"), r"'eval.split': task 'arithmetic' has no split 'dev'"),
])
def test_invalid_configs_name_the_key(mutate, pattern):
    with pytest.raises(ConfigError, match=pattern):
        validate(_mutated(mutate))


def test_a_scale_only_optimizer_runs_under_grpo_only_when_asked():
    def both(c):
        c.weighting.name = "hypervolume"
        c.weighting.allow_scale_only = True

    validate(_mutated(both))
    validate(_mutated(lambda c: c.weighting.__setattr__("name", "hypervolume") or c.rl.__setattr__("estimator",
                                                                                                    "rloo")))


def test_config_file_variants_reject_unknown_names():
    with pytest.raises(ValueError, match="unknown weights 'fast'"):
        load("arith.py:weights=fast")
    with pytest.raises(ValueError, match="unknown variant key"):
        load("arith.py:algorithm=grpo")
    with pytest.raises(FileNotFoundError, match="'nope.py' not found"):
        load("nope.py")


def test_overrides_are_parsed_and_unknown_keys_named():
    c = load("arith.py:size=test", ["rl.kl_coef=0.001", "config.weighting.post=['floor:0.05']",
                                    "task.kwargs.train_size=300", "rl.estimator=rloo"])
    assert c.rl.kl_coef == 0.001 and c.weighting.post == ("floor:0.05",) and c.rl.estimator == "rloo"
    assert c.task.kwargs.train_size == 300  # free-form sections accept their own keys
    for override, pattern in (("rl.lerning_rate=1", r"unknown config key 'rl.lerning_rate'"),
                              ("optimiser.learning_rate=1", r"unknown config key 'optimiser' \(did you mean"),
                              ("rl.group_size", r"expected KEY=VALUE"),
                              ("rl.group_size=1", r"'rl.group_size': estimator 'grpo' compares")):
        with pytest.raises(ConfigError, match=pattern):
            load("arith.py:size=test", [override])


def test_cli_rejects_a_bad_override_before_writing_anything(tmp_path):
    workdir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "morl_jax.main", "--config=configs/arith.py:size=test", f"--workdir={workdir}",
         "--config.rl.group_size=1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "config key 'rl.group_size'" in proc.stderr
    assert not workdir.exists()
    proc = subprocess.run(
        [sys.executable, "-m", "morl_jax.main", "--config=configs/arith.py:size=test", f"--workdir={workdir}",
         "--config.rl.groupsize=4"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == ("error: unknown config key 'rl.groupsize' "
                                                    "(did you mean 'rl.group_size'?)")
    assert not workdir.exists()
