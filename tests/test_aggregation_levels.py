"""Aggregation levels and their sampler: a single expert, two identical experts and a vertex weight vector reduce
to that expert (against models.generate and token_logprobs); every level against a NumPy formula from the experts'
own forward passes; the KV-cache sampler against teacher-forced log-probs; per-row weights; errors."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from morl_jax import models
from morl_jax.aggregation import AGGREGATORS, Experts, generate, get_aggregator, sequence_logprobs
from morl_jax.aggregation.levels import Aggregator, check_weights, register_aggregator

LEVELS = tuple(AGGREGATORS)
C = 7
T = 0.7


def _params(seed):
    return nnx.split(models.Transformer(models.get_config("tiny"), rngs=nnx.Rngs(seed)))


@pytest.fixture(scope="module")
def setup():
    graphdef, start = _params(0)
    experts = [_params(seed)[1] for seed in (1, 2, 3)]
    tokens = np.array([[0, 0, 2, 5, 9], [2, 7, 8, 11, 13], [0, 2, 40, 41, 42]], np.int32)
    return graphdef, start, experts, (jnp.asarray(tokens), jnp.asarray(tokens != 0))


@pytest.fixture(scope="module")
def sequences():
    """Prompts (left-padded, 5) followed by 6 completion tokens, the last row's completion ending early."""
    rng = np.random.default_rng(0)
    tokens = rng.integers(4, 64, size=(3, 11)).astype(np.int32)
    tokens[0, :2] = 0
    mask = tokens != 0
    mask[2, 9:] = False
    return jnp.asarray(tokens), jnp.asarray(mask)


@functools.partial(jax.jit, static_argnums=0)
def _expert_logprobs(graphdef, params, tokens, mask):
    return models.token_logprobs(nnx.merge(graphdef, params), tokens, mask, start=4, temperature=T)


@functools.partial(jax.jit, static_argnums=0)
def _forward(graphdef, params, tokens, mask):
    out = nnx.merge(graphdef, params)(tokens, models.positions_from_mask(mask), mask)
    return out.logits, out.hidden_states, nnx.merge(graphdef, params).head_weight()


def _sample(graphdef, params, prompts, seed=3):
    return models.generate(graphdef, params, *prompts, jax.random.key(seed), max_new_tokens=C, eos_id=None, pad_id=0,
                           temperature=T)


def _mixture(level, experts, weights, prompts, seed=3):
    return generate(level, experts, weights, *prompts, jax.random.key(seed), max_new_tokens=C, eos_id=None, pad_id=0,
                    temperature=T)


def _assert_reduces_to(level, experts, weights, expert_params, setup, sequences):
    graphdef, _, _, prompts = setup
    np.testing.assert_allclose(sequence_logprobs(level, experts, weights, *sequences, start=4, temperature=T),
                               _expert_logprobs(graphdef, expert_params, *sequences), atol=2e-5)
    mixed, alone = _mixture(level, experts, weights, prompts), _sample(graphdef, expert_params, prompts)
    np.testing.assert_array_equal(mixed.tokens, alone.tokens)
    np.testing.assert_allclose(mixed.logprobs, alone.logprobs, atol=2e-5)


@pytest.mark.parametrize("level", LEVELS)
def test_a_single_expert_is_that_expert(level, setup, sequences):
    graphdef, start, experts, _ = setup
    _assert_reduces_to(level, Experts.stack(graphdef, [experts[1]], start, ["a"]), [1.0], experts[1], setup,
                       sequences)


@pytest.mark.parametrize("level", LEVELS)
def test_mixing_two_identical_experts_changes_nothing(level, setup, sequences):
    graphdef, start, experts, _ = setup
    twins = Experts.stack(graphdef, [experts[0], experts[0]], start, ["a", "b"])
    _assert_reduces_to(level, twins, [0.3, 0.7], experts[0], setup, sequences)


