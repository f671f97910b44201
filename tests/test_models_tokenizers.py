"""Tokenizers: the peer character vocabulary, HF tokenizer directories, chat templates, batch helpers."""

import json

import numpy as np
import pytest

from morl_jax.models import CharTokenizer, HFTokenizer, bucket_length, decode_completions, encode_prompts, load_tokenizer

# the peer workload's character list, cut to its first 64 ids (with the 4 special tokens).
PEER_TOKENS = (["<pad>", "<eos>", "<bos>", "<unk>"] + list("0123456789+-*=") + [" "]
               + list("abcdefghijklmnopqrstuvwxyz") + list(".,:;?!()<>/'\"_#%&@ABCDEFGHI"))[:64]


def test_char_vocabulary_is_exactly_the_peer_workloads():
    tok = CharTokenizer()
    assert tok.tokens == PEER_TOKENS and tok.vocab_size == 64
    assert (tok.pad_id, tok.eos_id, tok.bos_id) == (0, 1, 2)
    assert tok.encode("12+7=") == [2, 5, 6, 14, 11, 17]  # the peer README's example
    assert tok.encode("12+7=", add_special_tokens=False) == [5, 6, 14, 11, 17]


def test_char_decode_drops_special_tokens_and_round_trips():
    tok = CharTokenizer()
    text = "what is 3*(4+5)? 'A' & \"a\" #1 @home"
    assert tok.decode(tok.encode(text)) == text
    assert tok.decode([2, 5, 1, 0, 6, 3]) == "12"


def test_char_unknown_characters_are_named():
    with pytest.raises(ValueError, match=r"\['\$', 'B'\]"):
        CharTokenizer().encode("1+1=$B")


def test_char_tokenizer_saved_as_hf_reads_back_identically(tmp_path):
    tok = CharTokenizer()
    tok.save_pretrained(str(tmp_path))
    hf = HFTokenizer.from_dir(str(tmp_path))
    assert (hf.bos_id, hf.eos_id, hf.pad_id, hf.vocab_size) == (2, 1, 0, 64)
    for text in ["12+7=", "hello world!", ""]:
        assert hf.encode(text) == tok.encode(text)
    assert hf.decode(tok.encode("9*9=81") + [1, 0]) == "9*9=81"
    assert json.load(open(tmp_path / "vocab.json")) == {t: i for i, t in enumerate(PEER_TOKENS)}
    assert hf.apply_chat_template("2+2=") == "2+2="  # no template -> the text itself


def test_char_tokenizer_matches_transformers_loading_the_same_files(tmp_path):
    pytest.importorskip("transformers")
    from transformers import PreTrainedTokenizerFast

    CharTokenizer().save_pretrained(str(tmp_path))
    ref = PreTrainedTokenizerFast.from_pretrained(str(tmp_path))
    tok = CharTokenizer()
    for text in ["12+7=", "a b.c", "(x)"]:
        assert ref(text)["input_ids"] == tok.encode(text)
    assert ref.decode(tok.encode("3+4=7") + [1], skip_special_tokens=True) == "3+4=7"


def test_hf_chat_template_is_rendered(tmp_path):
    CharTokenizer().save_pretrained(str(tmp_path))
    config = json.load(open(tmp_path / "tokenizer_config.json"))
    config["chat_template"] = ("{% for m in messages %}{{ bos_token }}{{ m['role'][0] }}:{{ m['content'] }}"
                               "{% endfor %}{% if add_generation_prompt %} a:{% endif %}")
    json.dump(config, open(tmp_path / "tokenizer_config.json", "w"))
    tok = load_tokenizer(str(tmp_path))
    assert tok.apply_chat_template("1+1=") == "<bos>u:1+1= a:"
    tokens, mask = encode_prompts(tok, ["1+1="], chat=True)
    ids = tokens[0][mask[0]].tolist()
    assert ids[0] == tok.bos_id and ids.count(tok.bos_id) == 1  # the template's <bos>, none added on top


def test_chat_template_file_and_eos_from_model_config(tmp_path):
    CharTokenizer().save_pretrained(str(tmp_path))
    config = json.load(open(tmp_path / "tokenizer_config.json"))
    del config["eos_token"], config["pad_token"]
    json.dump(config, open(tmp_path / "tokenizer_config.json", "w"))
    json.dump({"eos_token_id": [1, 5]}, open(tmp_path / "config.json", "w"))
    (tmp_path / "chat_template.jinja").write_text("Q:{{ messages[0]['content'] }}")
    tok = HFTokenizer.from_dir(str(tmp_path))
    assert tok.eos_id == 1 and tok.pad_id == 1  # pad falls back to eos
    assert tok.apply_chat_template("x") == "Q:x"


def test_load_tokenizer_registry_and_errors(tmp_path):
    assert isinstance(load_tokenizer("char"), CharTokenizer)
    with pytest.raises(ValueError, match="char"):
        load_tokenizer("no-such-tokenizer")
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        HFTokenizer.from_dir(str(tmp_path))


def test_encode_prompts_left_pads_to_a_bucket():
    tok = CharTokenizer()
    tokens, mask = encode_prompts(tok, ["1+2=", "10+20="])
    assert tokens.shape == (2, 8) and tokens.dtype == np.int32 and mask.dtype == np.bool_
    np.testing.assert_array_equal(tokens[0], [0, 0, 0, 2, 5, 14, 6, 17])
    np.testing.assert_array_equal(mask[1], [False] + [True] * 7)
    assert encode_prompts(tok, ["1+2="], length=5)[0].shape == (1, 5)
    assert [bucket_length(n) for n in (1, 8, 9)] == [8, 8, 16]


def test_encode_prompts_errors():
    tok = CharTokenizer()
    with pytest.raises(ValueError, match="more than length"):
        encode_prompts(tok, ["123456"], length=4)
    with pytest.raises(ValueError, match="no prompts"):
        encode_prompts(tok, [])
    tok.chat_template = "{{ messages[0]['content'] }}"  # the char tokenizer renders the bare text, encodes no <bos>
    with pytest.raises(ValueError, match="no tokens"):
        encode_prompts(tok, ["", "1"], chat=True)


def test_decode_completions_uses_the_mask():
    tok = CharTokenizer()
    tokens = np.array([[5, 6, 1, 0], [7, 7, 7, 7]])
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], bool)
    assert decode_completions(tok, tokens, mask) == ["12", "33"]
