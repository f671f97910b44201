"""One jit-compiled sampling API for every aggregation level, and teacher-forced log-probs of the aggregate.

`generate(aggregator, experts, weights, prompt_tokens, prompt_mask, key, ...)` decodes left-padded prompts with
the aggregated policy: a parameter-level aggregator merges the experts once and runs one model; a token- or
hidden-level aggregator runs the K experts side by side (`jax.vmap` over the stacked parameters, one KV cache
each) and combines their final hidden states at every step. Gumbel noise is drawn exactly as
`models.generate` draws it, so a single expert, or a parameter-level vertex, samples the same tokens as that
expert under `models.generate` with the same key.

`sequence_logprobs` gives the aggregated policy's log-probabilities of given sequences from full forward
passes (no cache): the reference the tests hold the sampler to, and a way to score any text under a mixture.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx, struct

from morl_jax.aggregation.experts import Experts
from morl_jax.aggregation.levels import Aggregator, check_weights, get_aggregator
from morl_jax.models import KVCache, positions_from_mask
from morl_jax.models.sampling import NOISE_BUDGET, check_sampling_options, sample_from_noise


@struct.dataclass
class Completions:
    """tokens [B, C] (pad after EOS), completion_mask [B, C] (generated tokens up to and including EOS),
    logprobs [B, C] (log-probs of the sampled tokens under the aggregated, tempered distribution before top-k /
    top-p filtering; 0 where masked), lengths [B]."""

    tokens: jax.Array
    completion_mask: jax.Array
    logprobs: jax.Array
    lengths: jax.Array


def _models(aggregator: Aggregator, params: Any, start: Any, weights: jax.Array) -> Any:
    """The stacked parameters of the models that run: the merged one ([1, ...]) or the K experts."""
    if aggregator.level == "parameter":
        return jax.tree.map(lambda x: x[None], aggregator.merge(params, start, weights[0]))
    return params


def _forward(graphdef: nnx.GraphDef, params: Any, tokens: jax.Array, positions: jax.Array, mask: jax.Array,
             caches: KVCache | None) -> tuple[jax.Array, KVCache | None]:
    """Every model's final hidden states [K, B, T, D] and updated caches."""

    def one(p, cache):
        return nnx.merge(graphdef, p).backbone(tokens, positions, mask, cache)

    return jax.vmap(one)(params, caches)


def _heads(graphdef: nnx.GraphDef, params: Any) -> jax.Array:
    return jax.vmap(lambda p: nnx.merge(graphdef, p).head_weight())(params)


def _generate(graphdef: nnx.GraphDef, params: Any, start: Any, weights: jax.Array, prompt_tokens: jax.Array,
              prompt_mask: jax.Array, key: jax.Array, temperature: jax.Array, eos_ids: jax.Array, pad_id: jax.Array,
              *, aggregator: str, max_new_tokens: int, top_k: int, top_p: float, greedy: bool) -> Completions:
    agg = get_aggregator(aggregator)
    run = _models(agg, params, start, weights)
    count = jax.tree.leaves(run)[0].shape[0]
    heads = _heads(graphdef, run)
    config = nnx.merge(graphdef, jax.tree.map(lambda x: x[0], run)).config
    batch, prompt_len = prompt_tokens.shape
    prompt_mask = prompt_mask.astype(jnp.bool_)
    cache = KVCache.init(config, batch, prompt_len + max_new_tokens)
    caches = jax.tree.map(lambda x: jnp.broadcast_to(x, (count,) + x.shape), cache)
    hidden, caches = _forward(graphdef, run, prompt_tokens, positions_from_mask(prompt_mask), prompt_mask, caches)
    # Greedy decoding takes the argmax of the untempered aggregate (EMORL's argmax of Σ w softmax(logits)).
    temp = jnp.ones((), jnp.float32) if greedy else temperature
    logits = agg.combine(hidden[:, :, -1:], heads, weights, temp)[:, 0]
    vocab = logits.shape[-1]
    predrawn = not greedy and max_new_tokens * batch * vocab <= NOISE_BUDGET
    noise = jax.random.gumbel(key, (max_new_tokens, batch, vocab), jnp.float32) if predrawn else None

    def step_noise(step):
        if greedy:
            return None
        if predrawn:
            return jax.lax.dynamic_index_in_dim(noise, step, keepdims=False)
        return jax.random.gumbel(jax.random.fold_in(key, step), (batch, vocab), jnp.float32)

    next_position = jnp.sum(prompt_mask, axis=1, dtype=jnp.int32)
    ones = jnp.ones((batch, 1), jnp.bool_)

    def cond(carry):
        step, done = carry[0], carry[3]
        return (step < max_new_tokens) & jnp.any(~done)

    def body(carry):
        step, caches, logits, done, tokens, mask, logprobs = carry
        token, logp = sample_from_noise(logits, step_noise(step), temperature=1.0, top_k=top_k, top_p=top_p)
        active = ~done
        token = jnp.where(active, token, pad_id)
        logp = jnp.where(active, logp, 0.0)
        tokens, mask, logprobs = (jax.lax.dynamic_update_slice_in_dim(x, v[:, None], step, axis=1)
                                  for x, v in ((tokens, token), (mask, active), (logprobs, logp)))
        done = done | jnp.any(token[:, None] == eos_ids[None, :], axis=1)
        hidden, caches = _forward(graphdef, run, token[:, None], (next_position + step)[:, None], ones, caches)
        logits = agg.combine(hidden, heads, weights, temp)[:, 0]
        return step + 1, caches, logits, done, tokens, mask, logprobs

    carry = (jnp.zeros((), jnp.int32), caches, logits, jnp.zeros((batch,), jnp.bool_),
             jnp.full((batch, max_new_tokens), pad_id, jnp.int32), jnp.zeros((batch, max_new_tokens), jnp.bool_),
             jnp.zeros((batch, max_new_tokens), jnp.float32))
    _, _, _, _, tokens, mask, logprobs = jax.lax.while_loop(cond, body, carry)
    return Completions(tokens=tokens, completion_mask=mask, logprobs=logprobs,
                       lengths=jnp.sum(mask, axis=1, dtype=jnp.int32))


