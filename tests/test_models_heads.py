"""Reward heads: last-real-token readout, batched scoring, padding invariance, Bradley-Terry loss against numpy,
masked pairs, and learning two synthetic per-objective preferences with the "tiny" model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from morl_jax.models import CharTokenizer, Transformer, get_config
from morl_jax.models.heads import (PreferencePairs, RewardHead, RewardModel, RewardModelScorer, bradley_terry_loss,
                                   encode_pairs, encode_sequences, fit_reward_model, last_token_index,
                                   preference_loss, reward_fns, score)
from morl_jax.rewards import RewardSet

TOKENIZER = CharTokenizer()
TARGETS = "abcdefgh"
OBJECTIVES = ("short", "correct")


def _model(objectives=("a", "b", "c"), seed=0):
    return RewardModel(Transformer(get_config("tiny"), rngs=nnx.Rngs(seed)), objectives, rngs=nnx.Rngs(seed + 1))


def _apply(model, tokens, mask):
    """model(tokens, mask) under jit (eager op-by-op dispatch is slow)."""
    graphdef, state = nnx.split(model)
    return _apply_jit(graphdef, state, jnp.asarray(tokens), jnp.asarray(mask))


@jax.jit(static_argnums=0)
def _apply_jit(graphdef, state, tokens, mask):
    return nnx.merge(graphdef, state)(tokens, mask)


def _np_bt(chosen, rejected, mask):
    """Per-objective mean of log(1 + exp(-(c - r))) over masked pairs, and the mean over objectives with pairs."""
    nll = np.logaddexp(0.0, -(chosen.astype(np.float64) - rejected))
    per = np.array([nll[mask[:, k], k].mean() if mask[:, k].any() else 0.0 for k in range(nll.shape[1])])
    present = mask.any(axis=0)
    return per[present].mean(), per


def test_last_token_index_left_right_and_holes():
    rng = np.random.default_rng(0)
    mask = rng.random((32, 9)) < 0.5
    mask[:, 0] |= ~mask.any(axis=1)  # at least one real token per row
    mask[0], mask[1] = [0, 0, 0, 1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0, 0, 0, 0]  # left- and right-padded
    expected = [max(np.flatnonzero(row)) for row in mask]
    np.testing.assert_array_equal(last_token_index(jnp.asarray(mask)), expected)


def test_score_shape_batching_and_padding_invariance():
    model = _model()
    prompts = ["1+2=", "ab", "x", "hello there", "7"]
    completions = ["3", "", "yz.", "!", "0123456"]
    left = encode_sequences(TOKENIZER, prompts, completions, padding="left")
    right = encode_sequences(TOKENIZER, prompts, completions, padding="right", length=24)
    graphdef, state = nnx.split(model)
    rewards = score(graphdef, state, *left, batch_size=2)  # 3 batches, the last one padded
    assert rewards.shape == (5, 3) and rewards.dtype == jnp.float32
    np.testing.assert_allclose(rewards, _apply(model, *left), atol=1e-6)
    np.testing.assert_allclose(score(graphdef, state, *right), rewards, atol=1e-5)
    longest = encode_sequences(TOKENIZER, prompts[3:4], completions[3:4], bucket=1)  # alone, unpadded
    np.testing.assert_allclose(_apply(model, *longest)[0], rewards[3], atol=1e-5)
    assert len(set(np.round(np.asarray(rewards[:, 0]), 6))) == 5  # the sequences are told apart


def test_heads_carry_logical_axes():
    heads = _model().heads
    assert isinstance(heads, RewardHead) and heads.shape == (32, 3)
    assert heads.get_metadata()["logical_axes"] == ("embed", "objectives")


def test_bradley_terry_loss_matches_numpy_and_ignores_masked_pairs():
    rng = np.random.default_rng(1)
    chosen, rejected = rng.normal(size=(2, 12, 4)).astype(np.float32) * 3
    mask = rng.random((12, 4)) < 0.6
    mask[:, 2] = False  # an objective without pairs contributes 0 and is left out of the mean
    total, per = bradley_terry_loss(jnp.asarray(chosen), jnp.asarray(rejected), jnp.asarray(mask))
    ref_total, ref_per = _np_bt(chosen, rejected, mask)
    np.testing.assert_allclose(per, ref_per, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(total, ref_total, rtol=1e-5)
    garbage = np.where(mask, chosen, 1e4 * rng.normal(size=chosen.shape)).astype(np.float32)
    total2, per2 = bradley_terry_loss(jnp.asarray(garbage), jnp.asarray(rejected), jnp.asarray(mask))
    np.testing.assert_array_equal(per2, per)
    np.testing.assert_array_equal(total2, total)
    np.testing.assert_allclose(bradley_terry_loss(jnp.asarray(chosen), jnp.asarray(rejected))[0],
                               _np_bt(chosen, rejected, np.ones_like(mask))[0], rtol=1e-5)


def test_preference_loss_signs_and_masked_pairs():
    model = _model(("a", "b"))
    prompts = ["q1", "q2", "q3"]
    pref = np.array([[1, -1], [0, 1], [0, 0]], np.float32)
    pairs = encode_pairs(TOKENIZER, prompts, ["x", "yy", "z"], ["xx", "y", "zzz"], pref)
    rewards = _apply(model, np.concatenate([pairs.tokens_a, pairs.tokens_b]),
                     np.concatenate([pairs.mask_a, pairs.mask_b]))
    r_a, r_b = np.asarray(rewards[:3]), np.asarray(rewards[3:])
    chosen = np.where(pref > 0, r_a, r_b)
    rejected = np.where(pref > 0, r_b, r_a)
    graphdef, params = nnx.split(model)
    loss_and_grads = jax.jit(jax.value_and_grad(lambda s, p: preference_loss(nnx.merge(graphdef, s), p),
                                                has_aux=True))
    (loss, metrics), grads = loss_and_grads(params, pairs)
    np.testing.assert_allclose(loss, _np_bt(chosen, rejected, pref != 0)[0], rtol=1e-5)
    np.testing.assert_array_equal(metrics["pairs"], [1, 2])
    # Pair 2 carries no preference: replacing its sequences changes neither the loss nor the gradient.
    other = encode_pairs(TOKENIZER, prompts, ["x", "yy", "hi"], ["xx", "y", "w"], pref, length=pairs.tokens_a.shape[1])
    (other_loss, _), other_grads = loss_and_grads(params, other)
    np.testing.assert_array_equal(other_loss, loss)
    jax.tree.map(np.testing.assert_array_equal, other_grads, grads)


def _synthetic(rng: np.random.Generator, n: int):
    """Prompt "<t>=", completions of digits ending in a letter. Objective "short": the shorter completion wins
    (ties carry no preference); "correct": the completion ending in the prompt's letter wins (0 if both/neither)."""
    prompts, comps_a, comps_b, pref = [], [], [], []
    for _ in range(n):
        target = TARGETS[rng.integers(len(TARGETS))]
        wrong = [c for c in TARGETS if c != target]

        def completion():
            digits = "".join(rng.choice(list("0123456789"), int(rng.integers(0, 8))))
            right = bool(rng.random() < 0.5)
            return digits + (target if right else wrong[rng.integers(len(wrong))]), right

        (a, right_a), (b, right_b) = completion(), completion()
        prompts.append(f"{target}=")
        comps_a.append(a)
        comps_b.append(b)
        pref.append([np.sign(len(b) - len(a)), float(right_a) - float(right_b)])
    return prompts, comps_a, comps_b, np.array(pref, np.float32)


