"""The experiment loop end to end on a tiny config: outputs, determinism, resumption, bad input, divergence."""

import os
import shutil

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from flax import nnx
from test_checkpointing import _truncate_arrays

from morl_jax import experiment_config, train
from morl_jax.checkpointing import Checkpointer
from morl_jax.evaluate import Summary
from morl_jax.logging import read_metrics
from morl_jax.rewards import RewardFunctionError, RewardSet
from morl_jax.run_state import RunState

# One xdist worker runs every arithmetic-loop module (`make test` uses --dist loadgroup): they share its compiled
# programs and its warm-start cache.
pytestmark = pytest.mark.xdist_group("arith_loop")


def _config(variant="", sft_cache="", **rl):
    c = experiment_config.load(f"arith.py:size=test{',' + variant if variant else ''}")
    c.sft.cache_dir = sft_cache
    for key, value in rl.items():
        c.rl[key] = value
    return c


def _comparable(rows):
    """Metric rows without wall-clock timings."""
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, sft_cache):
    workdir = str(tmp_path_factory.mktemp("reference"))
    config = _config(sft_cache=sft_cache)
    config.log.plots = True
    summary = train.run(config, workdir)
    return workdir, summary


def test_a_run_writes_metrics_checkpoints_plot_and_summary(reference_run):
    workdir, summary = reference_run
    rows = read_metrics(workdir)
    assert [r["step"] for r in rows] == [0, 1, 2, 3, 4]
    train_row = rows[1]
    for name in ("accuracy", "conciseness", "clarity"):
        assert 0.0 <= train_row[f"reward/{name}"] <= 1.0
        assert f"weight/{name}" in train_row
    assert train_row["weight/accuracy"] == pytest.approx(0.5, abs=1e-6)  # the accuracy-focused default
    for key in ("loss", "pg_loss", "entropy", "grad_norm", "completion_length", "train/steps_written"):
        assert np.isfinite(train_row[key]), key
    evals = [r for r in rows if "validation/greedy/accuracy" in r]
    assert [r["step"] for r in evals] == [0, 2, 4]
    assert all("test/sampled/hypervolume" in r for r in evals)
    assert Checkpointer(os.path.join(workdir, "checkpoints")).all_steps() == [2, 4]
    for plot in ("pareto_front.png", "weights.png"):
        assert os.path.getsize(os.path.join(workdir, plot)) > 1000
    assert os.listdir(os.path.join(workdir, "tensorboard"))
    on_disk = Summary.load(os.path.join(workdir, "summary.json"))
    assert on_disk == summary
    assert on_disk.objectives == ["accuracy", "length", "clarity"]
    assert set(on_disk.hypervolume) == {"validation", "test"}
    final_eval = evals[-1]
    assert summary.final["test"]["greedy"]["length"] == pytest.approx(final_eval["test/greedy/length"])
    assert summary.hypervolume["validation"]["sampled"] == pytest.approx(final_eval["validation/sampled/hypervolume"])


def test_same_config_and_seed_give_identical_metrics(reference_run, tmp_path):
    workdir, _ = reference_run
    train.run(_config(), str(tmp_path))  # its own warm start: trained again, not the reference's cached one
    assert _comparable(read_metrics(str(tmp_path))) == _comparable(read_metrics(workdir))


def test_a_different_seed_gives_different_metrics(reference_run, tmp_path):
    workdir, _ = reference_run
    c = _config()
    c.seed = 1
    train.run(c, str(tmp_path))
    assert _comparable(read_metrics(str(tmp_path))) != _comparable(read_metrics(workdir))


@pytest.mark.parametrize("stop_after", [2, 3])
def test_interrupted_run_resumes_to_the_same_numbers(reference_run, tmp_path, stop_after, sft_cache):
    """Killed after step k (on or between checkpoints), the rerun in the same workdir equals the reference."""
    workdir, summary = reference_run
    first = train.run(_config(sft_cache=sft_cache), str(tmp_path), stop_after=stop_after)
    assert first is None  # an unfinished run has no summary yet
    assert max(r["step"] for r in read_metrics(str(tmp_path))) == stop_after
    resumed = train.run(_config(sft_cache=sft_cache), str(tmp_path))
    assert _comparable(read_metrics(str(tmp_path))) == _comparable(read_metrics(workdir))
    assert resumed.hypervolume == summary.hypervolume
    assert resumed.final == summary.final


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # tensorstore futures of the failed read
def test_a_damaged_newest_checkpoint_is_skipped_and_the_same_command_finishes_the_run(reference_run, tmp_path, capsys,
                                                                                      sft_cache):
    """A preempted copy of the finished run (step 4's arrays cut in half) rerun as it was: it resumes from step 2,
    names the skipped checkpoint in one line, keeps it, and ends with the reference's numbers."""
    workdir, summary = reference_run
    shutil.copytree(workdir, tmp_path, dirs_exist_ok=True)
    _truncate_arrays(tmp_path / "checkpoints" / "4")
    capsys.readouterr()
    resumed = train.run(_config(sft_cache=sft_cache), str(tmp_path))
    skipped = [line for line in capsys.readouterr().out.splitlines() if line.startswith("checkpoint step 4 ")]
    assert len(skipped) == 1 and skipped[0].endswith("resuming from step 2"), skipped
    assert (tmp_path / "checkpoints.unreadable" / "4").is_dir()
    assert Checkpointer(str(tmp_path / "checkpoints")).all_steps() == [2, 4]
    assert _comparable(read_metrics(str(tmp_path))) == _comparable(read_metrics(workdir))
    assert resumed.hypervolume == summary.hypervolume
    assert resumed.final == summary.final


