"""The meta-policy comparison on tiny untrained experts: every method gives one point per preference, a vertex
preference gives that expert's point at every level (common noise, so exactly), the report and its errors; the
experts sweep file; the whole command end to end (opt-in: it trains four runs)."""

import dataclasses
import json
import os

import numpy as np
import pytest
from flax import nnx

from morl_jax import ablate, models, tasks
from morl_jax.aggregation import Experts, MixtureEvaluator
from morl_jax.aggregation.compare import (
    COLUMNS,
    JSON,
    SHARPEN,
    TABLE,
    SeedComparison,
    Settings,
    compare,
    markdown,
    method_row,
)
from morl_jax.rollout import prompt_ids

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERTS = os.path.join(REPO, "configs", "experts.py")
TINY = Settings(divisions=2, search_iterations=1, search_samples=1, bandit_rounds=1, bandit_prompts=4,
                router_rounds=1, router_preferences=2, router_draws=2, router_prompts=1)


@pytest.fixture(scope="module")
def comparison():
    graphdef, start = nnx.split(models.Transformer(models.get_config("tiny"), rngs=nnx.Rngs(0)))
    experts = [nnx.split(models.Transformer(models.get_config("tiny"), rngs=nnx.Rngs(s)))[1] for s in (1, 2, 3)]
    task = tasks.get_task("arithmetic", train_size=40, validation_size=8, test_size=8, max_completion_len=16)
    tokenizer = models.load_tokenizer("char")
    prompt_len = models.bucket_length(max(len(ids) for split in task.split_names
                                          for ids in prompt_ids(tokenizer, task.split(split), chat=False)))
    evaluator = MixtureEvaluator(task, tokenizer,
                                 Experts.stack(graphdef, experts, start, ["accuracy", "conciseness", "clarity"]),
                                 prompt_len=prompt_len, max_new_tokens=16, temperature=0.7, num_prompts=4,
                                 num_samples=1)  # every decoding 4 rows: one compilation per aggregator
    c = SeedComparison(TINY, evaluator, ("validation", "test"), seed=0, log=lambda m: None,
                       experts_compute=(300, 12.0))
    return c, c.run()


def test_every_method_answers_every_preference(comparison):
    c, methods = comparison
    names = [m.name for m in methods]
    assert names == ["SFT start", "best expert", "best expert, tuned T", "soup", "logprob", "prob", "hidden",
                     "task_vectors", "hidden+search", "linucb", "thompson", "router"]
    for m in methods:
        assert m.points.shape == (6, 3) and np.all(np.isfinite(m.points)), m.name
    rows = [method_row(m, c) for m in methods]
    assert all(np.isfinite(r["hypervolume"]) and 1 <= r["front_size"] <= 6 for r in rows)
    by_name = {r["method"]: r for r in rows}
    assert by_name["hidden"]["forwards_per_token"] == 3 and by_name["soup"]["forwards_per_token"] == 1
    assert by_name["SFT start"]["rl_samples"] == 0 and by_name["soup"]["rl_samples"] == 300
    # the search scored its 27 grid points on 4 validation prompts x 1 sample; the bandits saw 4 prompts
    assert by_name["hidden+search"]["extra_samples"] == 27 * 4 and by_name["linucb"]["extra_samples"] == 4
    assert by_name["router"]["extra_samples"] == 2 * 2 * 1


def test_a_vertex_preference_gives_that_expert_at_every_level(comparison):
    c, methods = comparison
    by_name = {m.name: m for m in methods}
    vertices = [i for i, p in enumerate(c.preferences) if p.max() == 1.0]
    experts = np.array([c.point("soup", np.eye(3)[int(np.argmax(c.preferences[i]))], "test")[0] for i in vertices])
    for level in ("soup", "logprob", "prob", "hidden"):
        np.testing.assert_array_equal(by_name[level].points[vertices], experts, err_msg=level)
    chosen = by_name["best expert"].weights
    for i in range(len(c.preferences)):
        np.testing.assert_array_equal(by_name["best expert"].points[i], c.point("soup", chosen[i], "test")[0])
    tuned = by_name["best expert, tuned T"]
    assert np.all(np.count_nonzero(tuned.weights, axis=1) == 1) and set(tuned.weights.max(axis=1)) <= set(SHARPEN)
    for i, p in enumerate(c.preferences):
        np.testing.assert_array_equal(tuned.points[i], c.point("hidden", tuned.weights[i], "test")[0])
        # its candidates include every expert at T (s = 1), so on validation it never does worse than `best expert`
        tuned_u, best_u = (c.utility(c.point(level, w[i], "validation")[0], p)
                           for level, w in (("hidden", tuned.weights), ("soup", chosen)))
        assert tuned_u >= best_u - 1e-12
    np.testing.assert_array_equal(by_name["SFT start"].points[0],
                                  c.point("task_vectors", np.zeros(3), "test")[0])


def test_report_lists_every_method_with_the_seed_spread(comparison):
    c, methods = comparison
    rows = [method_row(m, c) for m in methods]
    for r, m in zip(rows, methods):
        r["utilities"] = list(np.sum(c.space.normalise(m.points) * c.preferences, axis=1))
    text = markdown({0: rows, 1: rows}, c.preferences, c.space.names, "header")
    assert text.startswith("header") and all(f"| {m.name} |" in text for m in methods)
    assert "0.000 ± 0.000" in text  # two identical seeds: zero spread
    assert "| method | level | " + " | ".join(col[1] for col in COLUMNS) + " |" in text


def test_settings_and_sweep_errors_are_named():
    with pytest.raises(ValueError, match="normalises its weights"):
        Settings(search_levels=("soup",)).check()
    with pytest.raises(ValueError, match="per-row weights"):
        Settings(bandit_level="task_vectors").check()
    with pytest.raises(KeyError, match="unknown bandit"):
        Settings(bandits=("ucb1",)).check()
    with pytest.raises(ValueError, match="--router_rounds must be >= 1"):
        Settings(router_rounds=0).check()
    with pytest.raises(ValueError, match="known: grid, dynamic, seeds, size"):
        ablate.load_sweep(f"{EXPERTS}:grids=2")
    with pytest.raises(ValueError, match="unknown dynamic weighting"):
        ablate.load_sweep(f"{EXPERTS}:dynamic=saw")


def test_experts_sweep_cells(tmp_path):
    sweep = ablate.load_sweep(f"{EXPERTS}:grid=2,seeds=2")
    configs = ablate.configs(sweep, str(tmp_path), [])
    weights = {name: tuple(c.weighting.weights) for name, c in configs.items() if c.weighting.name == "fixed"}
    assert weights["expert=accuracy,seed=1"] == (1.0, 0.0, 0.0)
    assert weights["expert=0.5-0-0.5,seed=0"] == (0.5, 0.0, 0.5)
    assert len(weights) == 12 and configs["expert=dynamic,seed=1"].weighting.name == "gradient"
    assert {c.sft.seed for c in configs.values()} == {0}  # one warm start for every expert and seed
    assert len({c.sft.cache_dir for c in configs.values()}) == 1


@pytest.mark.slow
def test_the_command_end_to_end(tmp_path):
    rows = compare(dataclasses.replace(TINY, experts=f"{EXPERTS}:size=test"), str(tmp_path), log=lambda m: None)
    assert [r["method"] for r in rows[0]][-1] == "dynamic (gradient)"
    assert os.path.exists(os.path.join(tmp_path, TABLE))
    with open(os.path.join(tmp_path, JSON)) as f:
        assert len(json.load(f)["rows"]["0"]) == 13