def test_learns_two_synthetic_preferences_and_serves_reward_fns():
    rng = np.random.default_rng(0)
    train = encode_pairs(TOKENIZER, *_synthetic(rng, 2000), length=16, add_eos=False)
    test_prompts, test_a, test_b, test_pref = _synthetic(rng, 400)
    model = _model(OBJECTIVES)
    history = fit_reward_model(model, train, steps=150, batch_size=64, learning_rate=3e-3, seed=0)
    assert history[-1]["total_loss"] < 0.5 * history[0]["total_loss"]

    held_out = encode_pairs(TOKENIZER, test_prompts, test_a, test_b, test_pref, length=16, add_eos=False)
    _, metrics = preference_loss(model, held_out)
    assert np.all(np.asarray(metrics["accuracy"]) > 0.9), metrics

    # The same model as K reward functions behind a RewardSet: a and b scored separately, ranked per objective.
    rewards = RewardSet(reward_fns(model, TOKENIZER, add_eos=False))
    r_a = rewards(test_prompts, test_a, answer=list(test_prompts))
    r_b = rewards(test_prompts, test_b, answer=list(test_prompts))
    assert r_a.shape == (400, 2)
    for k in range(2):
        has = test_pref[:, k] != 0
        accuracy = np.mean(np.sign(r_a[has, k] - r_b[has, k]) == test_pref[has, k])
        assert accuracy > 0.9, (OBJECTIVES[k], accuracy)


