"""generate / sampling: greedy == argmax of a full forward, EOS handling, behaviour log-probs, filtering,
determinism, no recompilation."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from morl_jax.models import (CharTokenizer, Transformer, filter_logits, generate, generate_text, get_config,
                             positions_from_mask, sample_tokens, token_logprobs)
from morl_jax.models import sampling

C = 6
TOP_K = 3  # one sampling configuration for most tests: one compilation


@pytest.fixture(scope="module")
def split_model():
    return nnx.split(Transformer(get_config("tiny"), rngs=nnx.Rngs(0)))


@pytest.fixture(scope="module")
def prompts():
    tokens = np.array([[0, 0, 2, 5, 9], [2, 7, 8, 11, 13], [0, 2, 40, 41, 42]], np.int32)
    return jnp.asarray(tokens), jnp.asarray(tokens != 0)


@functools.partial(jax.jit, static_argnums=0)
def _full_forward(graphdef, state, tokens, mask):
    return nnx.merge(graphdef, state)(tokens, positions_from_mask(mask), mask)


@functools.partial(jax.jit, static_argnums=0)
def _completion_logprobs(graphdef, state, tokens, mask, temperature):
    return token_logprobs(nnx.merge(graphdef, state), tokens, mask, start=4, temperature=temperature)


def _run(split_model, prompts, **kw):
    key = kw.pop("key", jax.random.key(0))
    options = dict(max_new_tokens=C, eos_id=None, pad_id=0)
    options.update(kw)
    return generate(*split_model, *prompts, key, **options)


def test_greedy_equals_argmax_of_a_full_forward(split_model, prompts):
    rollout = _run(split_model, prompts, greedy=True)
    tokens = jnp.concatenate([prompts[0], rollout.tokens], 1)
    mask = jnp.concatenate([prompts[1], rollout.completion_mask], 1)
    full = _full_forward(*split_model, tokens, mask)
    np.testing.assert_array_equal(jnp.argmax(full.logits[:, 4:4 + C], -1), rollout.tokens)
    assert bool(rollout.completion_mask.all()) and list(rollout.lengths) == [C] * 3
    np.testing.assert_allclose(rollout.last_hidden, full.hidden_states[:, -1], atol=1e-5)


def test_sampled_tokens_lie_in_the_top_k_of_a_full_forward(split_model, prompts):
    rollout = _run(split_model, prompts, temperature=2.0, top_k=TOP_K, key=jax.random.key(5))
    tokens = jnp.concatenate([prompts[0], rollout.tokens], 1)
    mask = jnp.concatenate([prompts[1], rollout.completion_mask], 1)
    logits = _full_forward(*split_model, tokens, mask).logits[:, 4:4 + C]
    kth = jax.lax.top_k(logits, TOP_K)[0][..., -1]
    chosen = jnp.take_along_axis(logits, rollout.tokens[..., None], -1)[..., 0]
    assert bool(jnp.all(chosen >= kth))
    assert not np.array_equal(rollout.tokens, jnp.argmax(logits, -1))  # sampled, not argmax


def test_eos_stops_rows_masks_and_pads(split_model, prompts):
    free = _run(split_model, prompts, greedy=True)
    eos = int(free.tokens[0, 2])
    rollout = _run(split_model, prompts, greedy=True, eos_id=eos, pad_id=63)
    for row in range(3):
        free_row = np.asarray(free.tokens[row])
        hits = np.flatnonzero(free_row == eos)
        length = int(hits[0]) + 1 if len(hits) else C
        assert int(rollout.lengths[row]) == length
        np.testing.assert_array_equal(rollout.tokens[row, :length], free_row[:length])
        assert np.all(np.asarray(rollout.tokens[row, length:]) == 63)
        np.testing.assert_array_equal(rollout.completion_mask[row], np.arange(C) < length)
        assert np.all(np.asarray(rollout.logprobs[row, length:]) == 0)
    assert int(rollout.lengths[0]) <= 3 and int(rollout.tokens[0, rollout.lengths[0] - 1]) == eos
    second = int(free.tokens[2, 0])  # several EOS ids: each row stops at the first of any of them
    both = _run(split_model, prompts, greedy=True, eos_id=(eos, second), pad_id=63)
    for row in range(3):
        hits = [i for i, t in enumerate(np.asarray(free.tokens[row])) if int(t) in (eos, second)]
        assert int(both.lengths[row]) == (hits[0] + 1 if hits else C)
    assert int(both.lengths[2]) == 1


def test_behaviour_logprobs_and_last_hidden_match_a_recomputation(split_model, prompts):
    temperature = 0.8
    free = _run(split_model, prompts, temperature=temperature, key=jax.random.key(1), top_k=TOP_K)
    eos = int(free.tokens[1, 1])  # makes row 1 (and maybe others) stop early
    rollout = _run(split_model, prompts, temperature=temperature, key=jax.random.key(1), eos_id=eos, top_k=TOP_K)
    assert int(rollout.lengths.min()) < C
    tokens = jnp.concatenate([prompts[0], rollout.tokens], 1)
    mask = jnp.concatenate([prompts[1], rollout.completion_mask], 1)
    recomputed = _completion_logprobs(*split_model, tokens, mask, temperature)
    np.testing.assert_allclose(rollout.logprobs, recomputed, atol=2e-5)
    hidden = _full_forward(*split_model, tokens, mask).hidden_states
    last = 4 + np.asarray(rollout.lengths)
    np.testing.assert_allclose(rollout.last_hidden, hidden[np.arange(3), last], atol=1e-5)


def test_same_key_same_rollout_other_key_differs(split_model, prompts):
    a = _run(split_model, prompts, key=jax.random.key(7), top_k=TOP_K)
    b = _run(split_model, prompts, key=jax.random.key(7), top_k=TOP_K)
    c = _run(split_model, prompts, key=jax.random.key(8), top_k=TOP_K)
    np.testing.assert_array_equal(a.tokens, b.tokens)
    np.testing.assert_array_equal(a.logprobs, b.logprobs)
    assert not np.array_equal(a.tokens, c.tokens)


def test_second_call_with_same_shapes_does_not_recompile(split_model, prompts):
    """A fresh split of the same model, another key, temperature, EOS and pad id: the same program (the static
    options are the same; a test that ran before with other options must not decide the outcome)."""
    _run(split_model, prompts, temperature=0.5, top_k=TOP_K, eos_id=5, pad_id=1)
    size = sampling._generate_jit._cache_size()
    fresh = nnx.split(nnx.merge(*split_model))
    _run(fresh, prompts, key=jax.random.key(3), temperature=0.9, top_k=TOP_K, eos_id=6, pad_id=2)
    assert sampling._generate_jit._cache_size() == size


def _allowed_sets(logits, top_k, top_p):
    """Brute force: indices kept by top-k, then by the nucleus of the renormalised top-k distribution."""
    order = np.argsort(-logits)
    keep = order[:top_k] if top_k else order
    probs = np.exp(logits[keep] - logits[keep].max())
    probs /= probs.sum()
    mass_before = np.cumsum(probs) - probs
    return set(keep[mass_before < top_p].tolist())


@pytest.mark.parametrize("top_k, top_p", [(5, 1.0), (0, 0.6), (10, 0.5), (0, 0.05)])
def test_filtering_keeps_exactly_the_brute_force_set(top_k, top_p):
    logits = np.asarray(jax.random.normal(jax.random.key(0), (8, 40)) * 3)
    filtered = np.asarray(filter_logits(jnp.asarray(logits), top_k=top_k, top_p=top_p))
    for row in range(8):
        assert set(np.flatnonzero(np.isfinite(filtered[row])).tolist()) == _allowed_sets(logits[row], top_k, top_p)
        kept = np.isfinite(filtered[row])
        np.testing.assert_array_equal(filtered[row][kept], logits[row][kept])


def test_samples_stay_in_the_allowed_set_with_the_renormalised_frequencies():
    logits = jnp.asarray(np.log(np.array([0.35, 0.25, 0.2, 0.1, 0.06, 0.04])))[None]
    keys = jax.random.split(jax.random.key(0), 4000)
    draw = jax.jit(jax.vmap(lambda k: sample_tokens(logits, k, top_k=4, top_p=0.7)))
    tokens, logp = draw(keys)
    tokens = np.asarray(tokens[:, 0])
    assert set(tokens.tolist()) == {0, 1, 2}  # top-4 -> {0,1,2,3}; nucleus 0.7 -> {0,1,2}
    freq = np.bincount(tokens, minlength=6) / len(tokens)
    np.testing.assert_allclose(freq[:3], np.array([0.35, 0.25, 0.2]) / 0.8, atol=0.03)
    np.testing.assert_allclose(np.asarray(logp[:, 0]), np.log([0.35, 0.25, 0.2, 0.1, 0.06, 0.04])[tokens], atol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(temperature=0.0), "temperature"), (dict(top_p=0.0), "top_p"), (dict(top_k=-1), "top_k"),
    (dict(max_new_tokens=0), "max_new_tokens"),
])
def test_invalid_options_are_rejected(split_model, prompts, kwargs, message):
    with pytest.raises(ValueError, match=message):
        _run(split_model, prompts, **kwargs)


def test_generate_text_round_trips_through_the_tokenizer():
    model = Transformer(get_config("tiny"), rngs=nnx.Rngs(0))
    texts = generate_text(model, CharTokenizer(), ["1+1=", "hello"], max_new_tokens=4, greedy=True)
    assert len(texts) == 2 and all(isinstance(t, str) and len(t) <= 4 for t in texts)


def test_per_step_noise_path_matches_its_own_recomputation(split_model, prompts, monkeypatch):
    """Large rollouts draw Gumbel noise inside the loop instead of up front: still valid behaviour log-probs."""
    monkeypatch.setattr(sampling, "NOISE_BUDGET", 0)
    sampling._generate_jit.clear_cache()
    rollout = _run(split_model, prompts, temperature=1.3, key=jax.random.key(2), top_k=TOP_K)
    sampling._generate_jit.clear_cache()
    tokens = jnp.concatenate([prompts[0], rollout.tokens], 1)
    mask = jnp.concatenate([prompts[1], rollout.completion_mask], 1)
    np.testing.assert_allclose(rollout.logprobs, _completion_logprobs(*split_model, tokens, mask, 1.3), atol=2e-5)


@pytest.mark.parametrize("greedy", [False, True])
def test_shrinking_the_batch_gives_the_same_rollout(split_model, greedy):
    """Rows that stop early leave the batch (16 -> 8 -> 4 -> 2 rows): every row's tokens, log-probs and last hidden
    state are those of decoding the whole batch to the end."""
    rng = np.random.default_rng(0)
    tokens = np.concatenate([np.zeros((16, 2), np.int32), rng.integers(4, 60, (16, 3), dtype=np.int32)], 1)
    tokens[::3, :2] = 2  # some rows with a longer prompt
    prompts = jnp.asarray(tokens), jnp.asarray(tokens != 0)
    stops = list(range(4, 24))  # about a third of the vocabulary ends a row: rows stop at many different steps
    runs = [_run(split_model, prompts, key=jax.random.key(4), max_new_tokens=12, eos_id=stops, temperature=1.5,
                 greedy=greedy, shrink_to=shrink) for shrink in (0, 2)]
    full, shrunk = runs
    lengths = np.asarray(full.lengths)
    assert len(set(lengths.tolist())) > 3 and (lengths < 12).sum() >= 12  # the phases really were used
    for field in ("tokens", "completion_mask", "lengths"):
        np.testing.assert_array_equal(getattr(shrunk, field), getattr(full, field))
    np.testing.assert_allclose(shrunk.logprobs, full.logprobs, atol=1e-6)
    np.testing.assert_allclose(shrunk.last_hidden, full.last_hidden, atol=1e-6)
    assert sampling.phase_sizes(16, 2) == [16, 8, 4, 2] and sampling.phase_sizes(16, 0) == [16]
    assert sampling.phase_sizes(64, 8) == [64, 32, 16, 8] and sampling.phase_sizes(12, 8) == [12]
