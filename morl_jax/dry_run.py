"""`python -m morl_jax.main --config=... --workdir=... --dry_run`: check that a config can run, on any machine, without
allocating the model or writing anything.

After the config validates, the dry run builds
* the model's shapes abstractly (`nnx.eval_shape`: no weights): parameter count, bytes of the parameters and of the
  Adam state, and the largest per-device share under the configured mesh (sharded by the logical-axis rules);
* the data pipeline: every split of the task (files read, TFDS datasets prepared, problems generated), the first
  training batch from the prompt iterator, the prompts as the collector encodes them (chat template included) and
  their token lengths against the configured prompt limit -- when the configured tokenizer is there (a paper-scale
  config names the Hugging Face directory of its model, which a CPU machine may not have);
* the reward set, run on the first batch with each gold answer's text as the completion (a reward function that
  cannot read the task's columns fails here; the values only show that it ran).
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable

import jax
import ml_collections
import numpy as np
from flax import nnx

from morl_jax import experiment_config, models, tasks
from morl_jax.parallel.mesh import MESH_AXES
from morl_jax.parallel.sharding import logical_to_spec
from morl_jax.rollout import prompt_ids

GB = 1e9


def _mesh_sizes(config: ml_collections.ConfigDict) -> dict[str, int]:
    """The configured mesh (slice shape times the DCN split), -1 taking the devices of this host not claimed by the
    other axes (at least 1)."""
    sizes = {axis: int(config.mesh.shape[axis]) for axis in MESH_AXES}
    fixed = math.prod(s for s in sizes.values() if s != -1)
    return {axis: (max(1, jax.device_count() // fixed) if s == -1 else s) * int(config.mesh.dcn[axis])
            for axis, s in sizes.items()}


def model_report(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """Parameter count and bytes of the abstract policy, and the largest per-device share under the mesh."""
    model_config = experiment_config.model_config(config)
    abstract = nnx.eval_shape(lambda: models.Transformer(model_config, rngs=nnx.Rngs(0)))
    sizes = _mesh_sizes(config)
    mesh = jax.sharding.AbstractMesh(tuple(sizes.values()), tuple(sizes))
    total, total_bytes, per_device = 0, 0, 0
    for path, variable in nnx.to_flat_state(nnx.state(abstract, nnx.Param)):
        value = variable.get_value()
        count, nbytes = math.prod(value.shape), math.prod(value.shape) * np.dtype(value.dtype).itemsize
        total, total_bytes = total + count, total_bytes + nbytes
        axes = variable.get_metadata().get("logical_axes")
        shards = 1
        if axes is not None:
            for entry in logical_to_spec(axes, mesh, experiment_config.sharding_rules(config), shape=value.shape,
                                         name="/".join(map(str, path))):
                shards *= math.prod(sizes[a] for a in ((entry,) if isinstance(entry, str) else entry or ()))
        per_device += nbytes // shards
    return {"family": model_config.family, "parameters": total, "param_bytes": total_bytes,
            "adam_bytes": 2 * total * 4, "per_device_param_bytes": per_device, "mesh": sizes,
            "param_dtype": np.dtype(model_config.param_dtype).name}


def data_report(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """Split sizes, the first batch, prompt token lengths (when the tokenizer is there) and rewards of gold answers."""
    c = config
    task = tasks.get_task(c.task.name, **dict(c.task.kwargs))
    splits = {name: task.split(name) for name in task.split_names}
    rows = len(splits["train"]["prompt"])
    batch = next(tasks.PromptIterator(splits["train"], min(c.rl.prompts_per_step, rows), seed=c.seed,
                                      shuffle=c.rl.shuffle_prompts))
    report: dict[str, Any] = {"task": c.task.name, "splits": {k: len(v["prompt"]) for k, v in splits.items()},
                              "short_train_split": rows < c.rl.prompts_per_step,
                              "batch_columns": sorted(batch), "example_prompt": str(batch["prompt"][0])}
    if "system" in batch:
        report["example_system"] = str(batch["system"][0])
    tokenizer_name = c.model.tokenizer
    if tokenizer_name == "char" or os.path.isdir(tokenizer_name):
        tokenizer = models.load_tokenizer(tokenizer_name)
        used = {"train", c.eval.split} | ({c.eval.test_split} if c.eval.test_split else set())
        lengths = [len(ids) for name in used for ids in prompt_ids(tokenizer, splits[name], chat=c.model.chat_template)]
        limit = c.rl.max_prompt_length or models.bucket_length(max(lengths))
        report["prompt_tokens"] = {"max": max(lengths), "mean": float(np.mean(lengths)), "limit": limit,
                                   "over_limit": int(sum(n > limit for n in lengths))}
        report["chat_template"] = bool(c.model.chat_template and tokenizer.chat_template is not None)
    else:
        report["prompt_tokens"] = None
        report["tokenizer_missing"] = tokenizer_name
    rewards = task.reward_set(**dict(c.task.rewards))
    gold = [str(a) for a in batch["answer"]] if "answer" in batch else [""] * len(batch["prompt"])
    columns = {**{k: v for k, v in batch.items() if k != "prompt"},
               "completion_tokens": np.array([len(g) for g in gold], dtype=np.int64)}
    values = rewards([str(p) for p in batch["prompt"]], gold, **columns)
    report["rewards"] = {name: float(np.mean(values[:, j])) for j, name in enumerate(rewards.names)}
    report["objectives"] = [f"{o.name} ({'max' if o.maximise else 'min'})" for o in task.objectives]
    worst = task.worst_point
    report["worst_point"] = None if worst is None else [float(x) for x in worst]
    return report


def dry_run(config: ml_collections.ConfigDict, out: Callable[[str], None] = print) -> dict[str, Any]:
    """Build the model shapes and the data pipeline of a validated config; print and return what was built."""
    experiment_config.validate(config)
    c = config
    model = model_report(c)
    out(f"config: valid ({c.task.name}, {c.rl.estimator} at the {c.rl.level} level, weighting {c.weighting.name})")
    source = c.model.path or f"preset {c.model.preset}"
    out(f"model: {model['family']} ({source}), {model['parameters'] / 1e9:.3f} B parameters, {model['param_dtype']} "
        f"parameters {model['param_bytes'] / GB:.2f} GB + Adam state {model['adam_bytes'] / GB:.2f} GB; mesh "
        + " ".join(f"{k}={v}" for k, v in model["mesh"].items())
        + f": at most {model['per_device_param_bytes'] / GB:.2f} GB of parameters per device")
    data = data_report(c)
    out("data: " + ", ".join(f"{k} {v}" for k, v in data["splits"].items()) + f" rows; first batch of "
        f"{c.rl.prompts_per_step} prompts x {c.rl.group_size} samples, <= {c.rl.max_new_tokens} new tokens; "
        f"columns {', '.join(data['batch_columns'])}")
    if data["short_train_split"]:
        out(f"  warning: the train split has {data['splits']['train']} rows, fewer than one batch of "
            f"{c.rl.prompts_per_step} prompts: a run would stop at its first step (the batch checked here is smaller)")
    if "example_system" in data:
        out(f"  system: {data['example_system'][:200]!r}")
    out(f"  prompt: {data['example_prompt'][:300]!r}")
    if data["prompt_tokens"] is None:
        out(f"  tokenizer {data['tokenizer_missing']!r} is not here: prompt token lengths not measured (set "
            "model.tokenizer to a directory with tokenizer.json)")
    else:
        t = data["prompt_tokens"]
        out(f"  prompt tokens: max {t['max']}, mean {t['mean']:.1f}, limit {t['limit']} ({t['over_limit']} over); "
            f"chat template {'on' if data['chat_template'] else 'off'}")
    out("rewards run on the first batch (completion = the gold answer text): " + ", ".join(f"{k}={v:.3g}" for k, v in data["rewards"].items()))
    out(f"objectives: {', '.join(data['objectives'])}; worst point: {data['worst_point'] or 'none (initial point)'}")
    return {"model": model, "data": data}
