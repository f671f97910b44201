"""Tokenizers behind one small interface, and batch helpers for left-padded prompts.

Interface: `encode(text, add_special_tokens=True) -> list[int]`, `decode(ids) -> str` (special tokens dropped),
`bos_id`, `eos_id`, `pad_id`, `vocab_size`, `chat_template` (None without one),
`apply_chat_template(user_text, system=None) -> str`.

* `CharTokenizer`: one id per character; its default vocabulary is exactly the peer workload's 64 ids
  (`<pad>`=0, `<eos>`=1, `<bos>`=2, `<unk>`=3, then 60 characters ending in "@A"), prompts encode as
  <bos> + characters.
* `HFTokenizer`: a local `tokenizer.json` via the `tokenizers` package; the chat template from
  `tokenizer_config.json` (or `chat_template.jinja`) is rendered with jinja2 when present.
"""

from __future__ import annotations

import json
import os
import string
from typing import Any, Callable, Protocol, Sequence

import numpy as np

SPECIAL_TOKENS = ("<pad>", "<eos>", "<bos>", "<unk>")
# The peer workload lists "0123456789+-*= a-z.,:;?!()<>/'"_#%&@ABCDEFGHI" and keeps the first 64 ids
# (the first 64 ids of special tokens + that list), so its vocabulary ends at "A": "B"-"I" are not in it.
PEER_CHARS = "0123456789+-*=" + " " + string.ascii_lowercase + ".,:;?!()<>/'\"_#%&@A"


class Tokenizer(Protocol):
    bos_id: int | None
    eos_id: int
    pad_id: int
    vocab_size: int

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    chat_template: str | None

    def apply_chat_template(self, user_text: str, system: str | None = None) -> str: ...


class CharTokenizer:
    """Character-level tokenizer: ids 0-3 are `<pad>`, `<eos>`, `<bos>`, `<unk>`, then one id per character."""

    def __init__(self, chars: str = PEER_CHARS):
        if len(set(chars)) != len(chars):
            raise ValueError("CharTokenizer: characters must be unique")
        self.tokens = list(SPECIAL_TOKENS) + list(chars)
        self.vocab = {tok: i for i, tok in enumerate(self.tokens)}
        self.pad_id, self.eos_id, self.bos_id, self.unk_id = range(4)
        self.vocab_size = len(self.tokens)
        self.chat_template = None
        self._char_ids = {c: i + len(SPECIAL_TOKENS) for i, c in enumerate(chars)}

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        """<bos> + one id per character; characters outside the vocabulary raise a ValueError naming them."""
        unknown = sorted({c for c in text if c not in self._char_ids})
        if unknown:
            raise ValueError(f"CharTokenizer: characters {unknown} of {text!r} are not in the vocabulary "
                             f"{''.join(self.tokens[len(SPECIAL_TOKENS):])!r}")
        ids = [self._char_ids[c] for c in text]
        return [self.bos_id] + ids if add_special_tokens else ids

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.tokens[i] for i in map(int, ids) if i >= len(SPECIAL_TOKENS))

    def apply_chat_template(self, user_text: str, system: str | None = None) -> str:
        """No chat format for the character model: the system text (if any) and the user text, as `plain_prompt`."""
        return plain_prompt(user_text, system)

    def save_pretrained(self, path: str) -> None:
        """Write a Hugging Face tokenizer (tokenizer.json, tokenizer_config.json, vocab.json) with the same ids."""
        from tokenizers import Tokenizer as HFCore, decoders, models, pre_tokenizers, processors

        core = HFCore(models.WordLevel(vocab=self.vocab, unk_token="<unk>"))
        core.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
        core.decoder = decoders.Fuse()
        core.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 2)])
        core.add_special_tokens(list(SPECIAL_TOKENS))
        os.makedirs(path, exist_ok=True)
        core.save(os.path.join(path, "tokenizer.json"))
        config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<bos>", "eos_token": "<eos>",
                  "pad_token": "<pad>", "unk_token": "<unk>", "padding_side": "left"}
        with open(os.path.join(path, "tokenizer_config.json"), "w") as f:
            json.dump(config, f, indent=2)
        with open(os.path.join(path, "vocab.json"), "w") as f:
            json.dump(self.vocab, f, indent=0)


