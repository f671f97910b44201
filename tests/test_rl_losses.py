"""PPO-clip policy loss, aggregations and KL estimators against case-by-case numpy references (docs/algorithms.md §2)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from morl_jax.rl import losses

EPS_LOW, EPS_HIGH = 0.2, 0.28


def ref_token_loss(logp, old, adv, clip_low=EPS_LOW, clip_high=EPS_HIGH, dual_clip=None):
    """Per-token PPO loss written as the case analysis of the clipped objective (not a max of two terms)."""
    out = np.zeros(logp.shape)
    for i in range(logp.shape[0]):
        for t in range(logp.shape[1]):
            ratio, a = np.exp(logp[i, t] - old[i, t]), adv[i]
            if a >= 0:
                loss = -a * min(ratio, 1 + clip_high)
            else:
                loss = -a * max(ratio, 1 - clip_low)
                if dual_clip is not None:
                    loss = min(loss, -a * dual_clip)
            out[i, t] = loss
    return out


def ref_aggregate(values, mask, mode, max_length=None):
    rows = [(values[i][mask[i]], mask[i].sum()) for i in range(values.shape[0]) if mask[i].any()]
    if mode == "token-mean":
        return values[mask].sum() / mask.sum()
    if mode == "seq-mean-token-sum":
        return np.mean([v.sum() for v, _ in rows])
    if mode == "seq-mean-token-mean":
        return np.mean([v.mean() for v, _ in rows])
    return np.mean([v.sum() / max_length for v, _ in rows])


def batch(seed=0, n=4, c=5):
    rng = np.random.default_rng(seed)
    logp = -rng.uniform(0.1, 3.0, size=(n, c))
    old = logp + rng.normal(scale=0.3, size=(n, c))
    adv = rng.normal(size=n)
    adv[0], adv[1] = abs(adv[0]), -abs(adv[1])
    mask = np.ones((n, c), bool)
    mask[0, 3:] = False
    mask[2, 1:] = False
    return logp, old, adv, mask


def test_hand_computed_loss():
    # One sequence, A=+1, two tokens with ratios 1.5 (clipped to 1.28) and 0.5 (not clipped for A > 0).
    logp = jnp.log(jnp.array([[1.5, 0.5]]))
    loss, m = losses.policy_loss(logp, jnp.zeros((1, 2)), jnp.array([1.0]), jnp.ones((1, 2)), clip_high=0.28)
    np.testing.assert_allclose(loss, -(1.28 + 0.5) / 2, rtol=1e-6)
    np.testing.assert_allclose(m["clip_frac_high"], 0.5)
    np.testing.assert_allclose(m["clip_frac_low"], 0.0)
    np.testing.assert_allclose(m["ratio_mean"], 1.0, rtol=1e-6)
    np.testing.assert_allclose(m["ratio_max"], 1.5, rtol=1e-6)
    # Same tokens, A=-2: ratio 1.5 is not clipped, 0.5 clips to 0.8.
    loss, m = losses.policy_loss(logp, jnp.zeros((1, 2)), jnp.array([-2.0]), jnp.ones((1, 2)))
    np.testing.assert_allclose(loss, (2 * 1.5 + 2 * 0.8) / 2, rtol=1e-6)
    np.testing.assert_allclose(m["clip_frac_low"], 0.5)


@pytest.mark.parametrize("mode", sorted(losses.LOSS_AGGREGATIONS))
def test_loss_matches_reference_per_aggregation(mode):
    logp, old, adv, mask = batch(1)
    loss, m = losses.policy_loss(
        logp, old, adv, mask, clip_low=EPS_LOW, clip_high=EPS_HIGH, aggregation=mode, max_length=7
    )
    expected = ref_aggregate(ref_token_loss(logp, old, adv), mask, mode, max_length=7)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(m["pg_loss"], expected, rtol=1e-5)
    assert "kl" not in m and "dual_clip_frac" not in m


@pytest.mark.parametrize("mode", sorted(losses.LOSS_AGGREGATIONS))
def test_aggregations_vs_numpy(mode):
    rng = np.random.default_rng(2)
    values = rng.normal(size=(5, 6))
    mask = rng.uniform(size=(5, 6)) < 0.6
    mask[3] = False  # an empty sequence does not count in the sequence means
    mask[0, 0] = True
    got = losses.aggregate(jnp.asarray(values, jnp.float32), mask, mode, max_length=10)
    np.testing.assert_allclose(got, ref_aggregate(values, mask, mode, max_length=10), rtol=1e-5)


def test_seq_mean_token_sum_norm_defaults_to_width():
    values = jnp.arange(6.0).reshape(2, 3)
    mask = jnp.array([[1, 1, 0], [1, 1, 1]])
    np.testing.assert_allclose(losses.aggregate(values, mask, "seq-mean-token-sum-norm"), ((0 + 1) / 3 + 12 / 3) / 2)


def test_reinforce_gradient_at_ratio_one():
    logp, _, adv, mask = batch(3)
    grad = jax.grad(lambda lp: losses.policy_loss(lp, logp, adv, mask)[0])(jnp.asarray(logp))
    # d/dlogp of -A * exp(logp - old) at logp = old is -A; token-mean divides by the valid-token count.
    expected = -adv[:, None] * mask / mask.sum()
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)
    grad = jax.grad(lambda lp: losses.policy_loss(lp, logp, adv, mask, aggregation="seq-mean-token-mean")[0])(logp)
    expected = -adv[:, None] * mask / mask.sum(1, keepdims=True) / mask.any(1).sum()
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)


def test_clipping_zeroes_gradients_outside_the_trust_region():
    ratios = np.array([1.5, 0.5, 1.1, 0.9])  # above 1+eps_high, below 1-eps_low, inside, inside
    logp = jnp.log(jnp.asarray(np.stack([ratios, ratios])))
    old = jnp.zeros_like(logp)
    adv = jnp.array([1.0, -1.0])
    mask = jnp.ones_like(logp)
    grad = jax.grad(lambda lp: losses.policy_loss(lp, old, adv, mask, clip_low=EPS_LOW, clip_high=EPS_HIGH)[0])(logp)
    unclipped = -np.asarray(adv)[:, None] * ratios[None] / 8  # d(-A r)/dlogp = -A r
    expected_zero = np.array([[True, False, False, False], [False, True, False, False]])
    np.testing.assert_array_equal(np.asarray(grad)[expected_zero], 0.0)
    np.testing.assert_allclose(np.asarray(grad)[~expected_zero], unclipped[~expected_zero], rtol=1e-6)


def test_dual_clip_bounds_negative_advantage_loss():
    logp = jnp.log(jnp.array([[5.0, 2.0], [5.0, 2.0]]))
    old = jnp.zeros_like(logp)
    adv = jnp.array([-1.0, 1.0])
    mask = jnp.ones_like(logp)
    loss, m = losses.policy_loss(logp, old, adv, mask, dual_clip=3.0)
    # A=-1: ratio 5 -> bounded by 3; ratio 2 -> 2. A=+1: ratios clip at 1.2 (loss -1.2 each), dual clip inert.
    np.testing.assert_allclose(loss, (3.0 + 2.0 - 1.2 - 1.2) / 4, rtol=1e-6)
    np.testing.assert_allclose(m["dual_clip_frac"], 0.25)
    grad = jax.grad(lambda lp: losses.policy_loss(lp, old, adv, mask, dual_clip=3.0)[0])(logp)
    np.testing.assert_allclose(grad, [[0.0, 2.0 / 4], [0.0, 0.0]], atol=1e-7)
    logp2, old2, adv2, mask2 = batch(4)
    adv2 = adv2 * 3
    got, _ = losses.policy_loss(logp2, old2 - 1.5, adv2, mask2, dual_clip=3.0)
    ref = ref_aggregate(ref_token_loss(logp2, old2 - 1.5, adv2, clip_high=0.2, dual_clip=3.0), mask2, "token-mean")
    np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_kl_estimators_match_closed_form_expectations():
    rng = np.random.default_rng(5)
    p, q = (np.exp(x) / np.exp(x).sum() for x in rng.normal(size=(2, 6)))  # ratios well inside the k3 clamp
    kl_pq = np.sum(p * np.log(p / q))
    logp, logq = jnp.log(p)[None], jnp.log(q)[None]
    # Sampling x ~ p exactly (probability-weighted), k1 and k3 are unbiased for KL(p || q).
    for est in ("k1", "k3"):
        np.testing.assert_allclose(np.sum(p * np.asarray(losses.kl_divergence(logp, logq, est))[0]), kl_pq, rtol=1e-5)
    d = np.log(q) - np.log(p)
    np.testing.assert_allclose(losses.kl_divergence(logp, logq, "k3")[0], np.exp(d) - d - 1, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(losses.kl_divergence(logp, logq, "k2")[0], 0.5 * d**2, rtol=1e-5)
    k1 = np.asarray(losses.kl_divergence(logp, logq, "k1"))
    assert (k1 < 0).any() and (k1 > 0).any()  # per-sample k1 has either sign; k3 never negative
    pairs = jnp.asarray(rng.normal(scale=3.0, size=(2, 50)))
    k3 = losses.kl_divergence(pairs[:1], pairs[1:], "k3")
    assert float(k3.min()) >= 0.0 and float(k3.max()) == losses.K3_MAX  # verl's clamp of large estimates


def test_kl_term_in_loss():
    logp, old, adv, mask = batch(6)
    ref = old - 0.2
    pg = ref_aggregate(ref_token_loss(logp, old, adv, clip_high=0.2), mask, "seq-mean-token-mean")
    for est in ("k2", "k3"):
        loss, m = losses.policy_loss(
            logp, old, adv, mask, aggregation="seq-mean-token-mean", ref_logprobs=ref, kl_coef=0.1, kl_estimator=est
        )
        d = ref - logp
        per_token = 0.5 * d**2 if est == "k2" else np.exp(d) - d - 1
        kl = ref_aggregate(per_token, mask, "seq-mean-token-mean")
        np.testing.assert_allclose(m["kl"], kl, rtol=1e-5)
        np.testing.assert_allclose(m["pg_loss"], pg, rtol=1e-5)
        np.testing.assert_allclose(loss, pg + 0.1 * kl, rtol=1e-5)
    # k3's gradient w.r.t. logp is 1 - exp(ref - logp) per valid token; k2's is logp - ref.
    for est, expected in (("k3", 1 - np.exp(ref - logp)), ("k2", logp - ref)):
        grad = jax.grad(lambda lp: losses.policy_loss(lp, lp, jnp.zeros(4), mask, ref_logprobs=ref, kl_coef=1.0,
                                                      kl_estimator=est)[0])(logp)
        np.testing.assert_allclose(grad, expected * mask / mask.sum(), rtol=1e-5, atol=1e-7)


def test_k1_is_refused_as_a_loss_term_but_not_as_an_estimate():
    logp, old, adv, mask = batch(8)
    with pytest.raises(ValueError, match=r"'k1' cannot be a loss term: its expected gradient is zero"):
        losses.policy_loss(logp, old, adv, mask, ref_logprobs=old - 0.1, kl_coef=0.1, kl_estimator="k1")
    losses.policy_loss(logp, old, adv, mask, kl_estimator="k1")  # no KL term: nothing to refuse
    assert losses.kl_divergence(logp, old, "k1").shape == logp.shape


def test_kl_absent_without_coefficient_or_reference():
    logp, old, adv, mask = batch(7)
    base, _ = losses.policy_loss(logp, old, adv, mask)
    for kwargs in ({"ref_logprobs": old - 1.0, "kl_coef": 0.0}, {"ref_logprobs": None}):
        loss, m = losses.policy_loss(logp, old, adv, mask, **kwargs)
        assert "kl" not in m
        np.testing.assert_array_equal(loss, base)
    with pytest.raises(ValueError, match="kl_coef=0.1 needs ref_logprobs"):
        losses.policy_loss(logp, old, adv, mask, kl_coef=0.1)


def test_masked_tokens_never_leak():
    logp, old, adv, mask = batch(8)
    kwargs = dict(kl_coef=0.5, dual_clip=3.0)
    clean, m_clean = losses.policy_loss(logp, old, adv, mask, ref_logprobs=old + 0.1, **kwargs)
    old_bad, ref_bad = np.where(mask, old, np.nan), np.where(mask, old + 0.1, np.inf)
    logp_bad = np.where(mask, logp, -np.inf)

    def f(lp):
        return losses.policy_loss(lp, old_bad, adv, mask, ref_logprobs=ref_bad, **kwargs)

    (dirty, m_dirty), grad = jax.value_and_grad(f, has_aux=True)(jnp.asarray(logp_bad))
    np.testing.assert_allclose(dirty, clean, rtol=1e-6)
    for key in m_clean:
        np.testing.assert_allclose(m_dirty[key], m_clean[key], rtol=1e-6, err_msg=key)
    assert np.all(np.isfinite(grad)) and np.all(np.asarray(grad)[~mask] == 0.0)


def test_metrics():
    logp, old, adv, mask = batch(9)
    _, m = losses.policy_loss(logp, old, adv, mask, clip_low=EPS_LOW, clip_high=EPS_HIGH)
    ratio = np.exp(logp - old)
    a = np.broadcast_to(adv[:, None], ratio.shape)
    np.testing.assert_allclose(m["clip_frac_low"], np.mean(((a < 0) & (ratio < 1 - EPS_LOW))[mask]), rtol=1e-6)
    np.testing.assert_allclose(m["clip_frac_high"], np.mean(((a > 0) & (ratio > 1 + EPS_HIGH))[mask]), rtol=1e-6)
    np.testing.assert_allclose(m["ratio_mean"], ratio[mask].mean(), rtol=1e-5)
    np.testing.assert_allclose(m["ratio_max"], ratio[mask].max(), rtol=1e-5)
    np.testing.assert_allclose(m["approx_kl"], np.mean((ratio - 1 - np.log(ratio))[mask]), rtol=1e-5)
    assert float(m["approx_kl"]) > 0


def test_masked_entropy_and_jit():
    entropy = jnp.array([[1.0, 2.0, 9.0], [3.0, 9.0, 9.0]])
    mask = jnp.array([[True, True, False], [True, False, False]])
    np.testing.assert_allclose(losses.masked_entropy(entropy, mask), 2.0)
    np.testing.assert_allclose(losses.masked_entropy(entropy, mask, aggregation="seq-mean-token-mean"), 2.25)
    logp, old, adv, mask = batch(10)
    f = jax.jit(losses.policy_loss, static_argnames=("aggregation", "dual_clip", "kl_estimator"))
    eager = losses.policy_loss(logp, old, adv, mask, ref_logprobs=old, kl_coef=0.01)
    jitted = f(logp, old, adv, mask, ref_logprobs=old, kl_coef=0.01)
    np.testing.assert_allclose(jitted[0], eager[0], rtol=1e-6)
    assert set(jitted[1]) == set(eager[1])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(aggregation="sum"), r"unknown loss aggregation 'sum'; known: seq-mean-token-mean, .*token-mean"),
        (dict(kl_estimator="k9", kl_coef=0.1), r"unknown KL estimator 'k9'; known: k1, k2, k3"),
        (dict(dual_clip=1.0), r"dual_clip must be > 1"),
        (dict(clip_low=1.0), r"0 <= clip_low < 1"),
        (dict(clip_high=-0.1), r"clip_high >= 0"),
        (dict(kl_coef=-1.0), r"kl_coef must be >= 0"),
        (dict(aggregation="seq-mean-token-sum-norm", max_length=0), r"max_length must be positive"),
        (dict(advantages=np.zeros(3)), r"advantages must be \[N\]=\(2,\)"),
        (dict(mask=np.ones((2, 4))), r"mask must have the shape of logprobs \(2, 3\)"),
        (dict(old_logprobs=np.zeros((3, 3))), r"old_logprobs must have the shape"),
        (dict(logprobs=np.zeros(3)), r"logprobs must be \[N, C\]"),
    ],
)
def test_errors(kwargs, message):
    args = dict(logprobs=np.zeros((2, 3)), old_logprobs=np.zeros((2, 3)), advantages=np.zeros(2), mask=np.ones((2, 3)))
    args.update({k: kwargs.pop(k) for k in list(kwargs) if k in args})
    if "kl_coef" in kwargs:
        kwargs.setdefault("ref_logprobs", np.zeros((2, 3)))
    with pytest.raises(ValueError, match=message):
        losses.policy_loss(**args, **kwargs)
