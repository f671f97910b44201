"""`--dry_run`: each paper-scale config validates and builds its model shapes (abstractly) and its data pipeline on a
CPU, on the fixtures; missing data stops with a one-line error naming the expected files."""

import json
import os
import subprocess
import sys

import pytest

from morl_jax import experiment_config
from morl_jax.dry_run import dry_run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "tests", "fixtures")

PAPER_CONFIGS = [  # (config, its TFDS cache key or None, parameters of the model, generation limit)
    (f"math500.py:data={FIXTURES}/math500", True, 8_190_735_360, 2048),
    (f"math500.py:model=qwen2.5-1.5b,weighting=gradient,data={FIXTURES}/math500", True, 1_543_714_304, 1024),
    (f"gsm8k_gdpo.py:data={FIXTURES}/gsm8k,validation=2", True, 1_543_714_304, 1024),
    (f"toolcall_saw.py:data={FIXTURES}/toolrl,validation=8,algo=gdpo", False, 1_543_714_304, 1024),
]


@pytest.mark.parametrize("spec, tfds, parameters, limit", PAPER_CONFIGS)
def test_paper_configs_build_shapes_and_data(spec, tfds, parameters, limit, tmp_path):
    config = experiment_config.load(spec)
    if tfds:
        config.task.kwargs.data_dir = str(tmp_path)  # keep the prepared ArrayRecord files out of tests/fixtures
    lines = []
    report = dry_run(config, out=lines.append)
    assert report["model"]["parameters"] == parameters  # the published model sizes (Qwen3-8B, Qwen2.5-1.5B)
    assert report["model"]["param_bytes"] == 4 * parameters
    data = report["data"]
    assert min(data["splits"].values()) >= 1 and data["prompt_tokens"] is None  # no tokenizer on this machine
    assert limit in data["worst_point"] or data["worst_point"] == [0.0, -3.0]
    assert any("tokenizer '' is not here" in line for line in lines)
    assert config.rl.max_new_tokens == limit


def test_dry_run_with_a_tokenizer_measures_prompts(monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.syspath_prepend(REPO)
    report = dry_run(experiment_config.load("own_task.py"), out=lambda _: None)
    tokens = report["data"]["prompt_tokens"]
    assert tokens["over_limit"] == 0 and tokens["max"] <= tokens["limit"]
    questions = [json.loads(line)["question"] for split in ("train", "validation", "test")
                 for line in open(os.path.join(REPO, "examples", "own_task", f"{split}.jsonl"))]
    assert tokens["max"] == 1 + max(len(f"{q} answer:") for q in questions)  # <bos> + one token per character
    assert report["model"]["mesh"] == {"data": 1, "fsdp": 1, "tensor": 1}


def test_cli_dry_run_writes_nothing_and_names_missing_data(tmp_path):
    workdir = tmp_path / "work"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-m", "morl_jax.main", f"--config=configs/toolcall_saw.py:data="
                           f"{FIXTURES}/toolrl,validation=8", f"--workdir={workdir}", "--dry_run"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "config: valid (toolcall, grpo at the reward level, weighting saw)" in done.stdout
    assert "objectives: format (max), correctness (max); worst point: [0.0, -3.0]" in done.stdout
    assert not workdir.exists()
    missing = subprocess.run([sys.executable, "-m", "morl_jax.main", f"--config=configs/math500.py:data={tmp_path}/none",
                              f"--workdir={workdir}", "--dry_run"], cwd=REPO, env=env, capture_output=True, text=True,
                             timeout=600)
    assert missing.returncode == 2
    assert "error: MATH: data directory" in missing.stderr and "test.jsonl or test-*.parquet" in missing.stderr