class _Messages:
    def __init__(self):
        self.lines = []

    def message(self, text):
        self.lines.append(text)


def test_warm_start_is_cached_under_a_fingerprint_of_its_settings(tmp_path):
    exp = train.Experiment(_config(), str(tmp_path))
    graphdef, params = nnx.split(exp.init_model())
    log = _Messages()
    trained = exp.warm_start(graphdef, params, log)
    assert not any("reusing" in line for line in log.lines)
    reused = exp.warm_start(graphdef, params, log)
    assert "reusing the cached SFT" in log.lines[-1]
    for a, b in zip(jax.tree.leaves(trained), jax.tree.leaves(reused)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    exp.config.sft.num_examples += 1  # different settings: trained again, not reused
    log.lines.clear()
    exp.warm_start(graphdef, params, log)
    assert not any("reusing" in line for line in log.lines)


def test_a_failing_reward_function_is_named_with_its_sample(tmp_path, sft_cache):
    def exploding(prompts, completions, **_):
        return [1.0 if "9" not in c else float("nan") for c in completions]

    def raising(prompts, completions, **_):
        if any(len(c) > 0 for c in completions):
            raise ZeroDivisionError("boom")
        return [0.0] * len(completions)

    def fine(prompts, completions, **_):
        return np.zeros(len(completions))

    for fn, name, pattern in ((exploding, "exploding", r"'conciseness' returned nan for sample \d+.*completion="),
                              (raising, "raising", r"'conciseness' raised ZeroDivisionError: boom on sample \d+")):
        exp = train.Experiment(_config(sft_cache=sft_cache, num_steps=2), str(tmp_path / name))
        exp.reward_set = RewardSet({"accuracy": fine, "conciseness": fn, "clarity": fine})
        with pytest.raises(RewardFunctionError, match=pattern):
            exp.run()
        assert Checkpointer(str(tmp_path / name / "checkpoints")).all_steps() == []


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, sft_cache):
    train.run(_config(sft_cache=sft_cache), str(tmp_path), stop_after=2)
    assert Checkpointer(str(tmp_path / "checkpoints")).all_steps() == [2]

    real_restore = RunState.restore

    def restore_poisoned(self, *args):  # the policy resumes with NaN parameters, so step 3's loss is NaN
        step = real_restore(self, *args)
        self.policy = self.policy._replace(params=jax.tree.map(lambda x: x * np.nan, self.policy.params))
        return step

    monkeypatch.setattr(RunState, "restore", restore_poisoned)
    with pytest.raises(train.TrainingDivergedError, match=r"non-finite loss .* at step 3.*step 2"):
        train.run(_config(sft_cache=sft_cache), str(tmp_path))
    ckpt = Checkpointer(str(tmp_path / "checkpoints"))
    assert ckpt.all_steps() == [2]
    assert max(r["step"] for r in read_metrics(str(tmp_path))) == 2


def test_fixed_weights_default_to_the_tasks_when_unset(tmp_path):
    config = experiment_config.load("peer.py:steps=1")
    config.weighting.weights = None
    exp = train.Experiment(config, str(tmp_path))
    np.testing.assert_allclose(exp.weight_opt.init(2).weights, np.asarray([1.0, 0.5]) / 1.5, rtol=1e-6)
    config.weighting.weights = (1.0, 3.0)
    exp = train.Experiment(config, str(tmp_path))
    np.testing.assert_allclose(exp.weight_opt.init(2).weights, [0.25, 0.75], rtol=1e-6)


def test_a_lora_run_checkpoints_only_the_adapters_and_resumes_to_the_same_numbers(tmp_path):
    """LoRA runs train, checkpoint and restore only the adapters (and their optimizer state); the frozen base comes
    back from the warm start, so a run killed after step 2 and rerun ends with the uninterrupted run's numbers."""
    config = _config(sft_cache=str(tmp_path / "sft"))  # one LoRA warm start for the three runs
    config.model.lora_rank, config.rl.num_steps = 2, 3
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    summary = train.run(config, str(whole))
    train.run(config, str(parts), stop_after=2)
    metadata = ocp.StandardCheckpointer().metadata(parts / "checkpoints" / "2" / "state")
    paths = [jax.tree_util.keystr(p) for p, _ in
             jax.tree_util.tree_flatten_with_path(getattr(metadata, "item_metadata", metadata).tree)[0]]
    params = [p for p in paths if p.startswith("['policy']['params']")]
    assert params and all("['lora_a']" in p or "['lora_b']" in p for p in params), params
    assert not [p for p in paths if "['policy']" in p and "lora_" not in p and p.endswith("['value']")]
    resumed = train.run(config, str(parts))
    assert _comparable(read_metrics(str(parts))) == _comparable(read_metrics(str(whole)))
    assert resumed.final == summary.final
