"""Export a trained policy from a run's checkpoint to a Hugging Face directory that `transformers` loads.

    python -m morl_jax.export --config=configs/arith.py --workdir=runs/arith --out=runs/arith_hf [--step=N]
    # then: transformers.AutoModelForCausalLM.from_pretrained("runs/arith_hf"), AutoTokenizer.from_pretrained(...)

The config (with the same variant and `--config.a.b=value` overrides as the run) gives the checkpoint's
structure; only the policy parameters are read back, on the host's default device. The directory gets
`config.json` + safetensors (`models.save_pretrained`) and the tokenizer: the character tokenizer written as a
Hugging Face tokenizer, or the files of the run's tokenizer directory (chat template included).
"""

from __future__ import annotations

import argparse
import os
import shutil
from typing import Any, Sequence

import jax
import ml_collections
from flax import nnx

from morl_jax import experiment_config, models, tasks
from morl_jax.checkpointing import Checkpointer
from morl_jax.optimizers import build_optimizer
from morl_jax.rl.step import UpdateState

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                   "generation_config.json")


def _abstract_policy(config: ml_collections.ConfigDict) -> tuple[nnx.GraphDef, dict[str, Any]]:
    """(graphdef, the abstract device tree of a run's checkpoint) without allocating any parameter."""
    model_config = experiment_config.model_config(config)
    graphdef, params = nnx.split(nnx.eval_shape(lambda: models.Transformer(model_config, rngs=nnx.Rngs(0))))
    tx = build_optimizer(experiment_config.update_settings(config).optimizer)
    task = tasks.get_task(config.task.name, **dict(config.task.kwargs))
    num_rewards = len(task.reward_set(**dict(config.task.rewards)))
    weights = jax.eval_shape(lambda: experiment_config.weight_optimizer(config, task).init(num_rewards))
    tree = {"policy": UpdateState(params, jax.eval_shape(tx.init, params)), "weights": weights,
            "key": jax.eval_shape(lambda: jax.random.PRNGKey(0))}
    return graphdef, tree


def load_policy(config: ml_collections.ConfigDict, workdir: str, step: int | None = None) -> tuple[nnx.Module, int]:
    """The policy `Transformer` of the checkpoint at `step` (default: the latest) of `workdir`, and its step."""
    directory = os.path.join(workdir, "checkpoints")
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"no checkpoints in {workdir!r} (expected {directory}; set checkpoint.every > 0)")
    graphdef, tree = _abstract_policy(config)
    checkpointer = Checkpointer(directory)
    try:
        step, state, _ = checkpointer.restore(tree, step)
    finally:
        checkpointer.close()
    return nnx.merge(graphdef, UpdateState(*state["policy"]).params), step


def export(config: ml_collections.ConfigDict, workdir: str, out: str, step: int | None = None) -> str:
    """Write the policy of `workdir`'s checkpoint and its tokenizer to the HF directory `out`; returns `out`."""
    model, _ = load_policy(config, workdir, step)
    models.save_pretrained(model, out)
    name = config.model.tokenizer
    if name == "char":
        models.CharTokenizer().save_pretrained(out)
    else:
        models.load_tokenizer(name)  # fails here, naming the directory, if it is not a tokenizer
        for file in TOKENIZER_FILES:
            if os.path.exists(os.path.join(name, file)):
                shutil.copy(os.path.join(name, file), os.path.join(out, file))
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the run's config file: configs/NAME.py[:variant]")
    parser.add_argument("--workdir", required=True, help="the run's directory (holds checkpoints/)")
    parser.add_argument("--out", required=True, help="the Hugging Face directory to write")
    parser.add_argument("--step", type=int, default=None, help="checkpoint step (default: the latest)")
    args, overrides = parser.parse_known_args(argv)
    bad = [o for o in overrides if not o.startswith("--config.")]
    if bad:
        parser.error(f"unrecognized arguments: {bad}")
    config = experiment_config.load(args.config, [o[len("--"):] for o in overrides])
    out = export(config, args.workdir, args.out, args.step)
    print(f"exported {args.workdir} -> {out}")


if __name__ == "__main__":
    main()