class HFTokenizer:
    """A `tokenizers.Tokenizer` with special-token ids and the chat template of a HF tokenizer directory."""

    def __init__(self, core: Any, *, bos: str | None, eos: str, pad: str | None,
                 chat_template: str | None = None, special_tokens: dict[str, str] | None = None):
        self.core = core
        self.bos_id = self._id(bos) if bos else None
        self.eos_id = self._id(eos)
        self.pad_id = self._id(pad) if pad else self.eos_id
        self.vocab_size = core.get_vocab_size(with_added_tokens=True)
        self.chat_template = chat_template
        self.special_tokens = special_tokens or {}
        self._template: Any = None

    def _id(self, token: str) -> int:
        token_id = self.core.token_to_id(token)
        if token_id is None:
            raise ValueError(f"HFTokenizer: special token {token!r} is not in the vocabulary")
        return token_id

    @classmethod
    def from_dir(cls, path: str) -> HFTokenizer:
        from tokenizers import Tokenizer as HFCore

        file = os.path.join(path, "tokenizer.json")
        if not os.path.exists(file):
            raise FileNotFoundError(f"HFTokenizer: no tokenizer.json in {path!r}")
        core = HFCore.from_file(file)
        config = _read_json(os.path.join(path, "tokenizer_config.json"))
        special = {key: _token_str(config.get(key)) for key in ("bos_token", "eos_token", "pad_token", "unk_token")}
        special = {k: v for k, v in special.items() if v}
        eos = special.get("eos_token") or _eos_from_model_config(path, core)
        if eos is None:
            raise ValueError(f"HFTokenizer: {path!r} names no eos_token (tokenizer_config.json or config.json)")
        special["eos_token"] = eos
        return cls(core, bos=special.get("bos_token"), eos=eos, pad=special.get("pad_token"),
                   chat_template=_chat_template(path, config), special_tokens=special)

    def encode(self, text: str, *, add_special_tokens: bool = True) -> list[int]:
        return list(self.core.encode(text, add_special_tokens=add_special_tokens).ids)

    def decode(self, ids: Sequence[int]) -> str:
        return self.core.decode([int(i) for i in ids], skip_special_tokens=True)

    def apply_chat_template(self, user_text: str, system: str | None = None) -> str:
        """The chat-formatted prompt for one user turn, after a system turn when `system` is given (with the
        generation prompt); `plain_prompt` if the tokenizer has no template."""
        if self.chat_template is None:
            return plain_prompt(user_text, system)
        if self._template is None:
            self._template = _compile_template(self.chat_template)
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user_text}]
        return self._template.render(messages=messages, add_generation_prompt=True, **self.special_tokens)


def plain_prompt(user_text: str, system: str | None = None) -> str:
    """A prompt without a chat template: the system text and a blank line before the user text, if there is one."""
    return f"{system}\n\n{user_text}" if system else user_text


def _read_json(file: str) -> dict[str, Any]:
    if not os.path.exists(file):
        return {}
    with open(file) as f:
        return json.load(f)


def _token_str(entry: Any) -> str | None:
    return entry.get("content") if isinstance(entry, dict) else entry


def _eos_from_model_config(path: str, core: Any) -> str | None:
    for name in ("generation_config.json", "config.json"):
        eos = _read_json(os.path.join(path, name)).get("eos_token_id")
        if isinstance(eos, list):
            eos = eos[0] if eos else None
        if eos is not None:
            return core.id_to_token(int(eos))
    return None


def _chat_template(path: str, config: dict[str, Any]) -> str | None:
    template = config.get("chat_template")
    if isinstance(template, list):
        named = {t["name"]: t["template"] for t in template}
        template = named.get("default", next(iter(named.values()), None))
    jinja_file = os.path.join(path, "chat_template.jinja")
    if template is None and os.path.exists(jinja_file):
        with open(jinja_file) as f:
            template = f.read()
    return template


