"""Your own task end to end (configs/own_task.py, the README's example): data files and reward functions named
by import path in the config, a reward to minimise, no SFT examples (the warm start is skipped) and no worst
point (the hypervolume reference is the initial model's point); learned reward heads as rewards of a run."""

import json
import os

import numpy as np
import pytest

from morl_jax import experiment_config, train
from morl_jax.rewards.learned import train_reward_model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def in_repo(monkeypatch):
    """Run from the repository root, as the README does (relative data paths, `examples.` import paths)."""
    monkeypatch.chdir(REPO)
    monkeypatch.syspath_prepend(REPO)


def _rows(workdir):
    return [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]


def test_own_task_runs_with_its_rewards_and_falls_back_when_optional_parts_are_missing(in_repo, tmp_path, capsys):
    config = experiment_config.load("own_task.py:test", ["sft.steps=5", "log.console=True"])
    summary = train.run(config, str(tmp_path))
    printed = capsys.readouterr().out
    assert "warm start skipped: task 'files' provides no SFT examples (sft.steps=5 ignored)" in printed
    assert "has no worst point: the hypervolume reference is the initial model's validation point" in printed
    rows = _rows(str(tmp_path))
    step = rows[1]
    for name in ("correct", "digits", "conciseness"):
        assert np.isfinite(step[f"reward/{name}"]) and f"weight/{name}" in step
    assert step["reward/digits"] <= 0  # a reward to minimise enters RL negated
    assert summary.objectives == ["correct", "digits", "length"] and summary.maximise == [True, False, False]
    for mode, reference in summary.reference["validation"].items():
        assert reference == list(summary.initial["validation"][mode].values())
    initial = rows[0]
    assert initial["validation/greedy/digits"] >= 0 and 0 <= initial["validation/greedy/length"] <= 32


def test_learned_reward_heads_as_rewards_of_a_run(in_repo, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    with open(pairs, "w") as f:
        for i in range(24):
            short, long = f"{i}", f"{i} because {i} is the answer to it"
            f.write(json.dumps({"prompt": f"what is {i} plus 0? answer:", "a": short, "b": long,
                                "preference": {"brief": 1, "detailed": -1 if i % 2 else 0}}) + "\n")
    history = train_reward_model(str(pairs), ["brief", "detailed"], str(tmp_path / "rm"), steps=30, batch_size=8)
    assert float(history[-1]["accuracy"][0]) == 1.0  # the "brief" head ranks every training pair right

    heads = ({"name": "brief", "fn": "reward_head", "kwargs": {"path": str(tmp_path / "rm"), "objective": "brief"}},
             {"name": "detailed", "fn": "reward_head",
              "kwargs": {"path": str(tmp_path / "rm"), "objective": "detailed"}})
    config = experiment_config.load("own_task.py:test", ["eval.every=0", "checkpoint.every=0"])
    config.task.kwargs.rewards = heads
    config.task.kwargs.objectives = ("brief", "detailed")
    config.weighting.weights = (0.5, 0.5)
    experiment_config.validate(config)
    train.run(config, str(tmp_path / "run"))
    step = _rows(str(tmp_path / "run"))[-1]
    assert np.isfinite(step["reward/brief"]) and np.isfinite(step["reward/detailed"])
    assert step["reward_std/brief"] > 0  # the head scores different completions differently
    with pytest.raises(experiment_config.ConfigError, match="has no head 'kind'; heads: \\['brief', 'detailed'\\]"):
        config.task.kwargs.rewards = (dict(heads[0], kwargs={"path": str(tmp_path / "rm"), "objective": "kind"}),)
        config.task.kwargs.objectives = ()
        config.weighting.weights = (1.0,)
        experiment_config.validate(config)
