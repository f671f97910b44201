"""The sampler draws from softmax(filter(logits / T)): empirical token frequencies of the real `generate` at
T != 1, with and without top-k / top-p, against the distribution computed from a full forward pass."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from morl_jax import models
from morl_jax.models import filter_logits, generate

DRAWS = 8192


@pytest.fixture(scope="module")
def peaked_model():
    """The tiny model with its head scaled up, so the next-token distribution has a clear nucleus."""
    graphdef, params = nnx.split(models.Transformer(models.get_config("tiny"), rngs=nnx.Rngs(0)))
    params["lm_head"] = jax.tree.map(lambda w: w * 40.0, params["lm_head"])
    prompt = jnp.asarray([[5, 9, 13, 7]], jnp.int32)
    mask = jnp.ones_like(prompt, bool)
    logits = nnx.merge(graphdef, params)(prompt, models.positions_from_mask(mask), mask).logits[0, -1]
    return graphdef, params, prompt, mask, logits


def draw(graphdef, params, prompt, mask, **options):
    rollout = generate(graphdef, params, jnp.repeat(prompt, DRAWS, 0), jnp.repeat(mask, DRAWS, 0),
                       jax.random.key(7), max_new_tokens=1, eos_id=None, pad_id=0, **options)
    return np.asarray(rollout.tokens[:, 0]), np.asarray(rollout.logprobs[:, 0])


@pytest.mark.parametrize("temperature, top_k, top_p", [(0.6, 0, 1.0), (1.7, 0, 1.0), (0.5, 0, 0.8), (1.5, 10, 1.0),
                                                       (2.0, 12, 0.9)])
def test_token_frequencies_match_the_filtered_tempered_softmax(peaked_model, temperature, top_k, top_p):
    graphdef, params, prompt, mask, logits = peaked_model
    expected = np.asarray(jax.nn.softmax(filter_logits(logits / temperature, top_k=top_k, top_p=top_p)), np.float64)
    tokens, logprobs = draw(graphdef, params, prompt, mask, temperature=temperature, top_k=top_k, top_p=top_p)
    freq = np.bincount(tokens, minlength=expected.size) / DRAWS
    assert np.all(freq[expected == 0] == 0), "a token outside the top-k / nucleus was drawn"
    # Each count is binomial: within 5 standard deviations (plus one draw) of its expectation.
    bound = 5 * np.sqrt(expected * (1 - expected) / DRAWS) + 1 / DRAWS
    assert np.all(np.abs(freq - expected) <= bound), np.max(np.abs(freq - expected) / bound)
    # Behaviour log-probs: the tempered distribution before filtering (what the update recomputes).
    tempered = np.asarray(jax.nn.log_softmax(logits / temperature))
    np.testing.assert_allclose(logprobs, tempered[tokens], atol=1e-5)
    assert (expected > 0).sum() > 1 and expected.max() < 0.9  # the test distribution is neither flat nor one-hot
