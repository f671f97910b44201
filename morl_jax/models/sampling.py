"""Jit-compiled sampling with a pre-allocated KV cache.

`generate(graphdef, state, prompt_tokens, prompt_mask, key, ...)` prefills left-padded prompts in one forward
pass, then decodes in `lax.while_loop`s that stop once every row has emitted EOS or `max_new_tokens` tokens; the
loop moves the rows still running into a batch of half the size whenever at most half are left.
Shape- and code-defining options (`max_new_tokens`, `top_k`, `top_p`, `greedy`) and the graphdef are static, so
repeated calls with the same shapes reuse one compilation; `temperature`, `eos_id` and `pad_id` are traced.
"""

from __future__ import annotations

from typing import Any, Sequence

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


def phase_sizes(batch: int, shrink_to: int) -> list[int]:
    """Row counts of the decode phases: the batch, then halved while the half still has >= `shrink_to` rows."""
    sizes = [batch]
    while shrink_to and sizes[-1] % 2 == 0 and sizes[-1] // 2 >= shrink_to:
        sizes.append(sizes[-1] // 2)
    return sizes


def _generate(graphdef: nnx.GraphDef, state: nnx.State, prompt_tokens: jax.Array, prompt_mask: jax.Array,
              key: jax.Array, temperature: jax.Array, eos_ids: jax.Array, pad_id: jax.Array, *, max_new_tokens: int,
              top_k: int, top_p: float, greedy: bool, shrink_to: int) -> Rollout:
    model: Transformer = nnx.merge(graphdef, state)
    batch, prompt_len = prompt_tokens.shape
    prompt_mask = prompt_mask.astype(jnp.bool_)
    cache = KVCache.init(model.config, batch, prompt_len + max_new_tokens)
    out = model(prompt_tokens, positions_from_mask(prompt_mask), prompt_mask, cache)
    vocab = out.logits.shape[-1]
    # Gumbel noise for every step drawn up front when it is small: no RNG kernel inside the decode loop.
    predrawn = not greedy and max_new_tokens * batch * vocab <= NOISE_BUDGET
    noise = jax.random.gumbel(key, (max_new_tokens, batch, vocab), jnp.float32) if predrawn else None

    def step_noise(step, rows):
        """The noise of these (original) rows (None = all) at this step: the same numbers whatever the phase."""
        if greedy:
            return None
        if predrawn:
            full = jax.lax.dynamic_index_in_dim(noise, step, keepdims=False)
        else:
            full = jax.random.gumbel(jax.random.fold_in(key, step), (batch, vocab), jnp.float32)
        return full if rows is None else full[rows]

    # Rows that finish early stop costing compute: once at most half of a phase's rows are running, they are
    # gathered into a batch of half the size (cache included) and decoding goes on there.
    sizes = phase_sizes(batch, shrink_to)
    ones = jnp.ones((batch, 1), jnp.bool_)
    outputs = (jnp.full((batch, max_new_tokens), pad_id, jnp.int32), jnp.zeros((batch, max_new_tokens), jnp.bool_),
               jnp.zeros((batch, max_new_tokens), jnp.float32),
               jnp.zeros((batch, model.config.hidden_size), out.hidden_states.dtype))
    carry = (jnp.zeros((), jnp.int32), out.cache, out.logits[:, -1], jnp.sum(prompt_mask, axis=1, dtype=jnp.int32),
             jnp.zeros((batch,), jnp.bool_), jnp.arange(batch, dtype=jnp.int32), outputs)
    for phase, rows_in_phase in enumerate(sizes):
        last_phase = phase == len(sizes) - 1

        def cond(carry, rows_in_phase=rows_in_phase, last_phase=last_phase):
            step, done = carry[0], carry[4]
            running = jnp.sum(~done)
            return (step < max_new_tokens) & (running > 0) & (last_phase | (2 * running > rows_in_phase))

        def body(carry, rows_in_phase=rows_in_phase, first_phase=phase == 0):
            step, cache, logits, next_position, done, rows, (tokens, mask, logprobs, last_hidden) = carry
            token, logp = sample_from_noise(logits, step_noise(step, None if first_phase else rows),
                                            temperature=temperature, top_k=top_k, top_p=top_p)
            active = ~done
            token = jnp.where(active, token, pad_id)
            logp = jnp.where(active, logp, 0.0)
            if first_phase:  # rows are still 0..B-1: write whole columns
                tokens, mask, logprobs = (jax.lax.dynamic_update_slice_in_dim(x, v[:, None], step, axis=1)
                                          for x, v in ((tokens, token), (mask, active), (logprobs, logp)))
            else:
                tokens, mask, logprobs = (x.at[rows, step].set(v)
                                          for x, v in ((tokens, token), (mask, active), (logprobs, logp)))
            done = done | jnp.any(token[:, None] == eos_ids[None, :], axis=1)
            out = model(token[:, None], (next_position + step)[:, None], ones[:rows_in_phase], cache)
            previous = last_hidden if first_phase else last_hidden[rows]
            hidden = jnp.where(active[:, None], out.hidden_states[:, 0], previous)
            last_hidden = hidden if first_phase else last_hidden.at[rows].set(hidden)
            return (step + 1, out.cache, out.logits[:, 0], next_position, done, rows,
                    (tokens, mask, logprobs, last_hidden))

        carry = jax.lax.while_loop(cond, body, carry)
        if not last_phase:  # keep the running rows (and some finished ones to fill the half batch)
            keep = jnp.argsort(carry[4], stable=True)[: sizes[phase + 1]]
            step, cache, logits, next_position, done, rows, outputs = carry
            cache = KVCache(tuple(k[keep] for k in cache.keys), tuple(v[keep] for v in cache.values),
                            cache.mask[keep], cache.index)
            carry = (step, cache, logits[keep], next_position[keep], done[keep], rows[keep], outputs)
    tokens, mask, logprobs, last_hidden = carry[-1]
    return Rollout(tokens=tokens, completion_mask=mask, logprobs=logprobs,
                   lengths=jnp.sum(mask, axis=1, dtype=jnp.int32), last_hidden=last_hidden)


_generate_jit = jax.jit(_generate, static_argnames=("graphdef", "max_new_tokens", "top_k", "top_p", "greedy",
                                                   "shrink_to"))

# Decode phases stop halving the batch below this many rows (smaller matmuls gain little, and each phase is one
# more compiled loop).
SHRINK_TO = 8


def check_sampling_options(caller: str, max_new_tokens: int, temperature: Any, top_k: int, top_p: float) -> None:
    """Errors naming `caller` for sampling options out of range (a traced temperature is not checked)."""
    if max_new_tokens <= 0:
        raise ValueError(f"{caller}: max_new_tokens must be > 0, got {max_new_tokens}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"{caller}: top_p must be in (0, 1], got {top_p}")
    if top_k < 0:
        raise ValueError(f"{caller}: top_k must be >= 0, got {top_k}")
    if isinstance(temperature, (int, float, np.number)) and temperature <= 0:
        raise ValueError(f"{caller}: temperature must be > 0 (use greedy=True for argmax), got {temperature}")


def generate(graphdef: nnx.GraphDef, state: nnx.State, prompt_tokens: jax.Array, prompt_mask: jax.Array,
             key: jax.Array, *, max_new_tokens: int, eos_id: int | Sequence[int] | None, pad_id: int,
             temperature: float | jax.Array = 1.0, top_k: int = 0, top_p: float = 1.0,
             greedy: bool = False, shrink_to: int = SHRINK_TO) -> Rollout:
    """Sample `max_new_tokens` (at most) per left-padded prompt [B, P].

    A row stops at its first `eos_id` token (one id or several, e.g. Llama 3's); `eos_id=None` never stops early.
    Once at most half of the rows are still running, decoding continues on a batch of half the size, down to
    `shrink_to` rows (0 = never shrink); the samples are the same either way (each row's noise is its own).

    Every prompt row must contain at least one real token. Behaviour log-probs are those of the
    temperature-scaled distribution before top-k/top-p filtering (what `token_logprobs(..., temperature)`
    recomputes for training).
    """
    check_sampling_options("generate", max_new_tokens, temperature, top_k, top_p)
    if shrink_to < 0:
        raise ValueError(f"generate: shrink_to must be >= 0, got {shrink_to}")
    return _generate_jit(graphdef, state, prompt_tokens, prompt_mask, key, jnp.asarray(temperature, jnp.float32),
                         jnp.asarray(_eos_ids(eos_id), jnp.int32), jnp.asarray(pad_id, jnp.int32),
                         max_new_tokens=int(max_new_tokens), top_k=int(top_k), top_p=float(top_p),
                         greedy=bool(greedy), shrink_to=int(shrink_to) if eos_id is not None else 0)


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
