"""Aggregation levels: how K separately trained policies (experts) with one architecture become one policy.

Three levels, as compared by EMORL (Kong et al. 2025, arXiv 2505.02579), each a registered `Aggregator`:

* **parameter** (one forward pass per token; the experts are merged once per weight vector)
  - `soup`: rewarded soups (Ramé et al. 2023), `θ = Σ_k w̄_k θ_k` with `w̄ = w / Σ w` (a convex combination);
  - `task_vectors`: task arithmetic from the shared start θ0, `θ = θ0 + Σ_k c_k (θ_k − θ0)`; the coefficients
    are free (EMORL searches them in [0, 1]^K), so `c = 0` is the start and `Σ c = 1` is a soup.
* **token** (K forward passes per token): at each decoding step
  - `logprob`: the weighted sum of per-expert log-probabilities, `log p ∝ Σ_k w_k log p_k` (MOD, Shi et al.
    2024: the closed-form policy of the w-scalarised reverse-KL objective);
  - `prob`: the mixture `p = Σ_k w̄_k p_k` (EMORL's logits level).
* **hidden** (K forward passes per token): `h = Σ_k w_k h_k` of the final (post-norm) hidden states, read by
  the LM head `Σ_k w_k W_k`: logits `= Σ_j w_j W_j h`. When the experts share their head (EMORL's LoRA experts
  never train it) this is exactly EMORL's "states" level, `lm_head(Σ_k w_k h_k)`; here every expert fine-tuned
  its (tied) head, so the heads are mixed with the same weights, which makes a vertex weight vector give that
  expert exactly. As in EMORL the weights are not normalised: `Σ w > 1` sharpens the distribution.

Weights at the output levels may differ per row ([B, K]); the parameter level merges one model per call ([K]).
Every `combine` returns the next-token log-probabilities (up to a per-row constant) at the sampling temperature,
so the sampler draws from `softmax(combine(...))` with no further scaling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

LEVELS = ("parameter", "token", "hidden")


class Aggregator(NamedTuple):
    """One way of combining experts.

    `merge(stacked, start, weights [K]) -> params` (parameter level) builds one model's parameters from the
    stacked experts ([K, ...] leaves) and the shared start. `combine(hidden [K', B, T, D], heads [K', V, D],
    weights [B, K], temperature) -> [B, T, V]` (every level; K' = 1 after a merge) turns the final hidden states
    of the models that ran into tempered next-token log-probabilities (up to a per-row constant).
    `normalise`: the weights are divided by their sum first (a convex combination); `nonnegative`: negative
    weights are refused (a mixture of distributions needs them >= 0).
    """

    name: str
    level: str
    normalise: bool
    nonnegative: bool
    merge: Callable[[Any, Any, jax.Array], Any] | None
    combine: Callable[[jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]

    @property
    def forwards_per_token(self) -> str:
        """Model forward passes per generated token, in units of one expert: '1' or 'K'."""
        return "1" if self.level == "parameter" else "K"


def head_logits(hidden: jax.Array, heads: jax.Array) -> jax.Array:
    """Every model's logits [K, B, T, V] (float32) from its hidden states [K, B, T, D] and head [K, V, D]."""
    return jnp.einsum("kbtd,kvd->kbtv", hidden, heads.astype(hidden.dtype), preferred_element_type=jnp.float32)


def _single(hidden: jax.Array, heads: jax.Array, weights: jax.Array, temperature: jax.Array) -> jax.Array:
    """The one merged model's tempered logits (the weights were used by `merge`)."""
    if hidden.shape[0] != 1:
        raise ValueError(f"a parameter-level aggregator combines one merged model, got {hidden.shape[0]}")
    return head_logits(hidden, heads)[0] / temperature


def _soup_merge(stacked: Any, start: Any, weights: jax.Array) -> Any:
    return jax.tree.map(lambda x: jnp.tensordot(weights.astype(x.dtype), x, axes=1), stacked)


def _task_vector_merge(stacked: Any, start: Any, weights: jax.Array) -> Any:
    return jax.tree.map(lambda x, x0: x0 + jnp.tensordot(weights.astype(x.dtype), x - x0[None], axes=1),
                        stacked, start)


def _logprob_combine(hidden: jax.Array, heads: jax.Array, weights: jax.Array, temperature: jax.Array) -> jax.Array:
    logp = jax.nn.log_softmax(head_logits(hidden, heads) / temperature, axis=-1)
    return jnp.einsum("bk,kbtv->btv", weights, logp)


def _prob_combine(hidden: jax.Array, heads: jax.Array, weights: jax.Array, temperature: jax.Array) -> jax.Array:
    logp = jax.nn.log_softmax(head_logits(hidden, heads) / temperature, axis=-1)
    # log Σ_k w_k p_k, with log 0 = -inf for absent experts so a vertex gives that expert's log-probs exactly.
    log_w = jnp.where(weights > 0, jnp.log(jnp.where(weights > 0, weights, 1.0)), -jnp.inf)
    return jax.nn.logsumexp(logp + log_w.T[:, :, None, None], axis=0)


def _hidden_combine(hidden: jax.Array, heads: jax.Array, weights: jax.Array, temperature: jax.Array) -> jax.Array:
    mixed = jnp.einsum("bk,kbtd->btd", weights.astype(hidden.dtype), hidden)
    logits = head_logits(jnp.broadcast_to(mixed, hidden.shape), heads)  # every head reads the mixed state
    return jnp.einsum("bk,kbtv->btv", weights, logits) / temperature


AGGREGATORS: dict[str, Aggregator] = {}


def register_aggregator(aggregator: Aggregator) -> Aggregator:
    """Add an aggregator to the registry under its name (an error if the name is taken or the level unknown)."""
    if aggregator.name in AGGREGATORS:
        raise ValueError(f"aggregator {aggregator.name!r} is already registered")
    if aggregator.level not in LEVELS:
        raise ValueError(f"aggregator {aggregator.name!r}: unknown level {aggregator.level!r}; known: {LEVELS}")
    if (aggregator.merge is None) != (aggregator.level != "parameter"):
        raise ValueError(f"aggregator {aggregator.name!r}: a merge function belongs to the parameter level only")
    AGGREGATORS[aggregator.name] = aggregator
    return aggregator


def get_aggregator(name: str | Aggregator) -> Aggregator:
    """The registered aggregator `name` (an Aggregator is returned as is); an unknown name lists the known ones."""
    if isinstance(name, Aggregator):
        return name
    if name not in AGGREGATORS:
        raise KeyError(f"unknown aggregator {name!r}; known: {', '.join(AGGREGATORS)}")
    return AGGREGATORS[name]


def check_weights(aggregator: Aggregator, weights: Any, num_experts: int, batch: int) -> np.ndarray:
    """Validated weights as float32 [B, K] (normalised when the aggregator asks for it); errors name the problem.

    `weights` is [K] (every row) or [B, K] (per row; the parameter level needs every row equal).
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 1:
        w = np.broadcast_to(w, (batch, w.shape[0]))
    if w.ndim != 2 or w.shape != (batch, num_experts):
        raise ValueError(f"aggregator {aggregator.name!r}: weights must be [K={num_experts}] or [B={batch}, "
                         f"K={num_experts}], got shape {np.shape(weights)}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"aggregator {aggregator.name!r}: weights must be finite, got {weights!r}")
    if aggregator.nonnegative and np.any(w < 0):
        raise ValueError(f"aggregator {aggregator.name!r} mixes with non-negative weights only, got {weights!r}")
    if aggregator.level == "parameter" and not np.all(w == w[:1]):
        raise ValueError(f"aggregator {aggregator.name!r} merges one model per call, so its weights cannot differ "
                         "per row (use a token- or hidden-level aggregator for per-row weights)")
    if aggregator.normalise:
        sums = w.sum(axis=1, keepdims=True)
        if np.any(sums <= 0):
            raise ValueError(f"aggregator {aggregator.name!r} normalises its weights, which need a positive sum; "
                             f"got {weights!r}")
        w = w / sums
    return np.ascontiguousarray(w, dtype=np.float32)


register_aggregator(Aggregator("soup", "parameter", True, True, _soup_merge, _single))
register_aggregator(Aggregator("task_vectors", "parameter", False, False, _task_vector_merge, _single))
register_aggregator(Aggregator("logprob", "token", False, False, None, _logprob_combine))
register_aggregator(Aggregator("prob", "token", True, True, None, _prob_combine))
register_aggregator(Aggregator("hidden", "hidden", False, False, None, _hidden_combine))