_generate_jit = jax.jit(_generate, static_argnames=("graphdef", "aggregator", "max_new_tokens", "top_k", "top_p",
                                                   "greedy"))


def _eos_ids(eos_id: int | Sequence[int] | None) -> np.ndarray:
    if eos_id is None:
        return np.array([-1], np.int32)  # matches no token
    ids = [int(eos_id)] if isinstance(eos_id, (int, np.integer)) else [int(i) for i in eos_id]
    if not ids:
        raise ValueError("aggregation.generate: eos_id is an empty sequence (use None to never stop early)")
    return np.array(ids, np.int32)


def generate(aggregator: str | Aggregator, experts: Experts, weights: Any, prompt_tokens: jax.Array,
             prompt_mask: jax.Array, key: jax.Array, *, max_new_tokens: int, eos_id: int | Sequence[int] | None,
             pad_id: int, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
             greedy: bool = False) -> Completions:
    """Sample up to `max_new_tokens` per left-padded prompt [B, P] from the experts aggregated by `aggregator`.

    `weights`: [K] for every row or [B, K] per row (token and hidden levels only). Sampling is from the
    aggregate at `temperature` (each expert's distribution tempered first, then combined), optionally filtered
    by top-k / top-p; `greedy` takes the argmax of the untempered aggregate. One compilation per aggregator,
    shape and static option; the weights are traced, so a sweep over weight vectors compiles once.
    """
    agg = get_aggregator(aggregator)
    check_sampling_options("aggregation.generate", max_new_tokens, temperature, top_k, top_p)
    if np.ndim(prompt_tokens) != 2 or np.shape(prompt_tokens) != np.shape(prompt_mask):
        raise ValueError(f"aggregation.generate: prompt_tokens and prompt_mask must both be [B, P], got "
                         f"{np.shape(prompt_tokens)} and {np.shape(prompt_mask)}")
    w = check_weights(agg, weights, len(experts), np.shape(prompt_tokens)[0])
    return _generate_jit(experts.graphdef, experts.params, experts.start, jnp.asarray(w), jnp.asarray(prompt_tokens),
                         jnp.asarray(prompt_mask), key, jnp.asarray(temperature, jnp.float32),
                         jnp.asarray(_eos_ids(eos_id)), jnp.asarray(pad_id, jnp.int32), aggregator=agg.name,
                         max_new_tokens=int(max_new_tokens), top_k=int(top_k), top_p=float(top_p),
                         greedy=bool(greedy))


@functools.partial(jax.jit, static_argnames=("graphdef", "aggregator", "start"))
def _sequence_logprobs(graphdef: nnx.GraphDef, params: Any, start_params: Any, weights: jax.Array,
                       tokens: jax.Array, attention_mask: jax.Array, temperature: jax.Array, *, aggregator: str,
                       start: int) -> jax.Array:
    agg = get_aggregator(aggregator)
    run = _models(agg, params, start_params, weights)
    mask = attention_mask.astype(jnp.bool_)
    hidden, _ = _forward(graphdef, run, tokens, positions_from_mask(mask), mask, None)
    logits = agg.combine(hidden[:, :, start:-1], _heads(graphdef, run), weights, temperature)
    targets = tokens[:, start + 1:]
    logp = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0] - jax.nn.logsumexp(logits, axis=-1)
    return jnp.where(mask[:, start + 1:], logp, 0.0)


def sequence_logprobs(aggregator: str | Aggregator, experts: Experts, weights: Any, tokens: jax.Array,
                      attention_mask: jax.Array, *, start: int = 0, temperature: float = 1.0) -> jax.Array:
    """log p(tokens[:, t+1] | tokens[:, :t+1]) under the aggregate for t in [start, T-1): [B, T-1-start], 0 where
    the target is masked; the counterpart of `models.token_logprobs` (same positions, same temperature rule).

    Full forward passes without a cache, all logits at once: meant for checks and short sequences.
    """
    agg = get_aggregator(aggregator)
    t = np.shape(tokens)[1]
    if not 0 <= start < t - 1:
        raise ValueError(f"sequence_logprobs: start={start} must be in [0, {t - 1}) for sequences of length {t}")
    if temperature <= 0:
        raise ValueError(f"sequence_logprobs: temperature must be > 0, got {temperature}")
    w = check_weights(agg, weights, len(experts), np.shape(tokens)[0])
    return _sequence_logprobs(experts.graphdef, experts.params, experts.start, jnp.asarray(w), jnp.asarray(tokens),
                              jnp.asarray(attention_mask), jnp.asarray(temperature, jnp.float32),
                              aggregator=agg.name, start=int(start))


@functools.partial(jax.jit, static_argnames=("graphdef",))
def prompt_hidden(graphdef: nnx.GraphDef, params: Any, prompt_tokens: jax.Array, prompt_mask: jax.Array) -> jax.Array:
    """The final hidden state [B, D] at each left-padded prompt's last token: a bandit's context for the prompt."""
    mask = prompt_mask.astype(jnp.bool_)
    hidden, _ = nnx.merge(graphdef, params).backbone(prompt_tokens, positions_from_mask(mask), mask)
    return hidden[:, -1]