def _compile_template(source: str) -> Any:
    """Compile a chat template the way transformers does (sandboxed jinja2, trim/lstrip blocks)."""
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None, separators=None,
               sort_keys: bool = False) -> str:
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt: str) -> str:
        import datetime

        return datetime.datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals.update(raise_exception=raise_exception, strftime_now=strftime_now)
    return env.from_string(source)


_TOKENIZERS: dict[str, Callable[[], Tokenizer]] = {"char": CharTokenizer}


def load_tokenizer(path_or_name: str) -> Tokenizer:
    """A registered tokenizer name (e.g. "char") or a local directory with tokenizer.json."""
    if path_or_name in _TOKENIZERS:
        return _TOKENIZERS[path_or_name]()
    if os.path.isdir(path_or_name):
        return HFTokenizer.from_dir(path_or_name)
    raise ValueError(f"unknown tokenizer {path_or_name!r}: not a directory and not one of {sorted(_TOKENIZERS)}")


def bucket_length(n: int, bucket: int = 8) -> int:
    """n rounded up to a multiple of `bucket` (fewer distinct shapes -> fewer compilations)."""
    return max(bucket, -(-n // bucket) * bucket)


def encode_prompt(tokenizer: Tokenizer, prompt: str, *, chat: bool = False, system: str | None = None) -> list[int]:
    """The ids of one prompt. With `chat` and a tokenizer that has a chat template, the prompt is one user turn
    (after a `system` turn) of that template, encoded without extra special tokens since the template writes
    them; otherwise `plain_prompt(prompt, system)` encoded with the tokenizer's special tokens."""
    if chat and tokenizer.chat_template is not None:
        return tokenizer.encode(tokenizer.apply_chat_template(prompt, system), add_special_tokens=False)
    return tokenizer.encode(plain_prompt(prompt, system))


def encode_prompts(tokenizer: Tokenizer, prompts: Sequence[str], *, length: int | None = None, bucket: int = 8,
                   chat: bool = False, systems: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Left-padded prompt ids [B, P] int32 and mask [B, P] bool; P = `length` or the bucketed longest prompt.

    Each prompt is encoded by `encode_prompt` (through the chat template with `chat`), after its system text
    `systems[i]` when given.
    """
    if systems is not None and len(systems) != len(prompts):
        raise ValueError(f"encode_prompts: {len(systems)} system texts for {len(prompts)} prompts")
    encoded = [encode_prompt(tokenizer, p, chat=chat, system=None if systems is None else systems[i])
               for i, p in enumerate(prompts)]
    if not encoded:
        raise ValueError("encode_prompts: no prompts")
    if min(len(ids) for ids in encoded) == 0:
        raise ValueError("encode_prompts: a prompt encodes to no tokens (generation needs at least one)")
    return pad_ids(encoded, tokenizer.pad_id, length=length, bucket=bucket, what="encode_prompts: a prompt")


def pad_ids(encoded: Sequence[Sequence[int]], pad_id: int, *, length: int | None = None, bucket: int = 8,
            padding: str = "left", what: str = "a sequence") -> tuple[np.ndarray, np.ndarray]:
    """Token id lists -> padded ids [N, L] int32 and mask [N, L] bool; L = `length` or the bucketed longest."""
    longest = max(len(ids) for ids in encoded)
    length = bucket_length(longest, bucket) if length is None else length
    if longest > length:
        raise ValueError(f"{what} has {longest} tokens, more than length={length}")
    tokens = np.full((len(encoded), length), pad_id, np.int32)
    mask = np.zeros((len(encoded), length), np.bool_)
    for row, ids in enumerate(encoded):
        span = slice(length - len(ids), length) if padding == "left" else slice(0, len(ids))
        tokens[row, span] = ids
        mask[row, span] = True
    return tokens, mask


def decode_completions(tokenizer: Tokenizer, tokens: np.ndarray, mask: np.ndarray) -> list[str]:
    """Completion strings from tokens [B, C] and completion mask [B, C] (special tokens dropped)."""
    tokens, mask = np.asarray(tokens), np.asarray(mask, bool)
    return [tokenizer.decode(row[m].tolist()) for row, m in zip(tokens, mask)]
