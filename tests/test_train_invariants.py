"""Invariants of a real RL step, asserted through the real loop, collector and update: each sample is scored
against its own prompt and answer, the update's log-probs recompute the sampler's, the first minibatch sees the
behaviour policy, and nothing recompiles from step to step."""

import inspect

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from morl_jax import experiment_config, models, train
from morl_jax.logging import read_metrics
from morl_jax.models import sampling
from morl_jax.rl import step as rl_step
from morl_jax.rollout import RolloutCollector

# One xdist worker runs every arithmetic-loop module (`make test` uses --dist loadgroup): they share its compiled
# programs and its warm-start cache.
pytestmark = pytest.mark.xdist_group("arith_loop")


def config(sft_cache, *overrides):
    return experiment_config.load("arith.py:size=test", [f"sft.cache_dir={sft_cache}", *overrides])


def test_samples_meet_their_own_prompt_answer_and_behaviour_log_probs(sft_cache, tmp_path, monkeypatch):
    """Rows i*G..i*G+G-1 are prompt i's: the decoded prompt tokens, the prompt text and the answer column passed to
    the rewards agree, and the update's recomputed log-probs at the sampling temperature are the sampler's."""
    exp = train.Experiment(config(sft_cache, "rl.num_steps=2", "eval.every=0"), str(tmp_path))
    answers = dict(zip(exp.task.split("train")["prompt"], exp.task.split("train")["answer"]))
    seen = []
    collect = RolloutCollector.__call__

    def recording(self, params, columns, key, *, group_size=1, greedy=False):
        rollouts = collect(self, params, columns, key, group_size=group_size, greedy=greedy)
        if not greedy and group_size > 1:
            seen.append((self, jax.tree.map(jnp.copy, params), rollouts, group_size))  # the update donates params
        return rollouts

    monkeypatch.setattr(RolloutCollector, "__call__", recording)
    scored = []
    score = exp.reward_set.__call__
    monkeypatch.setattr(type(exp.reward_set), "__call__",
                        lambda rs, prompts, completions, **cols: scored.append((prompts, cols)) or score(
                            prompts, completions, **cols))
    exp.run()
    assert len(seen) == len(scored) == 2
    for (collector, params, rollouts, g), (prompts, columns) in zip(seen, scored):
        assert prompts == rollouts.prompts
        for i, prompt in enumerate(prompts):
            assert prompt == prompts[(i // g) * g]  # the G samples of a prompt are contiguous
            decoded = exp.tokenizer.decode(rollouts.prompt_tokens[i][rollouts.prompt_mask[i]].tolist())
            assert decoded.strip() == prompt.strip()
            assert columns["answer"][i] == answers[prompt]
        assert len({prompts[i * g] for i in range(len(prompts) // g)}) == len(prompts) // g
        batch = rollouts.batch(np.zeros((len(prompts), 3)), exp.mesh)
        recomputed = jax.jit(rl_step.completion_logprobs, static_argnums=(0, 3))(collector.graphdef, params, batch,
                                                                                exp.settings)
        width = batch.completion_mask.shape[1]
        np.testing.assert_allclose(np.where(rollouts.completion_mask[:, :width], recomputed, 0.0),
                                   np.asarray(rollouts.logprobs[:, :width]), atol=2e-5)


def test_the_first_minibatch_of_every_step_sees_the_behaviour_policy(sft_cache, tmp_path):
    train.run(config(sft_cache, "rl.epochs=2", "rl.minibatches=2", "rl.kl_coef=0.05", "eval.every=0"),
              str(tmp_path))
    rows = [r for r in read_metrics(str(tmp_path)) if "loss" in r]
    assert len(rows) == 4
    for r in rows:
        assert r["first_minibatch/ratio_max"] == pytest.approx(1.0, abs=1e-5)
        assert r["first_minibatch/ratio_mean"] == pytest.approx(1.0, abs=1e-6)
        assert r["first_minibatch/approx_kl"] == pytest.approx(0.0, abs=1e-7)
        assert r["first_minibatch/clip_frac_low"] == r["first_minibatch/clip_frac_high"] == 0.0
    assert max(r["ratio_max"] for r in rows) > 1.0 + 1e-4  # the later minibatches do see a moved policy
    assert rows[0]["kl"] > 0  # averaged over minibatches that follow updates; the first step's first is 0


def test_nothing_recompiles_from_step_to_step(sft_cache, tmp_path, monkeypatch):
    """Fixed shapes (completions as long as the generation limit's trim bucket): one trace of the update, the
    weight step and each sampler mode over a whole run."""
    c = config(sft_cache, "rl.num_steps=4", "task.kwargs.max_completion_len=16", "rl.max_new_tokens=16", "sft.steps=0",
               "weighting.name=saw", "eval.every=2")
    exp = train.Experiment(c, str(tmp_path))
    exp.weight_step = jax.jit(chex.assert_max_traces(exp.weight_opt.update, n=1))
    monkeypatch.setattr(train, "update", jax.jit(chex.assert_max_traces(rl_step.update.__wrapped__, n=1),
                                                 static_argnames=("graphdef", "settings"), donate_argnames=("state",)))
    # training (16 rows, sampled), validation greedy (8 rows) and sampled (16 rows): two sampler programs
    static = [n for n, p in inspect.signature(sampling._generate).parameters.items() if p.kind == p.KEYWORD_ONLY]
    monkeypatch.setattr(sampling, "_generate_jit", jax.jit(chex.assert_max_traces(sampling._generate, n=2),
                                                           static_argnames=static))
    exp.run()
    assert models.generate is sampling.generate