def test_heads_only_training_keeps_backbone_and_is_deterministic():
    rng = np.random.default_rng(1)
    pairs = encode_pairs(TOKENIZER, *_synthetic(rng, 16), length=16)
    runs = []
    for _ in range(2):
        model = _model(OBJECTIVES)
        backbone_before = jax.tree.map(np.array, nnx.state(model.transformer))
        heads_before = np.array(model.heads[...])
        history = fit_reward_model(model, pairs, steps=2, batch_size=8, train_backbone=False, seed=3)
        jax.tree.map(np.testing.assert_array_equal, nnx.state(model.transformer), backbone_before)
        assert not np.allclose(model.heads[...], heads_before)
        runs.append((np.array(model.heads[...]), [h["total_loss"] for h in history]))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]


def test_scorer_caches_and_matches_score():
    model = _model(("a", "b"))
    scorer = RewardModelScorer(model, TOKENIZER, batch_size=3)
    prompts, completions = ["1", "22", "333", "4"], ["a", "b", "c", "dd"]
    first = scorer(prompts, completions)
    assert scorer(prompts, completions) is first  # cached
    tokens, mask = encode_sequences(TOKENIZER, prompts, completions)
    np.testing.assert_allclose(first, score(*nnx.split(model), tokens, mask), atol=1e-6)
    fn = scorer.reward_fn("b")
    np.testing.assert_array_equal(fn(prompts, completions, answer=[1, 2, 3, 4]), first[:, 1])
    assert fn.__name__ == "reward_model_b"


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="distinct"):
        _model(("a", "a"))
    with pytest.raises(ValueError, match="at least one objective"):
        _model(())
    with pytest.raises(ValueError, match=r"\+1 \(a preferred\)"):
        encode_pairs(TOKENIZER, ["p"], ["a"], ["b"], [[2.0]])
    with pytest.raises(ValueError, match="shape"):
        encode_pairs(TOKENIZER, ["p", "q"], ["a", "b"], ["b", "c"], [1.0, 1.0])
    with pytest.raises(ValueError, match="padding"):
        encode_sequences(TOKENIZER, ["p"], ["a"], padding="middle")
    with pytest.raises(ValueError, match="more than length"):
        encode_sequences(TOKENIZER, ["p"], ["abc"], length=3)
    with pytest.raises(KeyError, match="unknown objective 'z'"):
        RewardModelScorer(_model(("a",)), TOKENIZER).reward_fn("z")
    pairs = PreferencePairs(*encode_sequences(TOKENIZER, ["p"], ["a"]), *encode_sequences(TOKENIZER, ["p"], ["b"]),
                            np.ones((1, 2), np.float32))
    with pytest.raises(ValueError, match="2 objectives"):
        fit_reward_model(_model(("a",)), pairs, steps=1, batch_size=1)
