"""The peer workload in Tunix: `GRPOLearner` on Tunix's own Qwen2 with the vanilla (pure JAX) rollout, timed per step.

    .peers/tunix/bin/python morl_jax/benchmarks/peers/tunix_grpo.py --workload DIR [--steps 12] [--warmup 2]

Runs in the Tunix virtual environment (`make peers`). DIR is a workload directory written by
`python -m morl_jax.benchmarks.step` (see workload.py); Tunix loads its `model.safetensors` with
`create_model_from_safe_tensors`, so all frameworks start from the same weights. Tunix has no reward weights
(it sums the reward functions), so the brevity weight is folded into the brevity function; advantages are
Tunix's "grpo" estimator, the loss is aggregated per token over the batch (`token-mean`, not Tunix's default),
PPO clip 0.2, AdamW with linear decay and grad-norm clip 1, no KL. Tunix 0.1.7 samples every rollout with
`PRNGKey(0)`; this harness gives each step its own seed, as TRL and morl_jax do. Prints `STEP {json}` per
step (wall and CPU seconds from one global step's end to the next, and its rollout + reward part) and `RESULT`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from importlib.metadata import version

import workload


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", required=True, help="a workload directory written by benchmarks.step")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()

    import grain.python as grain
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx
    from transformers import PreTrainedTokenizerFast
    from tunix.models.qwen2 import model as qwen2_model
    from tunix.models.qwen2 import params as qwen2_params
    from tunix.rl import rl_cluster as cluster_lib
    from tunix.rl.grpo import grpo_learner
    from tunix.rl.rollout import base_rollout

    spec = workload.read_workload(args.workload)
    max_len, (w_acc, w_brev) = spec["max_new_tokens"], spec["reward_weights"]
    with open(os.path.join(args.workload, "config.json")) as f:
        hf = json.load(f)
    model_config = qwen2_model.ModelConfig(
        num_layers=hf["num_hidden_layers"], vocab_size=hf["vocab_size"], embed_dim=hf["hidden_size"],
        hidden_dim=hf["intermediate_size"], num_heads=hf["num_attention_heads"], head_dim=hf["head_dim"],
        num_kv_heads=hf["num_key_value_heads"], rope_theta=int(hf["rope_parameters"]["rope_theta"]),
        norm_eps=hf["rms_norm_eps"], use_tied_embedding=hf["tie_word_embeddings"])
    # Tunix's embedding lookup rejects the Explicit axis types jax.make_mesh defaults to.
    mesh = jax.make_mesh((1, 1), ("fsdp", "tp"), axis_types=(jax.sharding.AxisType.Auto,) * 2)
    policy = qwen2_params.create_model_from_safe_tensors(args.workload, model_config, mesh=mesh)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(args.workload)

    def accuracy(prompts, completions, answer, **_):
        return [w_acc * r for r in workload.accuracy_rewards(completions, answer)]

    def brevity(prompts, completions, **_):
        return [w_brev * r for r in workload.brevity_rewards(completions, max_len)]

    prompt_width = max(len(tokenizer(r["prompt"])["input_ids"]) for r in spec["rows"])
    schedule = optax.linear_schedule(spec["learning_rate"], 0.0, args.steps)
    cluster = cluster_lib.RLCluster(
        actor=policy, reference=None, tokenizer=tokenizer,
        cluster_config=cluster_lib.ClusterConfig(
            role_to_mesh={role: mesh for role in (cluster_lib.Role.ACTOR, cluster_lib.Role.REFERENCE,
                                                  cluster_lib.Role.ROLLOUT)},
            rollout_engine="vanilla", offload_to_cpu=False,
            training_config=cluster_lib.RLTrainingConfig(
                actor_optimizer=optax.chain(optax.clip_by_global_norm(1.0),
                                            optax.adamw(schedule, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0)),
                eval_every_n_steps=10**9, max_steps=args.steps, metrics_logging_options=None,
                checkpoint_root_directory=None),
            rollout_config=base_rollout.RolloutConfig(
                max_tokens_to_generate=max_len, max_prompt_length=prompt_width,
                kv_cache_size=prompt_width + max_len, temperature=1.0, top_p=1.0, top_k=None,
                eos_tokens=[tokenizer.eos_token_id])))

    rollout_s: list[float] = []
    wall: list[float] = []
    cpu: list[float] = []
    last = [0.0, 0.0]

    class Learner(grpo_learner.GRPOLearner):
        """Seeds each rollout and times the rollout + rewards + advantages part and the whole global step."""

        def _generate_and_compute_advantage(self, batch, mode=cluster_lib.Mode.TRAIN):
            train = str(mode) == str(cluster_lib.Mode.TRAIN)
            if train:
                self.rl_cluster.cluster_config.rollout_config.seed = 1000 + len(rollout_s)
            start = time.perf_counter()
            out = super()._generate_and_compute_advantage(batch, mode)
            jax.block_until_ready(out.advantages)
            if train:
                rollout_s.append(time.perf_counter() - start)
            return out

        def _run_global_step(self, *a, **kw):
            super()._run_global_step(*a, **kw)
            jax.block_until_ready(nnx.state(self.rl_cluster.actor_trainer.model, nnx.Param))
            now = (time.perf_counter(), time.process_time())
            wall.append(now[0] - last[0])
            cpu.append(now[1] - last[1])
            last[:] = now
            workload.emit("STEP", {"step": len(wall), "wall_s": round(wall[-1], 4), "cpu_s": round(cpu[-1], 4),
                                   "rollout_s": round(rollout_s[-1], 4) if rollout_s else None})

    learner = Learner(rl_cluster=cluster, reward_fns=[accuracy, brevity], algo_config=grpo_learner.GRPOConfig(
        num_generations=spec["group_size"], num_iterations=1, beta=0.0, epsilon=0.2, loss_agg_mode="token-mean"))
    data = [{"prompts": r["prompt"], "answer": r["answer"]} for r in spec["rows"]]
    dataset = grain.MapDataset.source(data).batch(spec["prompts_per_step"])
    before = [jnp.array(x, copy=True) for x in jax.tree.leaves(nnx.state(policy, nnx.Param))]
    last[:] = (time.perf_counter(), time.process_time())
    with warnings.catch_warnings(), mesh:  # Tunix reads the legacy `with mesh:` context
        warnings.simplefilter("ignore", DeprecationWarning)
        learner.train(dataset)
    after = jax.tree.leaves(nnx.state(cluster.actor_trainer.model, nnx.Param))
    moved = float(sum(jnp.sum((a - b) ** 2) for a, b in zip(after, before)) ** 0.5)
    workload.emit("RESULT", {
        "framework": "tunix", "versions": {"google-tunix": version("google-tunix"), "jax": jax.__version__,
                                           "python": sys.version.split()[0]},
        "devices": len(jax.devices()), "parameters": int(sum(x.size for x in before)), "param_delta_l2": moved,
        "wall": workload.step_stats(wall, args.warmup), "cpu": workload.step_stats(cpu, args.warmup),
        "rollout": workload.step_stats(rollout_s, args.warmup), "pid": os.getpid()})


if __name__ == "__main__":
    main()