@pytest.mark.parametrize("level", LEVELS)
def test_a_vertex_weight_vector_gives_that_expert(level, setup, sequences):
    graphdef, start, experts, _ = setup
    stacked = Experts.stack(graphdef, experts, start, ["a", "b", "c"])
    for k in range(3):
        _assert_reduces_to(level, stacked, np.eye(3)[k], experts[k], setup, sequences)


def _reference_probs(level, weights, setup, sequences):
    """The aggregate's next-token probabilities [B, L, V] at positions 4.. from the definitions, in NumPy."""
    graphdef, start, experts, _ = setup
    w = np.asarray(weights, np.float64)
    if level in ("soup", "task_vectors"):
        if level == "soup":
            merged = jax.tree.map(lambda *xs: sum(wk * np.asarray(x, np.float64) for wk, x in zip(w / w.sum(), xs)),
                                  *experts)
        else:
            merged = jax.tree.map(lambda x0, *xs: np.asarray(x0, np.float64) + sum(
                wk * (np.asarray(x, np.float64) - np.asarray(x0, np.float64)) for wk, x in zip(w, xs)), start, *experts)
        logits = np.asarray(_forward(graphdef, jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), merged),
                                     *sequences)[0], np.float64) / T
        return _softmax(logits)[:, 4:-1]
    outs = [[np.asarray(x, np.float64) for x in _forward(graphdef, p, *sequences)] for p in experts]
    if level == "hidden":
        hidden = sum(wk * h for wk, (_, h, _) in zip(w, outs))
        head = sum(wk * head for wk, (_, _, head) in zip(w, outs))
        return _softmax(hidden @ head.T / T)[:, 4:-1]
    probs = [_softmax(logits / T) for logits, _, _ in outs]
    if level == "prob":
        return sum(wk / w.sum() * p for wk, p in zip(w, probs))[:, 4:-1]
    return _softmax(sum(wk * np.log(p) for wk, p in zip(w, probs)))[:, 4:-1]  # logprob: Π p_k^w_k, renormalised


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("level", LEVELS)
def test_every_level_matches_its_definition(level, setup, sequences):
    graphdef, start, experts, _ = setup
    weights = [0.2, 0.5, 0.3] if get_aggregator(level).nonnegative else [0.6, -0.2, 0.9]
    stacked = Experts.stack(graphdef, experts, start, ["a", "b", "c"])
    probs = _reference_probs(level, weights, setup, sequences)
    tokens, mask = (np.asarray(x) for x in sequences)
    expected = np.log(np.take_along_axis(probs, tokens[:, 5:, None], axis=-1)[..., 0]) * mask[:, 5:]
    np.testing.assert_allclose(sequence_logprobs(level, stacked, weights, *sequences, start=4, temperature=T),
                               expected, atol=5e-5)


@pytest.mark.parametrize("level", LEVELS)
def test_the_sampler_draws_from_the_teacher_forced_aggregate(level, setup):
    graphdef, start, experts, prompts = setup
    stacked = Experts.stack(graphdef, experts, start, ["a", "b", "c"])
    out = _mixture(level, stacked, [0.2, 0.5, 0.3], prompts, seed=11)
    tokens = jnp.concatenate([prompts[0], out.tokens], axis=1)
    mask = jnp.concatenate([prompts[1], out.completion_mask], axis=1)
    np.testing.assert_allclose(out.logprobs, sequence_logprobs(level, stacked, [0.2, 0.5, 0.3], tokens, mask,
                                                               start=4, temperature=T), atol=2e-5)


@pytest.mark.parametrize("level", ["logprob", "prob", "hidden"])
def test_per_row_weights_are_independent_rows(level, setup):
    graphdef, start, experts, prompts = setup
    stacked = Experts.stack(graphdef, experts, start, ["a", "b", "c"])
    rows = np.array([[1.0, 0.0, 0.0], [0.1, 0.1, 0.8], [0.4, 0.4, 0.2]])
    together = _mixture(level, stacked, rows, prompts)
    for b in range(3):
        alone = _mixture(level, stacked, rows[b], prompts)
        np.testing.assert_array_equal(together.tokens[b], alone.tokens[b])
        np.testing.assert_allclose(together.logprobs[b], alone.logprobs[b], atol=1e-6)


