"""The experiment loop: wires task, policy, rewards, weighting, RL update, validation and checkpoints.

It owns no math. One RL step: sample G completions per prompt (models.sampling) -> K rewards on the host
(RewardSet, validated) -> jit'd update (weights -> advantages -> PPO-clip over minibatches) -> metrics.
Every `eval.every` steps the validation point goes into the Pareto archives; every `checkpoint.every` steps
all state is written so a rerun with the same workdir resumes to the same numbers.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np
import optax
from flax import nnx

from morl_jax import checkpointing, evaluate, experiment_config, models, parallel, sft, tasks, weighting
from morl_jax.logging import MetricLogger
from morl_jax.pareto import ParetoArchive, mean_pareto_step
from morl_jax.rl.step import RolloutBatch, UpdateSettings, UpdateState, make_update

PROGRESS_KEYS = ("reward/accuracy", "reward/conciseness", "reward/clarity", "completion_length", "loss",
                 "eval/greedy/accuracy", "time/step_s")


_UPDATE_CACHE: dict[tuple, Any] = {}
# Completions are cut to the longest in the batch, rounded up to this: fewer wasted tokens in the update, at
# most max_new_tokens / TRIM_BUCKET compiled shapes.
TRIM_BUCKET = 16


class TrainingDivergedError(FloatingPointError):
    """The loss became NaN/inf; the run stops and the last good checkpoint is kept."""


def build_model_config(config: ml_collections.ConfigDict) -> models.ModelConfig:
    m = config.model
    overrides = {"dtype": m.dtype, **dict(m.overrides)}
    if m.path:
        return models.load_config(m.path, **overrides)
    return models.get_config(m.preset, **overrides)


def build_optimizer(o: ml_collections.ConfigDict, total_updates: int) -> optax.GradientTransformation:
    """AdamW with an optional warm-up and constant / linear / cosine decay, after global-norm clipping."""
    decay_steps = max(1, total_updates - o.warmup_steps)
    body = {
        "constant": optax.constant_schedule(o.learning_rate),
        "linear": optax.linear_schedule(o.learning_rate, 0.0, decay_steps),
        "cosine": optax.cosine_decay_schedule(o.learning_rate, decay_steps),
    }[o.schedule]
    schedule = body if not o.warmup_steps else optax.join_schedules(
        [optax.linear_schedule(0.0, o.learning_rate, o.warmup_steps), body], [o.warmup_steps])
    chain = [optax.clip_by_global_norm(o.grad_clip)] if o.grad_clip else []
    chain.append(optax.adamw(schedule, b1=o.b1, b2=o.b2, eps=o.eps, weight_decay=o.weight_decay))
    return optax.chain(*chain)


def prompt_length(task: tasks.Task, tokenizer: models.Tokenizer, config: ml_collections.ConfigDict) -> int:
    """The static prompt width: configured, or the longest encoded prompt of the train and eval splits."""
    if config.rl.max_prompt_length:
        return config.rl.max_prompt_length
    longest = max(len(tokenizer.encode(str(p))) for split in {"train", config.eval.split}
                  for p in task.split(split)["prompt"])
    return models.bucket_length(longest)


def _update_settings(config: ml_collections.ConfigDict) -> UpdateSettings:
    r = config.rl
    return UpdateSettings(
        estimator=r.estimator, level="advantage" if r.estimator == "gdpo" else r.level, eps=r.eps or None,
        group_size=r.group_size, epochs=r.epochs, minibatches=r.minibatches, clip_low=r.clip_low,
        clip_high=r.clip_high, dual_clip=r.dual_clip or None, aggregation=r.loss_aggregation,
        kl_coef=r.kl_coef, kl_estimator=r.kl_estimator, temperature=r.temperature,
        max_length=float(r.max_new_tokens))


class Experiment:
    """Everything a run builds once: task, tokenizer, model structure, rewards, optimisers, jit'd functions.

    Usable on its own (e.g. in a notebook): `Experiment(config, workdir).run()`.
    """

    def __init__(self, config: ml_collections.ConfigDict, workdir: str):
        experiment_config.validate(config)
        self.config, self.workdir = config, workdir
        c = config
        self.task = tasks.get_task(c.task.name, **dict(c.task.kwargs))
        self.tokenizer = models.load_tokenizer(c.model.tokenizer)
        self.reward_set = self.task.reward_set(**dict(c.task.rewards))
        self.objectives = self.task.objective_names
        self.mesh = parallel.make_mesh(dict(c.mesh))
        n = c.rl.prompts_per_step * c.rl.group_size
        batch_devices = self.mesh.shape["data"] * self.mesh.shape["fsdp"]
        if n % (batch_devices * c.rl.minibatches):
            raise experiment_config.ConfigError(
                f"config key 'rl.prompts_per_step': a rollout of {n} samples does not split over "
                f"{batch_devices} data-parallel devices x {c.rl.minibatches} minibatches")
        self.prompt_len = prompt_length(self.task, self.tokenizer, c)
        self.model_config = build_model_config(c)
        if self.model_config.vocab_size < self.tokenizer.vocab_size:
            raise experiment_config.ConfigError(
                f"config key 'model': vocab_size {self.model_config.vocab_size} is smaller than the tokenizer's "
                f"{self.tokenizer.vocab_size}")
        weights = tuple(c.weighting.weights if c.weighting.weights is not None else self.task.default_weights)
        self.weight_opt = weighting.get_weight_optimizer(
            c.weighting.name, **({"weights": weights} if c.weighting.name == "fixed" else {}),
            **dict(c.weighting.kwargs))
        updates_per_step = c.rl.epochs * c.rl.minibatches
        self.tx = build_optimizer(c.optimizer, max(1, c.rl.num_steps * updates_per_step))
        self.settings = _update_settings(c)

    # ----- building blocks ---------------------------------------------------------------------------------
    def init_model(self) -> nnx.Module:
        """The policy before any training: from a HF directory, or a preset initialised from the seed."""
        if self.config.model.path:
            model = models.from_pretrained(self.config.model.path, dtype=self.model_config.dtype)
            return parallel.shard_model(model, self.mesh)
        cfg, seed = self.model_config, self.config.seed
        return parallel.create_sharded_model(lambda: models.Transformer(cfg, rngs=nnx.Rngs(seed)), self.mesh)

    def warm_start(self, graphdef: nnx.GraphDef, params: Any, logger: MetricLogger) -> Any:
        """The SFT parameters: cached ones when the fingerprint matches, else trained now and cached."""
        s = self.config.sft
        if not s.steps:
            return params
        parts = {"sft": {k: v for k, v in s.to_dict().items() if k != "cache_dir"}, "model": self.config.model.to_dict(), "task": {"name": self.config.task.name, "kwargs": self.config.task.kwargs.to_dict()},
                 "seed": self.config.seed, "prompt_len": self.prompt_len, "completion_len": self.config.rl.max_new_tokens}
        key = sft.fingerprint(parts)
        directory = s.cache_dir or os.path.join(self.workdir, "sft")
        cached = sft.load_cached(directory, key, params)
        if cached is not None:
            logger.message(f"warm start: reusing the cached SFT parameters in {directory}")
            return cached
        examples = self.task.sft_examples(s.num_examples, seed=self.config.seed,
                                          style_mix=dict(s.style_mix) or None)
        data = sft.encode_examples(self.tokenizer, [(p, c) for p, c, _ in examples], self.prompt_len,
                                   self.config.rl.max_new_tokens)
        start = time.time()
        params, losses = sft.train(graphdef, params, data, steps=s.steps, batch_size=s.batch_size,
                                   learning_rate=s.learning_rate, warmup_steps=s.warmup_steps,
                                   weight_decay=s.weight_decay, seed=self.config.seed, prompt_len=self.prompt_len,
                                   log=logger.message)
        sft.save_cached(directory, key, params, {"steps": s.steps, "final_loss": float(np.mean(losses[-20:])),
                                                 "seconds": time.time() - start})
        return params

    def state_shardings(self, state: UpdateState) -> UpdateState:
        params_sh = parallel.state_shardings(state.params, self.mesh)
        opt_sh = optax.tree_map_params(self.tx, lambda _, s: s, jax.eval_shape(self.tx.init, state.params),
                                       params_sh, transform_non_params=lambda _: self.replicated)
        return UpdateState(params_sh, opt_sh, jax.tree.map(lambda _: self.replicated, state.weights))

    def compiled_update(self, graphdef: nnx.GraphDef, shardings: UpdateState) -> Any:
        """The jit'd update, shared by every Experiment of this process with the same structure and settings
        (a sweep or a test suite compiles it once)."""
        c = self.config
        key = (graphdef, self.settings, c.optimizer.to_json(), c.rl.num_steps, c.weighting.to_json(), self.mesh,
               jax.tree.structure(shardings), tuple(jax.tree.leaves(shardings)))
        if key not in _UPDATE_CACHE:
            _UPDATE_CACHE[key] = jax.jit(make_update(graphdef, self.tx, self.weight_opt, self.settings),
                                         in_shardings=(shardings, None, self.replicated, None),
                                         out_shardings=(shardings, self.replicated), donate_argnums=(0,))
        return _UPDATE_CACHE[key]

    def put_batch(self, tree: Any) -> Any:
        """Batch-major arrays placed on the mesh, split over its data-parallel axes."""
        return parallel.put_batch(tree, self.mesh)

    @property
    def replicated(self) -> jax.sharding.NamedSharding:
        return jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec())

    # ----- the loop -------------------------------------------------------------------------------------------
    def run(self, *, stop_after: int | None = None) -> dict[str, Any]:
        """Train (resuming from the workdir's latest checkpoint) and return the summary.

        `stop_after` ends the run after that step as if it were killed there (used to test resumption).
        """
        with jax.set_mesh(self.mesh):
            return self._run(stop_after)

    def _run(self, stop_after: int | None) -> dict[str, Any]:
        c, workdir = self.config, self.workdir
        os.makedirs(workdir, exist_ok=True)
        ckpt = checkpointing.Checkpointer(os.path.join(workdir, "checkpoints"), max_to_keep=c.checkpoint.max_to_keep)
        start_step = ckpt.latest_step() or 0
        logger = MetricLogger(workdir, total_steps=c.rl.num_steps, start_step=start_step, console=c.log.console,
                              progress_keys=PROGRESS_KEYS)
        with open(os.path.join(workdir, "config.json"), "w") as f:
            f.write(c.to_json_best_effort(indent=1))
        timings = {}
        t0 = time.time()
        model = self.init_model()
        graphdef, params = nnx.split(model)
        params = self.warm_start(graphdef, params, logger)
        timings["warm_start_s"] = time.time() - t0
        ref_params = params if c.rl.kl_coef > 0 else None

        state = UpdateState(params, None, self.weight_opt.init(len(self.reward_set)))
        shardings = self.state_shardings(state._replace(opt_state=jax.eval_shape(self.tx.init, params)))
        opt_state = jax.jit(self.tx.init, out_shardings=shardings.opt_state)(params)
        state = state._replace(opt_state=opt_state)
        key = jax.random.PRNGKey(c.seed)

        iterator = tasks.PromptIterator(self.task.split("train"), c.rl.prompts_per_step, seed=c.seed,
                                        shuffle=c.rl.shuffle_prompts)
        evaluator = evaluate.Evaluator(
            self.task, self.tokenizer, graphdef, c.eval.split,
            evaluate.EvalSettings(c.eval.num_prompts, c.eval.num_samples, c.rl.max_new_tokens, c.rl.temperature,
                                  c.rl.top_k, c.rl.top_p), self.prompt_len, self.mesh)
        archives: dict[str, ParetoArchive] = {}
        initial: dict[str, list[float]] = {}

        if start_step:
            _, restored, host = ckpt.restore({"state": state, "key": key})
            state, key = restored["state"], restored["key"]
            iterator.restore(host["iterator"])
            self.reward_set.load_state_dict(host["rewards"])
            archives = {m: ParetoArchive.from_dict(d) for m, d in host["archives"].items()}
            initial = host["initial"]
            logger.message(f"resumed from step {start_step} in {workdir}")

        update = self.compiled_update(graphdef, shardings)
        eval_key = jax.random.fold_in(jax.random.PRNGKey(c.seed), 1 << 30)
        maximise = list(self.task.maximise)

        def run_eval(step: int) -> dict[str, float]:
            result = evaluator(state.params, jax.random.fold_in(eval_key, step))
            row = {}
            for mode in evaluate.MODES:
                point = evaluator.point(result[mode])
                if mode not in archives:
                    initial[mode] = point.tolist()
                    ref = point if c.eval.reference == "initial" else np.asarray(self.task.worst_point)
                    archives[mode] = ParetoArchive(ref, names=list(self.objectives), maximise=maximise)
                gain = archives[mode].add(point, step)
                for name, value in result[mode].items():
                    row[f"eval/{mode}/{name}"] = value
                row[f"eval/{mode}/hypervolume"] = archives[mode].hypervolume()
                row[f"eval/{mode}/hv_gain"] = gain
            logger.message(f"eval step {step}: " + ", ".join(
                f"{mode} " + " ".join(f"{n}={result[mode][n]:.3g}" for n in self.objectives) for mode in evaluate.MODES)
                + f" | e.g. {result['examples'][0]['greedy']!r}")
            return row

        def save(step: int) -> None:
            host = {"iterator": iterator.state(), "rewards": self.reward_set.state_dict(),
                    "archives": {m: a.to_dict() for m, a in archives.items()}, "initial": initial}
            ckpt.save(step, {"state": state, "key": key}, host)

        if start_step == 0 and c.eval.every:
            logger.write(0, run_eval(0))

        names = self.reward_set.names
        step = start_step
        rl_start = time.time()
        for step in range(start_step + 1, c.rl.num_steps + 1):
            t_step = time.time()
            batch = next(iterator)
            prompts = np.repeat(batch["prompt"], c.rl.group_size)
            columns = {col: np.repeat(v, c.rl.group_size, 0) for col, v in batch.items()}
            prompt_tokens, prompt_mask = models.encode_prompts(self.tokenizer, list(batch["prompt"]),
                                                               length=self.prompt_len)
            prompt_tokens = np.repeat(prompt_tokens, c.rl.group_size, 0)
            prompt_mask = np.repeat(prompt_mask, c.rl.group_size, 0)
            key, sample_key, update_key = jax.random.split(key, 3)
            rollout = models.generate(graphdef, state.params, *self.put_batch((prompt_tokens, prompt_mask)),
                                      sample_key, max_new_tokens=c.rl.max_new_tokens, eos_id=self.tokenizer.eos_id,
                                      pad_id=self.tokenizer.pad_id, temperature=c.rl.temperature, top_k=c.rl.top_k,
                                      top_p=c.rl.top_p)
            tokens, completion_mask = jax.device_get((rollout.tokens, rollout.completion_mask))
            completions = models.decode_completions(self.tokenizer, tokens, completion_mask)
            t_rollout = time.time()
            rewards = self.reward_set(list(prompts), completions, **columns)
            width = min(c.rl.max_new_tokens, models.bucket_length(int(completion_mask.sum(1).max()), TRIM_BUCKET))
            rollout_batch = self.put_batch(RolloutBatch(
                tokens=np.concatenate([prompt_tokens, tokens[:, :width]], axis=1),
                attention_mask=np.concatenate([prompt_mask, completion_mask[:, :width]], axis=1),
                completion_mask=completion_mask[:, :width], old_logprobs=rollout.logprobs[:, :width],
                rewards=rewards))
            t_rewards = time.time()
            state, update_metrics = update(state, rollout_batch, update_key, ref_params)
            update_metrics = jax.device_get(update_metrics)
            if not np.isfinite(update_metrics["loss"]):
                logger.close()
                raise TrainingDivergedError(
                    f"non-finite loss ({update_metrics['loss']}) at step {step}; stopped without checkpointing, "
                    f"the last good checkpoint (step {ckpt.latest_step()}) is kept in {ckpt_dir(workdir)}")
            t_update = time.time()

            weights = np.asarray(jax.device_get(state.weights.weights))
            row = {f"reward/{n}": float(np.mean(rewards[:, i])) for i, n in enumerate(names)}
            row.update({f"reward_std/{n}": float(np.std(rewards[:, i])) for i, n in enumerate(names)})
            if weights.ndim == 1:
                row.update({f"weight/{n}": float(w) for n, w in zip(names, weights)})
            else:
                row.update({f"weight/{n}": float(w) for n, w in zip(names, weights.mean(axis=0))})
            row.update({f"train/{k_}": v for k_, v in self.task.evaluate(list(prompts), completions, columns).items()
                        if k_ not in names})
            row["completion_length"] = float(np.mean(completion_mask.sum(axis=1)))
            row.update({k_: float(v) for k_, v in update_metrics.items()})
            row.update({"time/rollout_s": t_rollout - t_step, "time/rewards_s": t_rewards - t_rollout,
                        "time/update_s": t_update - t_rewards})
            if c.eval.every and (step % c.eval.every == 0 or step == c.rl.num_steps):
                row.update(run_eval(step))
            row["time/step_s"] = time.time() - t_step
            logger.write(step, row)
            logger.progress(step, row)
            if c.checkpoint.every and (step % c.checkpoint.every == 0 or step == c.rl.num_steps):
                save(step)
            if stop_after is not None and step >= stop_after:
                break
        timings["rl_s"] = time.time() - rl_start
        done = step >= c.rl.num_steps
        summary = self._summary(archives, initial, timings, done) if done else {}
        if done and archives:
            evaluate.plot_fronts(os.path.join(workdir, "pareto_front.png"), archives,
                                 title=f"{c.task.name}: {c.rl.estimator}, {c.weighting.name} "
                                       f"{tuple(round(w, 3) for w in c.weighting.weights or ())}")
        logger.close()
        ckpt.close()
        return summary

    def _summary(self, archives: dict[str, ParetoArchive], initial: dict[str, list[float]],
                 timings: dict[str, float], done: bool) -> dict[str, Any]:
        summary = {"workdir": os.path.abspath(self.workdir), "objectives": list(self.objectives),
                   "maximise": [bool(m) for m in self.task.maximise], "steps": self.config.rl.num_steps,
                   "timings": timings, "initial": initial, "final": {}, "hypervolume": {}, "pareto": {},
                   "reference": {}, "mean_pareto_step": {}}
        for mode, archive in archives.items():
            points, steps = np.asarray(archive.points), np.asarray(archive.steps)
            summary["final"][mode] = dict(zip(self.objectives, points[-1].tolist()))
            summary["hypervolume"][mode] = archive.hypervolume()
            summary["reference"][mode] = archive.ref.tolist()
            front = archive.pareto_mask()
            summary["pareto"][mode] = [{"step": int(s), **dict(zip(self.objectives, p.tolist()))}
                                       for p, s in zip(points[front], steps[front])]
            signed = np.where(self.task.maximise, points, -points)
            summary["mean_pareto_step"][mode] = float(mean_pareto_step(signed, steps))
        summary["plot"] = os.path.join(os.path.abspath(self.workdir), "pareto_front.png")
        summary["metrics"] = os.path.join(os.path.abspath(self.workdir), "metrics.jsonl")
        with open(os.path.join(self.workdir, "summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
        return summary


def ckpt_dir(workdir: str) -> str:
    return os.path.join(workdir, "checkpoints")


def run(config: ml_collections.ConfigDict, workdir: str, *, stop_after: int | None = None) -> dict[str, Any]:
    """Validate `config`, train in `workdir` (resuming when it holds a checkpoint), return the summary."""
    return Experiment(config, workdir).run(stop_after=stop_after)


