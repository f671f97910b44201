"""token_logprobs: against a full log-softmax reference, chunking, temperature, entropy, masking, memory."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from morl_jax.models import Transformer, get_config, head_logprobs, positions_from_mask, token_logprobs


@pytest.fixture(scope="module")
def split_model():
    return nnx.split(Transformer(get_config("tiny"), rngs=nnx.Rngs(0)))


@pytest.fixture(scope="module")
def batch():
    """Left-padded prompts (P=4) + right-padded completions (C=5), as the RL loop builds them."""
    rng = np.random.default_rng(0)
    tokens = rng.integers(4, 64, (3, 9)).astype(np.int32)
    mask = np.ones((3, 9), bool)
    mask[0, :2] = False  # short prompt
    mask[1, 7:] = False  # completion ended early
    mask[2, :1] = False
    tokens[~mask] = 0
    return jnp.asarray(tokens), jnp.asarray(mask)


@functools.partial(jax.jit, static_argnums=0, static_argnames=("start", "with_entropy", "chunk_size"))
def _logprobs(graphdef, state, tokens, mask, temperature, *, start, with_entropy, chunk_size):
    return token_logprobs(nnx.merge(graphdef, state), tokens, mask, start=start, temperature=temperature,
                          with_entropy=with_entropy, chunk_size=chunk_size)


@functools.partial(jax.jit, static_argnums=0)
def _reference(graphdef, state, tokens, mask, temperature):
    """Full [B, T, V] log-softmax, gathered: the naive computation."""
    logits = nnx.merge(graphdef, state)(tokens, positions_from_mask(mask), mask).logits / temperature
    logp = jax.nn.log_softmax(logits, axis=-1)
    entropy = -jnp.sum(jnp.exp(logp) * logp, axis=-1)
    return jnp.take_along_axis(logp[:, :-1], tokens[:, 1:, None], axis=-1)[..., 0], entropy[:, :-1]


@pytest.mark.parametrize("start, chunk_size", [(0, None), (3, 2), (0, 3)])
def test_matches_full_log_softmax(split_model, batch, start, chunk_size):
    tokens, mask = batch
    temperature = 0.7
    logp, ent = _logprobs(*split_model, tokens, mask, temperature, start=start, with_entropy=True,
                          chunk_size=chunk_size)
    ref_logp, ref_ent = _reference(*split_model, tokens, mask, temperature)
    valid = np.asarray(mask[:, start + 1:])
    assert logp.shape == ent.shape == (3, 8 - start)
    np.testing.assert_allclose(np.where(valid, ref_logp[:, start:], 0), logp, atol=1e-5)
    np.testing.assert_allclose(np.where(valid, ref_ent[:, start:], 0), ent, atol=1e-5)
    assert np.all(np.asarray(logp)[~valid] == 0)


def test_temperature_changes_the_distribution(split_model, batch):
    tokens, mask = batch
    hot = _logprobs(*split_model, tokens, mask, 2.0, start=0, with_entropy=False, chunk_size=None)
    cold = _logprobs(*split_model, tokens, mask, 1.0, start=0, with_entropy=False, chunk_size=None)
    assert not np.allclose(hot, cold)


def test_gradients_agree_between_chunked_and_whole(split_model, batch):
    graphdef, state = split_model
    tokens, mask = batch

    def loss(state, chunk_size):
        lp = token_logprobs(nnx.merge(graphdef, state), tokens, mask, start=3, chunk_size=chunk_size)
        return jnp.sum(lp * jnp.arange(lp.shape[1]))

    grad = jax.jit(jax.grad(loss), static_argnums=1)
    whole, chunked = grad(state, None), grad(state, 2)
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(chunked)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert any(float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(whole))


def _max_vocab_intermediate(jaxpr, vocab):
    """Largest number of elements of any intermediate with a trailing vocab axis, across nested jaxprs."""
    biggest = 0
    for eqn in jaxpr.eqns:
        for var in eqn.outvars:
            shape = getattr(var.aval, "shape", ())
            if shape and shape[-1] == vocab:
                biggest = max(biggest, int(np.prod(shape)))
        for param in eqn.params.values():
            for sub in (param if isinstance(param, (list, tuple)) else [param]):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    biggest = max(biggest, _max_vocab_intermediate(inner, vocab))
    return biggest


def test_chunked_backward_never_holds_the_full_logits():
    """With chunk_size c, forward and backward only ever hold [B, c, V] logits (the head is rematerialised)."""
    b, length, d, vocab, c = 2, 12, 8, 1000, 3
    keys = jax.random.split(jax.random.key(0), 3)
    weight = jax.random.normal(keys[0], (vocab, d))
    hidden = jax.random.normal(keys[1], (b, length, d))
    targets = jax.random.randint(keys[2], (b, length), 0, vocab)

    def loss(weight, hidden, chunk_size):
        return head_logprobs(weight, hidden, targets, chunk_size=chunk_size)[0].sum()

    grad_jaxpr = jax.make_jaxpr(jax.grad(loss, argnums=(0, 1)), static_argnums=2)
    assert _max_vocab_intermediate(grad_jaxpr(weight, hidden, c).jaxpr, vocab) <= b * c * vocab
    assert _max_vocab_intermediate(grad_jaxpr(weight, hidden, length).jaxpr, vocab) >= b * length * vocab
    value = jax.jit(loss, static_argnums=2)
    np.testing.assert_allclose(value(weight, hidden, c), value(weight, hidden, length), rtol=1e-5)


def test_start_out_of_range_is_an_error(split_model, batch):
    with pytest.raises(ValueError, match="start"):
        token_logprobs(nnx.merge(*split_model), *batch, start=8)


def test_length_grouped_rows_give_the_same_values_and_gradients(split_model):
    """Rows computed in length groups, each only as wide as it needs, give every-position log-probs, entropies and
    parameter gradients (a PPO-like loss of both)."""
    graphdef, state = split_model
    rng = np.random.default_rng(1)
    n, prompt, completion = 16, 4, 28
    lengths = rng.integers(1, completion + 1, n)
    lengths[3] = completion
    mask = np.concatenate([np.ones((n, prompt), bool), np.arange(completion)[None] < lengths[:, None]], 1)
    mask[0, :2] = False
    tokens = np.where(mask, rng.integers(4, 64, mask.shape), 0).astype(np.int32)
    tokens, mask = jnp.asarray(tokens), jnp.asarray(mask)
    advantages = jnp.asarray(rng.standard_normal(n), jnp.float32)

    @functools.partial(jax.jit, static_argnums=1)
    def value_and_grad(state, groups):
        def loss(state):
            logp, ent = token_logprobs(nnx.merge(graphdef, state), tokens, mask, start=prompt - 1, temperature=0.8,
                                       with_entropy=True, length_groups=groups)
            valid = mask[:, prompt:]
            return jnp.sum(jnp.exp(logp) * advantages[:, None] * valid) + 0.1 * jnp.sum(ent * valid), (logp, ent)
        return jax.value_and_grad(loss, has_aux=True)(state)

    (value, (logp, ent)), grads = value_and_grad(state, 1)
    (g_value, (g_logp, g_ent)), g_grads = value_and_grad(state, 4)
    np.testing.assert_allclose(g_value, value, rtol=1e-6)
    np.testing.assert_allclose(g_logp, logp, atol=1e-6)
    np.testing.assert_allclose(g_ent, ent, atol=1e-6)
    for a, b in zip(jax.tree.leaves(g_grads), jax.tree.leaves(grads)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert np.all(np.asarray(g_logp)[~np.asarray(mask[:, prompt:])] == 0)