def test_greedy_takes_the_argmax_of_the_untempered_mixture(setup, sequences):
    graphdef, start, experts, prompts = setup
    stacked = Experts.stack(graphdef, experts, start, ["a", "b", "c"])
    weights = [0.5, 0.25, 0.25]
    out = generate("prob", stacked, weights, *prompts, jax.random.key(0), max_new_tokens=C, eos_id=None, pad_id=0,
                   temperature=T, greedy=True)
    tokens = jnp.concatenate([prompts[0], out.tokens], axis=1)
    mask = jnp.ones_like(tokens, bool).at[:, :5].set(prompts[1])
    outs = [np.asarray(_forward(graphdef, p, tokens, mask)[0]) for p in experts]
    mixture = sum(w * _softmax(logits) for w, logits in zip(weights, outs))
    np.testing.assert_array_equal(np.argmax(mixture[:, 4:-1], axis=-1), out.tokens)


def test_eos_stops_rows_and_later_tokens_are_padding(setup):
    graphdef, start, experts, prompts = setup
    stacked = Experts.stack(graphdef, experts, start, ["a", "b", "c"])
    free = _mixture("hidden", stacked, [0.3, 0.3, 0.4], prompts)
    eos = int(free.tokens[0, 2])
    out = generate("hidden", stacked, [0.3, 0.3, 0.4], *prompts, jax.random.key(3), max_new_tokens=C, eos_id=eos,
                   pad_id=0, temperature=T)
    for row in range(3):
        hits = np.flatnonzero(np.asarray(free.tokens[row]) == eos)
        length = hits[0] + 1 if len(hits) else C
        assert int(out.lengths[row]) == length
        np.testing.assert_array_equal(out.tokens[row, :length], free.tokens[row, :length])
        assert np.all(np.asarray(out.tokens[row, length:]) == 0)


def test_bad_weights_and_experts_are_named(setup):
    graphdef, start, experts, prompts = setup
    stacked = Experts.stack(graphdef, experts, start, ["a", "b", "c"])
    with pytest.raises(ValueError, match="cannot differ per row"):
        _mixture("soup", stacked, np.eye(3), prompts)
    with pytest.raises(ValueError, match="non-negative"):
        _mixture("prob", stacked, [1.2, -0.2, 0.0], prompts)
    with pytest.raises(ValueError, match="positive sum"):
        check_weights(get_aggregator("soup"), [0.0, 0.0, 0.0], 3, 2)
    with pytest.raises(ValueError, match=r"\[K=3\] or \[B=3, K=3\]"):
        _mixture("hidden", stacked, [0.5, 0.5], prompts)
    with pytest.raises(ValueError, match="finite"):
        _mixture("logprob", stacked, [np.nan, 0.5, 0.5], prompts)
    with pytest.raises(KeyError, match="known: soup, task_vectors"):
        get_aggregator("average")
    with pytest.raises(ValueError, match="already registered"):
        register_aggregator(AGGREGATORS["soup"])
    with pytest.raises(ValueError, match="unknown level"):
        register_aggregator(Aggregator("x", "layer", False, False, None, AGGREGATORS["hidden"].combine))
    other = nnx.split(models.Transformer(models.get_config("tiny", num_layers=1), rngs=nnx.Rngs(0)))[1]
    with pytest.raises(ValueError, match="expert 'b' does not have the start's parameter structure"):
        Experts.stack(graphdef, [experts[0], other], start, ["a", "b"])
    with pytest.raises(ValueError, match="one distinct name per expert"):
        Experts.stack(graphdef, experts[:2], start, ["a", "a"])
