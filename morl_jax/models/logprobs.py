"""Per-token log-probabilities (and entropies) of a sequence under the policy, memory-aware for large vocabularies.

The backbone runs once; the LM head, log-softmax and gather then run over time chunks under `jax.checkpoint`
inside `lax.map`, so at most [B, chunk, V] logits exist at a time and none are stored for the backward pass.
Large batches of right-padded rows are computed in groups of similar length, each only as wide as it needs.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import nnx

from morl_jax.models.transformer import LOGIT_AXES, Transformer, positions_from_mask
from morl_jax.parallel.sharding import constrain

# Logit elements (B * chunk * V) computed at once when chunk_size is not given: 64M floats = 256 MB
# (e.g. 64 rows x 6 positions of a 150k vocabulary; a tiny vocabulary gets one chunk).
LOGITS_BUDGET = 1 << 26


def _head_stats(weight: jax.Array, hidden: jax.Array, targets: jax.Array, temperature: jax.Array,
                with_entropy: bool, rules: tuple | None) -> tuple[jax.Array, jax.Array | None]:
    """log p(target) [B, c] and entropy [B, c] of softmax(hidden @ weight.T / temperature)."""
    b, c, d = hidden.shape
    logits = jnp.einsum("nd,vd->nv", hidden.reshape(b * c, d), weight.astype(hidden.dtype),
                        preferred_element_type=jnp.float32).reshape(b, c, -1)
    if rules is not None:
        logits = constrain(logits, LOGIT_AXES, rules)
    logits = logits / temperature
    lse = jax.nn.logsumexp(logits, axis=-1)
    target_logit = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    logp = target_logit - lse
    if not with_entropy:
        return logp, None
    probs = jnp.exp(logits - lse[..., None])
    return logp, lse - jnp.sum(probs * logits, axis=-1)


def head_logprobs(weight: jax.Array, hidden: jax.Array, targets: jax.Array, *, temperature: float | jax.Array = 1.0,
                  with_entropy: bool = False, chunk_size: int | None = None, rules: tuple | None = None
                  ) -> tuple[jax.Array, jax.Array | None]:
    """log p(targets) [B, L] (and entropies) from hidden states [B, L, D] and head weight [V, D], chunked over L;
    with logical-axis `rules`, each chunk's logits carry the activation sharding constraint of the model's logits."""
    b, length, _ = hidden.shape
    vocab = weight.shape[0]
    if chunk_size is None:
        chunk_size = max(1, LOGITS_BUDGET // max(1, b * vocab))
    chunk_size = max(1, min(chunk_size, length))
    temperature = jnp.asarray(temperature, jnp.float32)
    stats = jax.checkpoint(lambda h, t: _head_stats(weight, h, t, temperature, with_entropy, rules))
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


def _dense_logprobs(model: Transformer, tokens: jax.Array, attention_mask: jax.Array, start: int,
                    temperature: jax.Array, with_entropy: bool, chunk_size: int | None
                    ) -> tuple[jax.Array, jax.Array | None]:
    """token_logprobs over every position of [B, T] (the straightforward computation)."""
    hidden, _ = model.backbone(tokens, positions_from_mask(attention_mask), attention_mask)
    valid = attention_mask[:, start + 1:]
    logp, ent = head_logprobs(model.head_weight(), hidden[:, start:-1], tokens[:, start + 1:],
                              temperature=temperature, with_entropy=with_entropy, chunk_size=chunk_size,
                              rules=model.rules)
    return jnp.where(valid, logp, 0.0), (jnp.where(valid, ent, 0.0) if with_entropy else None)


# Length grouping: rows sorted by their last real token, LENGTH_GROUPS equal groups; the longest group runs over the
# full width, each other group over the shortest of LENGTH_WIDTHS fractions of it that holds its rows. It compiles
# the model about eight times over, so it is used only where a pass is long enough to repay that: at least
# MIN_GROUPED_ROWS rows, MIN_GROUPED_WIDTH positions and MIN_GROUPED_WORK rows x positions x parameters (the peer
# workload's 30.5 M-parameter size is 2.6e11; the 0.6 M-parameter arithmetic demo, 1e10, stays on one pass).
LENGTH_GROUPS = 4
LENGTH_WIDTHS = (0.25, 0.5, 0.75)
MIN_GROUPED_ROWS = 32
MIN_GROUPED_WIDTH = 64
MIN_GROUPED_WORK = 1e11


def _width_options(length: int, start: int) -> tuple[int, ...]:
    """Static widths a shorter group may run at (multiples of 8, then the full length)."""
    widths = {min(length, max(start + 2, -(-int(length * f) // 8) * 8)) for f in LENGTH_WIDTHS}
    return tuple(sorted(widths | {length}))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2, 3, 4))
def _grouped(graphdef: nnx.GraphDef, widths: tuple[int, ...], start: int, with_entropy: bool,
             chunk_size: int | None, state: nnx.State, tokens: jax.Array, mask: jax.Array, temperature: jax.Array,
             branch: jax.Array) -> tuple[jax.Array, jax.Array | None]:
    return jax.lax.switch(branch, _width_branches(graphdef, widths, start, with_entropy, chunk_size),
                          state, tokens, mask, temperature)


def _width_branches(graphdef, widths, start, with_entropy, chunk_size):
    """One function per width: log-probs of the rows cut to that width, padded back to the full length."""
    def at_width(width):
        def run(state, tokens, mask, temperature):
            model = nnx.merge(graphdef, state)
            logp, ent = _dense_logprobs(model, tokens[:, :width], mask[:, :width], start, temperature,
                                        with_entropy, chunk_size)
            pad = ((0, 0), (0, tokens.shape[1] - width))
            return jnp.pad(logp, pad), (jnp.pad(ent, pad) if with_entropy else None)
        return run
    return [at_width(w) for w in widths]


def _grouped_fwd(graphdef, widths, start, with_entropy, chunk_size, state, tokens, mask, temperature, branch):
    out = _grouped(graphdef, widths, start, with_entropy, chunk_size, state, tokens, mask, temperature, branch)
    return out, (state, tokens, mask, temperature, branch)


def _grouped_bwd(graphdef, widths, start, with_entropy, chunk_size, residuals, cotangent):
    """Recomputes the group's forward at its width (a switch of VJPs: no residual of another width is stored)."""
    state, tokens, mask, temperature, branch = residuals
    branches = _width_branches(graphdef, widths, start, with_entropy, chunk_size)

    def vjp_at(run):
        def grad_state(state, tokens, mask, temperature, cotangent):
            _, pullback = jax.vjp(lambda s: run(s, tokens, mask, temperature), state)
            return pullback(cotangent)[0]
        return grad_state

    d_state = jax.lax.switch(branch, [vjp_at(run) for run in branches], state, tokens, mask, temperature, cotangent)
    return d_state, None, None, jnp.zeros_like(temperature), None


