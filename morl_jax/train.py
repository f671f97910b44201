"""The experiment loop: wires task, policy, rewards, weighting, RL update, validation and checkpoints.

It owns no math. One RL step: rollout -> rewards [N, K] (host, validated) -> signals (only what the weight
optimizer needs) -> weights -> advantages + PPO-clip update -> metrics. Every `eval.every` steps the
validation and test points go into their Pareto archives; every `checkpoint.every` steps the whole `RunState`
is written, so a rerun with the same workdir resumes to the same numbers.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from etils import epath
from flax import nnx

from morl_jax import experiment_config, models, parallel, sft, tasks
from morl_jax.checkpointing import Checkpointer
from morl_jax.evaluate import EvalSettings, Summary, Validator
from morl_jax.logging import MetricLogger, read_metrics
from morl_jax.optimizers import build_optimizer, learning_rate_schedule
from morl_jax.rl.objective_gradients import apply_objective_gradients
from morl_jax.rl.step import UpdateState, update
from morl_jax.rollout import RolloutCollector, SamplingSettings, prompt_ids
from morl_jax.paths import resolve
from morl_jax.run_state import RunState, trainable, with_trainable
from morl_jax.signals import GramSettings, SignalBuilder
from morl_jax.weighting import Scalarization, preference
from morl_jax.weighting.base import state_metrics


class TrainingDivergedError(FloatingPointError):
    """The loss became NaN/inf; the run stops and the last good checkpoint is kept."""


def reward_correlations(rewards: np.ndarray, names: list[str]) -> dict[str, float]:
    """`reward_corr/<a>,<b>`: the Pearson correlation of every pair of rewards over the batch (NaN when one is
    constant). At step 1 it measures how the objectives relate under the starting policy."""
    out = {}
    centred, spread = rewards - rewards.mean(axis=0), rewards.std(axis=0)
    for i, j in itertools.combinations(range(len(names)), 2):
        both = spread[i] * spread[j]
        corr = float((centred[:, i] * centred[:, j]).mean() / both) if both > 0 else float("nan")
        out[f"reward_corr/{names[i]},{names[j]}"] = corr
    return out


def new_policy(config: models.ModelConfig, seed: int) -> models.Transformer:
    """A freshly initialised policy (module level, so its sharded initialisation compiles once per process)."""
    return models.Transformer(config, rngs=nnx.Rngs(seed))


def prompt_length(task: tasks.Task, tokenizer: models.Tokenizer, config: ml_collections.ConfigDict) -> int:
    """The static prompt width: configured, or the longest encoded prompt of the train and eval splits."""
    if config.rl.max_prompt_length:
        return config.rl.max_prompt_length
    splits = {"train", config.eval.split} | ({config.eval.test_split} if config.eval.test_split else set())
    longest = max(len(ids) for split in splits
                  for ids in prompt_ids(tokenizer, task.split(split), chat=config.model.chat_template))
    return models.bucket_length(longest)


class Experiment:
    """Everything a run builds once from its (validated) config; `run()` trains.

    Usable on its own (e.g. in a notebook): `Experiment(config, workdir).run()`.
    """

    def __init__(self, config: ml_collections.ConfigDict, workdir: str):
        experiment_config.validate(config)
        self.config, self.workdir = config, workdir
        c = config
        self.task = tasks.get_task(c.task.name, **dict(c.task.kwargs))
        self.tokenizer = models.load_tokenizer(c.model.tokenizer)
        self.reward_set = self.task.reward_set(**dict(c.task.rewards))
        self.mesh = parallel.make_mesh(dict(c.mesh.shape), dcn=dict(c.mesh.dcn))
        self.rules = experiment_config.sharding_rules(c)
        n = c.rl.prompts_per_step * c.rl.group_size
        batch_devices = parallel.batch_shards(self.mesh, self.rules)
        if n % (batch_devices * c.rl.minibatches * c.rl.micro_batches):
            raise experiment_config.ConfigError(
                f"config key 'rl.prompts_per_step': a rollout of {n} samples does not split over "
                f"{batch_devices} data-parallel devices x {c.rl.minibatches} minibatches x {c.rl.micro_batches} "
                "micro-batches")
        if c.sft.steps and c.sft.batch_size % batch_devices:
            raise experiment_config.ConfigError(
                f"config key 'sft.batch_size': {c.sft.batch_size} does not split over {batch_devices} data-parallel "
                "devices")
        self.prompt_len = prompt_length(self.task, self.tokenizer, c)
        self.model_config = experiment_config.model_config(c)
        if self.model_config.vocab_size < self.tokenizer.vocab_size:
            raise experiment_config.ConfigError(
                f"config key 'model': vocab_size {self.model_config.vocab_size} is smaller than the tokenizer's "
                f"{self.tokenizer.vocab_size}")
        self.weight_opt = experiment_config.weight_optimizer(c, self.task)
        self.weight_step = jax.jit(self.weight_opt.update)
        self.settings = experiment_config.update_settings(c)
        self.sampling = SamplingSettings(c.rl.max_new_tokens, c.rl.temperature, c.rl.top_k, c.rl.top_p)
        self.eval_settings = EvalSettings(c.eval.num_prompts, c.eval.num_samples, c.eval.split, c.eval.test_split,
                                          c.eval.reference, c.weighting.eval_mode, c.weighting.reference)
        w = c.weighting
        self.gram = GramSettings(tuple(w.gram_layers) or None, w.gram_clip_norm, w.fused_update)
        self.adapters_only = bool(c.model.lora_rank)
        parallel.state_shardings(nnx.state(nnx.eval_shape(lambda: models.Transformer(self.model_config,
                                                                                      rngs=nnx.Rngs(0)))),
                                 self.mesh, self.rules)  # a rule that does not divide a parameter: before anything

    @property
    def init_seed(self) -> int:
        """The seed of the policy's initialisation and warm start: `sft.seed`, or the run's seed when it is -1
        (a sweep can vary the RL seed over one shared warm start)."""
        return self.config.sft.seed if self.config.sft.seed >= 0 else self.config.seed

    def init_model(self) -> nnx.Module:
        """The policy before any training: from a HF directory (each tensor placed straight into its shards), or
        a preset initialised from the seed (in its sharded layout)."""
        if self.config.model.path:
            return models.from_pretrained(self.config.model.path, config=self.model_config, seed=self.init_seed,
                                          shardings=lambda s: parallel.state_shardings(s, self.mesh, self.rules))
        return parallel.create_sharded_model(new_policy, self.mesh, self.model_config, self.init_seed,
                                             rules=self.rules)

    def warm_start(self, graphdef: nnx.GraphDef, params: Any, logger: MetricLogger) -> Any:
        """The SFT parameters: cached ones when the fingerprint matches, else trained now and cached."""
        c, s = self.config, self.config.sft
        if not s.steps:
            return params
        if not self.task.has_sft_examples:
            logger.message(f"warm start skipped: task '{c.task.name}' provides no SFT examples "
                           f"(sft.steps={s.steps} ignored)")
            return params
        parts = {"sft": {k: v for k, v in s.to_dict().items() if k not in ("cache_dir", "seed")}, "model": c.model.to_dict(),
                 "task": {"name": c.task.name, "kwargs": c.task.kwargs.to_dict()}, "seed": self.init_seed,
                 "prompt_len": self.prompt_len, "completion_len": c.rl.max_new_tokens}
        key = sft.fingerprint(parts)
        directory = s.cache_dir or epath.Path(self.workdir) / "sft"
        cached = sft.load_cached(directory, key, trainable(params, self.adapters_only))
        if cached is not None:
            logger.message(f"warm start: reusing the cached SFT parameters in {directory}")
            return with_trainable(params, cached, self.adapters_only)
        examples = self.task.sft_examples(s.num_examples, seed=self.init_seed, style_mix=dict(s.style_mix) or None)
        data = sft.encode_examples(self.tokenizer, [(p, comp) for p, comp, _ in examples], self.prompt_len,
                                   c.rl.max_new_tokens, chat=c.model.chat_template)
        start = time.time()
        params, losses = sft.train(graphdef, params, data, steps=s.steps, batch_size=s.batch_size,
                                   learning_rate=s.learning_rate, warmup_steps=s.warmup_steps,
                                   weight_decay=s.weight_decay, seed=self.init_seed, prompt_len=self.prompt_len,
                                   log=logger.message, mesh=self.mesh, rules=self.rules,
                                   adapters_only=self.adapters_only)
        sft.save_cached(directory, key, trainable(params, self.adapters_only), {"steps": s.steps, "final_loss": float(np.mean(losses[-20:])),
                                                 "seconds": time.time() - start})
        return params

    def initial_state(self, graphdef: nnx.GraphDef, params: Any, validator: Validator) -> RunState:
        """The state at step 0: optimiser state sharded like the parameters, fresh iterator and key."""
        c = self.config
        opt_state = parallel.init_optimizer_state(build_optimizer(self.settings.optimizer), params, self.mesh)
        iterator = tasks.PromptIterator(self.task.split("train"), c.rl.prompts_per_step, seed=c.seed,
                                        shuffle=c.rl.shuffle_prompts)
        return RunState(UpdateState(params, opt_state), self.weight_opt.init(len(self.reward_set)),
                        jax.random.PRNGKey(c.seed), iterator, self.reward_set, validator, self.adapters_only)

    def run(self, *, stop_after: int | None = None) -> Summary | None:
        """Train (resuming from the workdir's latest checkpoint); the summary, or None if stopped early.

        `stop_after` ends the run after that step as if it were killed there (used to test resumption).
        """
        with jax.set_mesh(self.mesh):
            return self._run(stop_after)

    def _run(self, stop_after: int | None) -> Summary | None:
        c, workdir = self.config, resolve(self.workdir)
        if parallel.is_primary():  # the other processes write no file of their own, only checkpoint shards
            workdir.mkdir(parents=True, exist_ok=True)
            (workdir / "config.json").write_text(c.to_json_best_effort(indent=1))
        parallel.barrier("workdir_ready")
        ckpt = Checkpointer(workdir / "checkpoints", max_to_keep=c.checkpoint.max_to_keep)
        names, objectives = list(self.reward_set.names), list(self.task.objective_names)
        progress = [f"reward/{n}" for n in names] + ["completion_length", "loss",
                                                      f"{c.eval.split}/sampled/{objectives[0]}", "time/step_s"]
        logger = MetricLogger(workdir, total_steps=c.rl.num_steps, start_step=None, console=c.log.console,
                              progress_keys=progress)
        if self.task.worst_point is None and "worst" in (c.eval.reference, c.weighting.reference):
            logger.message(f"task '{c.task.name}' has no worst point: the hypervolume reference is the initial "
                           "model's validation point instead")
        t0 = time.time()
        graphdef, params = nnx.split(self.init_model())
        params = self.warm_start(graphdef, params, logger)
        timings = {"warm_start_s": time.time() - t0}
        # The reference keeps buffers of its own: the update donates (and so invalidates) the policy's.
        ref_params = jax.tree.map(jnp.copy, params) if self.settings.use_kl else None
        collector = RolloutCollector(self.tokenizer, graphdef, self.prompt_len, self.sampling, self.mesh,
                                     chat=c.model.chat_template, rules=self.rules)
        validator = Validator(self.task, collector, self.eval_settings,
                              jax.random.fold_in(jax.random.PRNGKey(c.seed), 1 << 30))
        state = self.initial_state(graphdef, params, validator)
        signals = SignalBuilder(self.weight_opt.needs, graphdef, self.settings, self.gram,
                                learning_rate_schedule(self.settings.optimizer), c.rl.epochs * c.rl.minibatches)
        start_step = state.restore(ckpt, logger.message)
        logger.start(start_step)
        if start_step:
            logger.message(f"resumed from step {start_step} in {workdir}")
        else:
            initial = self._validate(state, 0, signals, logger, report=bool(c.eval.every))
            if initial:
                logger.write(0, initial)

        step, rl_start = start_step, time.time()
        for step in range(start_step + 1, c.rl.num_steps + 1):
            times = {"start": time.time()}
            state.key, sample_key, update_key = jax.random.split(state.key, 3)
            rollouts = collector(state.policy.params, next(state.iterator), sample_key, group_size=c.rl.group_size)
            times["rollout"] = time.time()
            rewards = rollouts.score(self.reward_set)
            batch = rollouts.batch(rewards, self.mesh, self.rules)
            times["rewards"] = time.time()
            sig, gradients, diagnostics = signals(step, state.policy.params, batch, rollouts, validator, ref_params)
            weights, state.weights = self.weight_step(sig, state.weights)
            times["signals"] = time.time()
            if signals.fused:
                state.policy, metrics = apply_objective_gradients(state.policy, batch, gradients, weights,
                                                                  settings=self.settings)
            else:
                state.policy, metrics = update(state.policy, batch, weights, update_key, ref_params,
                                               graphdef=graphdef, settings=self.settings)
            metrics = parallel.gather(metrics)
            if not np.isfinite(metrics["loss"]):
                logger.close()
                raise TrainingDivergedError(
                    f"non-finite loss ({metrics['loss']}) at step {step}; stopped without checkpointing, the last "
                    f"good checkpoint (step {ckpt.latest_step()}) is kept in {workdir / 'checkpoints'}")
            times["update"] = time.time()
            row = self._train_row(rollouts, rewards, weights, state, metrics, diagnostics, names)
            if sig.learning_rate is not None:
                row["learning_rate"] = float(sig.learning_rate)
            report = bool(c.eval.every) and (step % c.eval.every == 0 or step == c.rl.num_steps)
            row.update(self._validate(state, step, signals, logger, report=report))
            times["end"] = time.time()
            row.update({f"time/{k}_s": times[k] - times[prev] for prev, k in
                        zip(("start", "rollout", "rewards", "signals"), ("rollout", "rewards", "signals", "update"))})
            row.update({"time/eval_s": times["end"] - times["update"], "time/step_s": times["end"] - times["start"]})
            logger.write(step, row)
            logger.progress(step, row)
            if c.checkpoint.every and (step % c.checkpoint.every == 0 or step == c.rl.num_steps):
                state.save(ckpt, step)
            if stop_after is not None and step >= stop_after:
                break
        timings["rl_s"] = time.time() - rl_start
        logger.close()
        ckpt.close()
        return self._finish(validator, timings) if step >= c.rl.num_steps else None

    def _validate(self, state: RunState, step: int, signals: SignalBuilder, logger: MetricLogger, *,
                  report: bool) -> dict[str, Any]:
        """The reporting evaluation when due, and the weight optimizer's validation when it needs one now."""
        row = {}
        if report:
            row = state.validator.report(state.policy.params, step)
            logger.message(state.validator.describe(row, step))
        if signals.needs_validation and step % self.config.weighting.eval_every == 0:
            state.validator.signal(state.policy.params, step)
        return row

    def _train_row(self, rollouts, rewards, weights, state, metrics, diagnostics, names) -> dict[str, Any]:
        """Every raw reward, weight, weight-optimizer diagnostic, task diagnostic and loss term of a step."""
        row = {f"reward/{n}": float(np.mean(rewards[:, i])) for i, n in enumerate(names)}
        if isinstance(weights, Scalarization):
            row["reward/scalarized"] = float(np.mean(parallel.gather(weights.rewards)))
        weights = np.asarray(parallel.gather(preference(weights)))
        mean_weights = weights if weights.ndim == 1 else weights.mean(axis=0)
        row.update({f"reward_std/{n}": float(np.std(rewards[:, i])) for i, n in enumerate(names)})
        row.update(reward_correlations(rewards, names))
        row.update({f"weight/{n}": float(w) for n, w in zip(names, mean_weights)})
        row.update(state_metrics(parallel.gather(state.weights), names))
        for key, value in diagnostics.items():
            row.update({f"signal/{key}/{n}": float(v) for n, v in zip(names, value)})
        diagnostics = rollouts.evaluate(self.task)
        row.update({f"train/{k}": v for k, v in diagnostics.items() if k not in names})
        row["completion_length"] = float(np.mean(rollouts.lengths))
        row.update({k: float(v) for k, v in metrics.items()})
        return row

    def _finish(self, validator: Validator, timings: dict[str, float]) -> Summary | None:
        """Plots and `summary.json` of a finished run (None when it never validated), written by process 0; every
        process returns the same summary."""
        c, workdir = self.config, resolve(self.workdir)
        files = {"summary": str(workdir / "summary.json"), "metrics": str(workdir / "metrics.jsonl")}
        label = f"{c.task.name}: {c.rl.estimator}, {c.weighting.name}"
        split = c.eval.test_split or c.eval.split
        if c.log.plots and parallel.is_primary():
            from morl_jax import plots  # noqa: PLC0415  (matplotlib, only for runs that plot)

            files["weights_plot"] = str(workdir / "weights.png")
            plots.plot_weights(files["weights_plot"], read_metrics(workdir), self.reward_set.names, title=label)
            if validator.archives:
                files["pareto_plot"] = str(workdir / "pareto_front.png")
                plots.plot_fronts(files["pareto_plot"], {mode: a for key, a in validator.archives.items()
                                                         for s, mode in [key.split("/")] if s == split},
                                  title=f"{label} ({split} split)")
        if not validator.archives:
            return None
        summary = validator.summary(str(workdir), c.rl.num_steps, timings, files)
        if parallel.is_primary():
            summary.save(files["summary"])
        return summary


def run(config: ml_collections.ConfigDict, workdir: str, *, stop_after: int | None = None) -> Summary | None:
    """Validate `config`, train in `workdir` (resuming when it holds a checkpoint), return the summary."""
    return Experiment(config, workdir).run(stop_after=stop_after)
