"""Per-token log-probabilities (and entropies) of a sequence under the policy, memory-aware for large vocabularies.

The backbone runs once; the LM head, log-softmax and gather then run over time chunks under `jax.checkpoint`
inside `lax.map`, so at most [B, chunk, V] logits exist at a time and none are stored for the backward pass.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from morl_jax.models.transformer import Transformer, positions_from_mask

# Logit elements (B * chunk * V) computed at once when chunk_size is not given: 64M floats = 256 MB
# (e.g. 64 rows x 6 positions of a 150k vocabulary; a tiny vocabulary gets one chunk).
LOGITS_BUDGET = 1 << 26


def _head_stats(weight: jax.Array, hidden: jax.Array, targets: jax.Array, temperature: jax.Array,
                with_entropy: bool) -> tuple[jax.Array, jax.Array | None]:
    """log p(target) [B, c] and entropy [B, c] of softmax(hidden @ weight.T / temperature)."""
    b, c, d = hidden.shape
    logits = jnp.einsum("nd,vd->nv", hidden.reshape(b * c, d), weight.astype(hidden.dtype),
                        preferred_element_type=jnp.float32).reshape(b, c, -1)
    logits = logits / temperature
    lse = jax.nn.logsumexp(logits, axis=-1)
    target_logit = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    logp = target_logit - lse
    if not with_entropy:
        return logp, None
    probs = jnp.exp(logits - lse[..., None])
    return logp, lse - jnp.sum(probs * logits, axis=-1)


def head_logprobs(weight: jax.Array, hidden: jax.Array, targets: jax.Array, *, temperature: float | jax.Array = 1.0,
                  with_entropy: bool = False, chunk_size: int | None = None
                  ) -> tuple[jax.Array, jax.Array | None]:
    """log p(targets) [B, L] (and entropies) from hidden states [B, L, D] and head weight [V, D], chunked over L."""
    b, length, _ = hidden.shape
    vocab = weight.shape[0]
    if chunk_size is None:
        chunk_size = max(1, LOGITS_BUDGET // max(1, b * vocab))
    chunk_size = max(1, min(chunk_size, length))
    temperature = jnp.asarray(temperature, jnp.float32)
    stats = jax.checkpoint(lambda h, t: _head_stats(weight, h, t, temperature, with_entropy))
    if chunk_size >= length:
        return stats(hidden, targets)
    n = -(-length // chunk_size)
    pad = n * chunk_size - length
    h = jnp.pad(hidden, ((0, 0), (0, pad), (0, 0))).reshape(b, n, chunk_size, -1).swapaxes(0, 1)
    t = jnp.pad(targets, ((0, 0), (0, pad))).reshape(b, n, chunk_size).swapaxes(0, 1)
    logp, ent = jax.lax.map(lambda xs: stats(*xs), (h, t))

    def unchunk(x):
        return x.swapaxes(0, 1).reshape(b, n * chunk_size)[:, :length]

    return unchunk(logp), (unchunk(ent) if with_entropy else None)


def token_logprobs(model: Transformer, tokens: jax.Array, attention_mask: jax.Array, *, start: int = 0,
                   temperature: float | jax.Array = 1.0, with_entropy: bool = False, chunk_size: int | None = None
                   ) -> jax.Array | tuple[jax.Array, jax.Array]:
    """log p(tokens[:, t+1] | tokens[:, :t+1]) for t in [start, T-1): shape [B, T-1-start].

    Logits are divided by `temperature` (so the values match the sampler's behaviour log-probs). Entries whose
    target token is masked out are 0. With `with_entropy`, also returns the entropy of the full next-token
    distribution at those positions (0 where masked). Positions come from `positions_from_mask(attention_mask)`,
    so concat(left-padded prompt [N, P], right-padded completion [N, C]) with start=P-1 gives the completion's
    [N, C] log-probs. Differentiable.
    """
    t = tokens.shape[1]
    if not 0 <= start < t - 1:
        raise ValueError(f"token_logprobs: start={start} must be in [0, {t - 1}) for sequences of length {t}")
    attention_mask = attention_mask.astype(jnp.bool_)
    hidden, _ = model.backbone(tokens, positions_from_mask(attention_mask), attention_mask)
    valid = attention_mask[:, start + 1:]
    logp, ent = head_logprobs(model.head_weight(), hidden[:, start:-1], tokens[:, start + 1:],
                              temperature=temperature, with_entropy=with_entropy, chunk_size=chunk_size)
    logp = jnp.where(valid, logp, 0.0)
    if not with_entropy:
        return logp
    return logp, jnp.where(valid, ent, 0.0)