_grouped.defvjp(_grouped_fwd, _grouped_bwd)


def _length_grouped_logprobs(model: Transformer, tokens: jax.Array, attention_mask: jax.Array, start: int,
                             temperature: jax.Array, with_entropy: bool, chunk_size: int | None, groups: int
                             ) -> tuple[jax.Array, jax.Array | None]:
    """token_logprobs computing each row only up to about its last real token (same values, less work).

    Positions after a row's last real token never change its log-probs (attention is causal), so rows sorted by
    length are split into `groups`: the longest runs as usual, the others at the shortest static width that holds
    them, chosen with `lax.switch`. Their backward pass recomputes their forward at that width (4 instead of 3
    matmul passes), so a custom VJP keeps the residuals of the other widths out of memory.
    """
    n, length = tokens.shape
    ends = jnp.max(jnp.where(attention_mask, jnp.arange(1, length + 1), 0), axis=1)
    order = jnp.argsort(-ends, stable=True)
    rows = n // groups
    widths = _width_options(length, start)
    first = order[:rows]
    out = _dense_logprobs(model, tokens[first], attention_mask[first], start, temperature, with_entropy, chunk_size)
    rest = order[rows:].reshape(groups - 1, rows)
    need = jnp.max(ends[rest], axis=1)
    branch = jnp.sum(need[:, None] > jnp.asarray(widths)[None, :], axis=1)
    graphdef, state = nnx.split(model)

    def one_group(xs):
        idx, b = xs
        return _grouped(graphdef, widths, start, with_entropy, chunk_size, state, tokens[idx], attention_mask[idx],
                        temperature, b)

    logp_rest, ent_rest = jax.lax.map(one_group, (rest, branch))
    inverse = jnp.argsort(order)

    def unsort(head, tail):
        return jnp.concatenate([head, tail.reshape(n - rows, -1)], axis=0)[inverse]

    return unsort(out[0], logp_rest), (unsort(out[1], ent_rest) if with_entropy else None)


def token_logprobs(model: Transformer, tokens: jax.Array, attention_mask: jax.Array, *, start: int = 0,
                   temperature: float | jax.Array = 1.0, with_entropy: bool = False, chunk_size: int | None = None,
                   length_groups: int | None = None) -> jax.Array | tuple[jax.Array, jax.Array]:
    """log p(tokens[:, t+1] | tokens[:, :t+1]) for t in [start, T-1): shape [B, T-1-start].

    Logits are divided by `temperature` (so the values match the sampler's behaviour log-probs). Entries whose
    target token is masked out are 0. With `with_entropy`, also returns the entropy of the full next-token
    distribution at those positions (0 where masked). Positions come from `positions_from_mask(attention_mask)`,
    so concat(left-padded prompt [N, P], right-padded completion [N, C]) with start=P-1 gives the completion's
    [N, C] log-probs. Differentiable.

    Rows are computed only up to about their last real token when the pass is large (`length_groups` groups of
    rows sorted by length; None = LENGTH_GROUPS above the MIN_GROUPED_* sizes, else 1 = every position of every
    row).
    """
    n, t = tokens.shape
    if not 0 <= start < t - 1:
        raise ValueError(f"token_logprobs: start={start} must be in [0, {t - 1}) for sequences of length {t}")
    attention_mask = attention_mask.astype(jnp.bool_)
    temperature = jnp.asarray(temperature, jnp.float32)
    if length_groups is None:
        parameters = sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
        large = n >= MIN_GROUPED_ROWS and t >= MIN_GROUPED_WIDTH and n * t * parameters >= MIN_GROUPED_WORK
        length_groups = LENGTH_GROUPS if large else 1
    if length_groups > 1 and n % length_groups == 0:
        logp, ent = _length_grouped_logprobs(model, tokens, attention_mask, start, temperature, with_entropy,
                                             chunk_size, length_groups)
    else:
        logp, ent = _dense_logprobs(model, tokens, attention_mask, start, temperature, with_entropy, chunk_size)
    return (logp, ent) if with_entropy else logp
