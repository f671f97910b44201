"""The weighting phase inside the real loop: each optimizer gets the signals it needs (and the loop computes no
others), every adaptive optimizer resumes to the same numbers, KL runs work fresh and resumed, and the fused
update equals the separate one."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from morl_jax import experiment_config, signals, train, weighting
from morl_jax.evaluate import Validator
from morl_jax.logging import read_metrics
from morl_jax.rollout import RolloutCollector

# One xdist worker runs every arithmetic-loop module (`make test` uses --dist loadgroup): they share its compiled
# programs and its warm-start cache.
pytestmark = pytest.mark.xdist_group("arith_loop")


def config(sft_cache, variant="", *overrides):
    spec = "arith.py:size=test" + (f",{variant}" if variant else "")
    return experiment_config.load(spec, [f"sft.cache_dir={sft_cache}", *overrides])


def comparable(rows):
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]


class Calls:
    """Counts calls of a function while passing them through."""

    def __init__(self, fn):
        self.fn, self.count = fn, 0

    def __call__(self, *args, **kwargs):
        self.count += 1
        return self.fn(*args, **kwargs)


def test_the_loop_computes_only_the_signals_an_optimizer_needs(sft_cache, tmp_path, monkeypatch):
    gram = Calls(signals.objective_gradients)
    signal = Calls(Validator.signal)
    decode = Calls(RolloutCollector.__call__)
    monkeypatch.setattr(signals, "objective_gradients", gram)
    monkeypatch.setattr(Validator, "signal", lambda self, *a: signal(self, *a))
    monkeypatch.setattr(RolloutCollector, "__call__", lambda self, *a, **k: decode(self, *a, **k))
    counts = {}
    for name, overrides in (("fixed", []), ("gradient", []),
                            ("hypervolume_gradient", ["weighting.eval_every=2"]),
                            ("hypervolume_gradient", ["weighting.eval_every=1"])):
        gram.count = signal.count = decode.count = 0
        train.run(config(sft_cache, f"weighting={name}", *overrides), str(tmp_path / f"{name}{len(counts)}"))
        counts[name, tuple(overrides)] = (gram.count, signal.count, decode.count)
    # 4 RL steps: 4 training rollouts + reports at steps 0, 2, 4 (2 splits x 2 modes each) = 16 decodes.
    assert counts["fixed", ()] == (0, 0, 16)
    assert counts["gradient", ()] == (4, 0, 16)
    # Signal validations at steps 0, 2, 4 reuse the report's greedy validation decode.
    assert counts["hypervolume_gradient", ("weighting.eval_every=2",)] == (0, 3, 16)
    # Every step: the odd steps 1 and 3 add one greedy validation decode each.
    assert counts["hypervolume_gradient", ("weighting.eval_every=1",)] == (0, 5, 18)


class ProbeState(NamedTuple):
    reward_mean: jax.Array  # [K]
    hidden_norm: jax.Array
    learning_rate: jax.Array
    gram_diagonal: jax.Array  # [K]
    eval_point: jax.Array  # [K]
    eval_count: jax.Array


def probe():
    """An optimizer that reads every signal and records it in its (logged) state."""
    needs = frozenset({"rewards", "hidden", "learning_rate", "gram", "eval_point", "eval_front", "eval_front_mask",
                       "eval_reference", "hv_gain", "eval_count"})

    def init(k):
        z = jnp.zeros((k,), jnp.float32)
        return ProbeState(z, jnp.zeros(()), jnp.zeros(()), z, z, jnp.zeros((), jnp.int32))

    def update(s, state):
        k = s.rewards.shape[1]
        assert s.hidden.shape[0] == s.rewards.shape[0] and s.gram.shape == (k, k)
        assert s.eval_front.shape[1] == k and s.eval_front_mask.shape == s.eval_front.shape[:1]
        new = ProbeState(s.rewards.mean(axis=0), jnp.linalg.norm(s.hidden, axis=1).mean(), s.learning_rate,
                         jnp.diagonal(s.gram), s.eval_point, s.eval_count)
        return jnp.full((k,), 1.0 / k), new

    return weighting.WeightOptimizer(init, update, needs)


def test_host_and_device_signals_reach_the_optimizer(sft_cache, tmp_path):
    weighting.register("test_probe", probe)
    try:
        c = config(sft_cache, "", "weighting.name=test_probe", "weighting.gram_clip_norm=0.0",
                   "optimizer.schedule=linear", "eval.every=1")
        train.run(c, str(tmp_path))
    finally:
        del weighting.WEIGHT_OPTIMIZERS["test_probe"]
    rows = [r for r in read_metrics(str(tmp_path)) if "reward/accuracy" in r]
    names = ("accuracy", "conciseness", "clarity")
    evals = {r["step"]: r for r in read_metrics(str(tmp_path)) if "validation/greedy/length" in r}
    for r in rows:
        step = r["step"]
        for n in names:
            assert r[f"weighting/reward_mean/{n}"] == pytest.approx(r[f"reward/{n}"], rel=1e-6)
            # gram without clipping: its diagonal is the squared norm of each per-objective gradient
            assert r[f"weighting/gram_diagonal/{n}"] == pytest.approx(r[f"signal/gradient_norm/{n}"] ** 2, rel=1e-4)
        assert r["weighting/learning_rate"] == pytest.approx(1e-4 * (1 - (step - 1) / 4), rel=1e-6)
        assert r["weighting/hidden_norm"] > 0
        assert r["weighting/eval_count"] == step - 1  # validations after step 0 seen before this step
        # the latest validation point, in maximisation form (length negated)
        latest = evals[step - 1]
        assert r["weighting/eval_point/conciseness"] == pytest.approx(-latest["validation/greedy/length"], rel=1e-6)


@pytest.mark.parametrize("variant, overrides", [
    ("weighting=gradient", []),
    ("weighting=hypervolume_gradient", []),
    ("weighting=hypervolume,algo=rloo", []),
    ("weighting=saw", ["rl.kl_coef=0.05"]),
    ("", ["rl.kl_coef=0.05", "rl.kl_estimator=k2"]),
])
def test_runs_resume_to_the_same_numbers(sft_cache, tmp_path, variant, overrides):
    c = config(sft_cache, variant, *overrides)
    train.run(c, str(tmp_path / "whole"))
    assert train.run(c, str(tmp_path / "split"), stop_after=3) is None
    train.run(c, str(tmp_path / "split"))
    whole = comparable(read_metrics(str(tmp_path / "whole")))
    assert comparable(read_metrics(str(tmp_path / "split"))) == whole
    if "rl.kl_coef=0.05" in overrides:  # the KL term is live: 0 at the start, positive once the policy moves
        kl = [r["kl"] for r in whole if "kl" in r]
        assert kl[0] == pytest.approx(0.0, abs=1e-6) and max(kl) > 0


def test_fused_update_equals_the_separate_update_in_the_loop(sft_cache, tmp_path):
    rows = {}
    for fused in (True, False):
        c = config(sft_cache, "weighting=gradient", "rl.level=advantage", f"weighting.fused_update={fused}",
                   "rl.num_steps=1", "eval.every=0", "checkpoint.every=0")
        train.run(c, str(tmp_path / str(fused)))
        rows[fused] = read_metrics(str(tmp_path / str(fused)))[0]
    for key in ("loss", "pg_loss", "entropy", "grad_norm", "weight/accuracy", "weight/clarity", "advantage_std"):
        assert rows[True][key] == pytest.approx(rows[False][key], rel=1e-5, abs=1e-8), key


def test_validation_and_test_prompts_never_overlap(sft_cache, tmp_path):
    exp = train.Experiment(config(sft_cache), str(tmp_path))
    validation = set(exp.task.split("validation")["prompt"])
    assert validation and not validation & set(exp.task.split("test")["prompt"])
    summary = train.run(config(sft_cache), str(tmp_path))
    for entry in summary.pareto["sampled"]:
        assert set(entry) == {"step", "validation", "test"}
    assert np.isfinite(summary.mean_pareto_step["greedy"])


def test_signal_validation_reads_the_validation_split_in_the_configured_mode(sft_cache, tmp_path):
    exp = train.Experiment(config(sft_cache, "", "weighting.eval_mode=sampled"), str(tmp_path))
    validator = Validator(exp.task, None, exp.eval_settings, jax.random.PRNGKey(0))
    calls = []

    def result(params, step, split, mode):
        calls.append((split, mode))
        return {name: 0.5 for name in exp.task.objective_names}

    validator.result = result
    validator.signal(None, 0)
    validator.signal(None, 1)
    assert calls == [("validation", "sampled")] * 2
    assert validator.signal_count == 1  # the first validation only sets the reference (the initial point)
