"""Jit-compiled sampling with a pre-allocated KV cache.

`generate(graphdef, state, prompt_tokens, prompt_mask, key, ...)` prefills left-padded prompts in one forward
pass, then decodes in a `lax.while_loop` that stops once every row has emitted EOS or `max_new_tokens` tokens.
Shape- and code-defining options (`max_new_tokens`, `top_k`, `top_p`, `greedy`) and the graphdef are static, so
repeated calls with the same shapes reuse one compilation; `temperature`, `eos_id` and `pad_id` are traced.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx, struct

from morl_jax.models.tokenizers import Tokenizer, decode_completions, encode_prompts
from morl_jax.models.transformer import KVCache, Transformer, positions_from_mask

# Largest Gumbel noise block (max_new_tokens * batch * vocab elements) drawn before the decode loop.
NOISE_BUDGET = 1 << 22


@struct.dataclass
class Rollout:
    """Sampled completions. tokens [B, C] (pad after EOS), completion_mask [B, C] (generated tokens up to and
    including EOS), logprobs [B, C] (behaviour log-probs under the temperature-scaled distribution, 0 where
    masked), lengths [B], last_hidden [B, D] (final hidden state at each row's last real completion token)."""

    tokens: jax.Array
    completion_mask: jax.Array
    logprobs: jax.Array
    lengths: jax.Array
    last_hidden: jax.Array


def filter_logits(logits: jax.Array, *, top_k: int = 0, top_p: float = 1.0) -> jax.Array:
    """Set logits outside the top-k set, then outside the top-p nucleus, to -inf (the most likely token stays)."""
    if top_k and top_k < logits.shape[-1]:
        kth = jax.lax.top_k(logits, top_k)[0][..., -1:]
        logits = jnp.where(logits < kth, -jnp.inf, logits)
    if top_p < 1.0:
        sorted_logits = jnp.sort(logits, axis=-1)[..., ::-1]
        probs = jax.nn.softmax(sorted_logits, axis=-1)
        mass_before = jnp.cumsum(probs, axis=-1) - probs
        kept = mass_before < top_p
        threshold = jnp.min(jnp.where(kept, sorted_logits, jnp.inf), axis=-1, keepdims=True)
        logits = jnp.where(logits < threshold, -jnp.inf, logits)
    return logits


def sample_from_noise(logits: jax.Array, gumbel: jax.Array | None, *, temperature: float | jax.Array = 1.0,
                      top_k: int = 0, top_p: float = 1.0) -> tuple[jax.Array, jax.Array]:
    """Gumbel-max sampling from logits [B, V] with given Gumbel noise [B, V] (None = greedy argmax).

    Returns (tokens [B] int32, their log-probs under softmax(logits / temperature), before any filtering).
    """
    scaled = logits.astype(jnp.float32) / temperature
    if gumbel is None:
        tokens = jnp.argmax(logits, axis=-1)
    else:
        tokens = jnp.argmax(filter_logits(scaled, top_k=top_k, top_p=top_p) + gumbel, axis=-1)
    tokens = tokens.astype(jnp.int32)
    logp = jnp.take_along_axis(scaled, tokens[:, None], axis=-1)[:, 0] - jax.nn.logsumexp(scaled, axis=-1)
    return tokens, logp


def sample_tokens(logits: jax.Array, key: jax.Array, *, temperature: float | jax.Array = 1.0, top_k: int = 0,
                  top_p: float = 1.0, greedy: bool = False) -> tuple[jax.Array, jax.Array]:
    """Draw one token per row from logits [B, V]; returns (tokens [B], their log-probs under softmax(logits/T))."""
    gumbel = None if greedy else jax.random.gumbel(key, logits.shape, jnp.float32)
    return sample_from_noise(logits, gumbel, temperature=temperature, top_k=top_k, top_p=top_p)


def _generate(graphdef: nnx.GraphDef, state: nnx.State, prompt_tokens: jax.Array, prompt_mask: jax.Array,
              key: jax.Array, temperature: jax.Array, eos_ids: jax.Array, pad_id: jax.Array, *, max_new_tokens: int,
              top_k: int, top_p: float, greedy: bool) -> Rollout:
    model: Transformer = nnx.merge(graphdef, state)
    batch, prompt_len = prompt_tokens.shape
    prompt_mask = prompt_mask.astype(jnp.bool_)
    cache = KVCache.init(model.config, batch, prompt_len + max_new_tokens)
    out = model(prompt_tokens, positions_from_mask(prompt_mask), prompt_mask, cache)
    next_position = jnp.sum(prompt_mask, axis=1, dtype=jnp.int32)
    ones = jnp.ones((batch, 1), jnp.bool_)
    vocab = out.logits.shape[-1]
    # Gumbel noise for every step drawn up front when it is small: no RNG kernel inside the decode loop.
    predrawn = not greedy and max_new_tokens * batch * vocab <= NOISE_BUDGET
    noise = jax.random.gumbel(key, (max_new_tokens, batch, vocab), jnp.float32) if predrawn else None

    def step_noise(step):
        if greedy:
            return None
        if predrawn:
            return jax.lax.dynamic_index_in_dim(noise, step, keepdims=False)
        return jax.random.gumbel(jax.random.fold_in(key, step), (batch, vocab), jnp.float32)

    def cond(carry):
        step, _, _, _, _, _, done, _ = carry
        return (step < max_new_tokens) & ~jnp.all(done)

    def body(carry):
        step, cache, logits, tokens, mask, logprobs, done, last_hidden = carry
        token, logp = sample_from_noise(logits, step_noise(step), temperature=temperature, top_k=top_k, top_p=top_p)
        active = ~done
        token = jnp.where(active, token, pad_id)
        tokens = jax.lax.dynamic_update_slice_in_dim(tokens, token[:, None], step, axis=1)
        mask = jax.lax.dynamic_update_slice_in_dim(mask, active[:, None], step, axis=1)
        logprobs = jax.lax.dynamic_update_slice_in_dim(logprobs, jnp.where(active, logp, 0.0)[:, None], step, axis=1)
        done = done | jnp.any(token[:, None] == eos_ids[None, :], axis=1)
        out = model(token[:, None], (next_position + step)[:, None], ones, cache)
        last_hidden = jnp.where(active[:, None], out.hidden_states[:, 0], last_hidden)
        return step + 1, out.cache, out.logits[:, 0], tokens, mask, logprobs, done, last_hidden

    init = (jnp.zeros((), jnp.int32), out.cache, out.logits[:, -1],
            jnp.full((batch, max_new_tokens), pad_id, jnp.int32), jnp.zeros((batch, max_new_tokens), jnp.bool_),
            jnp.zeros((batch, max_new_tokens), jnp.float32), jnp.zeros((batch,), jnp.bool_),
            jnp.zeros((batch, model.config.hidden_size), out.hidden_states.dtype))
    _, _, _, tokens, mask, logprobs, _, last_hidden = jax.lax.while_loop(cond, body, init)
    return Rollout(tokens=tokens, completion_mask=mask, logprobs=logprobs,
                   lengths=jnp.sum(mask, axis=1, dtype=jnp.int32), last_hidden=last_hidden)


_generate_jit = jax.jit(_generate, static_argnames=("graphdef", "max_new_tokens", "top_k", "top_p", "greedy"))


def generate(graphdef: nnx.GraphDef, state: nnx.State, prompt_tokens: jax.Array, prompt_mask: jax.Array,
             key: jax.Array, *, max_new_tokens: int, eos_id: int | Sequence[int] | None, pad_id: int,
             temperature: float | jax.Array = 1.0, top_k: int = 0, top_p: float = 1.0,
             greedy: bool = False) -> Rollout:
    """Sample `max_new_tokens` (at most) per left-padded prompt [B, P].

    A row stops at its first `eos_id` token (one id or several, e.g. Llama 3's); `eos_id=None` never stops early.

    Every prompt row must contain at least one real token. Behaviour log-probs are those of the
    temperature-scaled distribution before top-k/top-p filtering (what `token_logprobs(..., temperature)`
    recomputes for training).
    """
    if max_new_tokens <= 0:
        raise ValueError(f"generate: max_new_tokens must be > 0, got {max_new_tokens}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"generate: top_p must be in (0, 1], got {top_p}")
    if top_k < 0:
        raise ValueError(f"generate: top_k must be >= 0, got {top_k}")
    if isinstance(temperature, (int, float)) and temperature <= 0:
        raise ValueError(f"generate: temperature must be > 0 (use greedy=True for argmax), got {temperature}")
    return _generate_jit(graphdef, state, prompt_tokens, prompt_mask, key, jnp.asarray(temperature, jnp.float32),
                         jnp.asarray(_eos_ids(eos_id), jnp.int32), jnp.asarray(pad_id, jnp.int32),
                         max_new_tokens=int(max_new_tokens), top_k=int(top_k), top_p=float(top_p),
                         greedy=bool(greedy))


def _eos_ids(eos_id: int | Sequence[int] | None) -> list[int]:
    if eos_id is None:
        return [-1]  # matches no token
    ids = [int(eos_id)] if isinstance(eos_id, (int, np.integer)) else [int(i) for i in eos_id]
    if not ids:
        raise ValueError("generate: eos_id is an empty sequence (use None to never stop early)")
    return ids


def generate_text(model: Transformer, tokenizer: Tokenizer, prompts: Sequence[str], *, max_new_tokens: int = 64,
                  temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, greedy: bool = False,
                  seed: int = 0, chat: bool = False) -> list[str]:
    """Interactive convenience: prompts -> completion strings (special tokens dropped)."""
    tokens, mask = encode_prompts(tokenizer, prompts, chat=chat)
    graphdef, state = nnx.split(model)
    rollout = generate(graphdef, state, jnp.asarray(tokens), jnp.asarray(mask), jax.random.key(seed),
                       max_new_tokens=max_new_tokens, eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id,
                       temperature=temperature, top_k=top_k, top_p=top_p, greedy=greedy)
    return decode_completions(tokenizer, np.asarray(rollout.tokens), np.asarray(rollout.completion_mask))
