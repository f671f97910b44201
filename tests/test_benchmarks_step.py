"""The step benchmark's workload directory: what TRL, Tunix and morl_jax all load is one model, one tokenizer,
one prompt list, and the configs/peer.py settings."""

import jax
import numpy as np
import pytest
from flax import nnx

from morl_jax import models, tasks
from morl_jax.benchmarks import step
from morl_jax.benchmarks.peers import workload
from morl_jax.experiment_config import validate


@pytest.fixture(scope="module")
def tiny_workload(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("workload"))
    return directory, step.write_workload("tiny", directory)


def test_spec_is_the_peer_config(tiny_workload):
    directory, spec = tiny_workload
    config = step.peer_config("size=tiny")
    read = workload.read_workload(directory)
    assert read.pop("rows") and read == spec
    assert spec == {"size": "tiny", "prompts_per_step": 8, "group_size": 8, "max_new_tokens": 32,
                    "reward_weights": [1.0, 0.5], "learning_rate": config.optimizer.learning_rate}


def test_prompts_are_the_task_split(tiny_workload):
    directory, _ = tiny_workload
    train = tasks.get_task("peer_addition").split("train")
    rows = workload.read_workload(directory)["rows"]
    assert [r["prompt"] for r in rows] == train["prompt"].tolist()
    assert [r["answer"] for r in rows] == train["answer_text"].tolist()


def test_weights_and_tokenizer_round_trip(tiny_workload):
    directory, _ = tiny_workload
    loaded = nnx.state(models.from_pretrained(directory), nnx.Param)
    fresh = nnx.state(models.Transformer(models.get_config("peer-qwen2"), rngs=nnx.Rngs(0)), nnx.Param)
    for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(fresh)):
        np.testing.assert_array_equal(a, b)
    hf = models.HFTokenizer.from_dir(directory)
    assert hf.encode("12+7=") == models.CharTokenizer().encode("12+7=") == [2, 5, 6, 14, 11, 17]


@pytest.mark.parametrize("size, preset, new_tokens, parameters", [
    ("tiny", "peer-qwen2", 32, 500_864), ("small", "peer-qwen2-small", 128, 30_456_320)])
def test_sizes(size, preset, new_tokens, parameters):
    config = step.peer_config(f"size={size},steps=3")
    validate(config)
    assert (config.model.preset, config.rl.max_new_tokens, config.task.kwargs.max_completion_len,
            config.rl.num_steps) == (preset, new_tokens, new_tokens, 3)
    shapes = jax.eval_shape(lambda: nnx.state(models.Transformer(models.get_config(preset), rngs=nnx.Rngs(0))))
    assert sum(x.size for x in jax.tree.leaves(shapes)) == parameters
    with pytest.raises(ValueError, match="unknown size 'huge'"):
        step.peer_config("size=huge")
