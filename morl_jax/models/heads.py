"""Multi-objective reward model: a decoder backbone plus K scalar heads read at each sequence's last real token.

`RewardModel(transformer, objectives)` scores token sequences to rewards [B, K]; `score` is the jit'd, batched
pure-function form over the split state. It is trained on preference pairs with a Bradley-Terry loss per
objective (`-log sigmoid(r_chosen_k - r_rejected_k)`, averaged over the pairs that carry a preference on k),
and `reward_fns` turns a trained model into one `fn(prompts, completions, **columns) -> [N]` per objective.

Pairs are stored as (a, b) with a signed preference [P, K] (+1: a preferred, -1: b preferred, 0: no preference
on that objective), so one pair can prefer a on one objective and b on another.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx, struct
from safetensors.numpy import load_file, save_file

from morl_jax.models.hf_checkpoint import from_pretrained, save_pretrained
from morl_jax.models.tokenizers import Tokenizer, encode_prompt, pad_ids
from morl_jax.optimizers import OptimizerSettings, build_optimizer
from morl_jax.models.transformer import Transformer, positions_from_mask

OBJECTIVES_AXIS = "objectives"


class RewardHead(nnx.Param):
    """The reward heads' parameters: an `nnx.Param` subtype, so training can select the heads alone."""


def last_token_index(attention_mask: jax.Array) -> jax.Array:
    """Index [B] of each row's last True entry (right-, left- or un-padded rows alike)."""
    t = attention_mask.shape[-1]
    return t - 1 - jnp.argmax(attention_mask[..., ::-1].astype(jnp.bool_), axis=-1).astype(jnp.int32)


class RewardModel(nnx.Module):
    """A `Transformer` backbone and K linear reward heads [D, K] (logical axes `embed`, `objectives`)."""

    def __init__(self, transformer: Transformer, objectives: Sequence[str], *, rngs: nnx.Rngs):
        objectives = tuple(objectives)
        if not objectives:
            raise ValueError("RewardModel needs at least one objective")
        if not all(isinstance(name, str) and name for name in objectives) or len(set(objectives)) != len(objectives):
            raise ValueError(f"RewardModel objectives must be distinct non-empty strings, got {objectives}")
        d = transformer.config.hidden_size
        self.transformer = transformer
        self.objectives = objectives
        init = jax.random.normal(rngs.params(), (d, len(objectives)), jnp.float32) / math.sqrt(d)
        self.heads = RewardHead(init.astype(transformer.config.param_dtype), logical_axes=("embed", OBJECTIVES_AXIS))

    def __call__(self, tokens: jax.Array, attention_mask: jax.Array) -> jax.Array:
        """Rewards [B, K] (float32) of padded sequences tokens [B, T] with mask [B, T] (each row >= 1 real token)."""
        attention_mask = attention_mask.astype(jnp.bool_)
        hidden, _ = self.transformer.backbone(tokens, positions_from_mask(attention_mask), attention_mask)
        last = last_token_index(attention_mask)
        final = jnp.take_along_axis(hidden, last[:, None, None], axis=1)[:, 0]
        return final.astype(jnp.float32) @ self.heads[...].astype(jnp.float32)


def _score(graphdef: nnx.GraphDef, state: nnx.State, tokens: jax.Array, mask: jax.Array, *,
           batch_size: int) -> jax.Array:
    model: RewardModel = nnx.merge(graphdef, state)
    n, t = tokens.shape
    chunks = -(-n // batch_size)
    pad = chunks * batch_size - n
    tokens = jnp.pad(tokens, ((0, pad), (0, 0))).reshape(chunks, batch_size, t)
    mask = jnp.pad(mask.astype(jnp.bool_), ((0, pad), (0, 0))).reshape(chunks, batch_size, t)
    rewards = jax.lax.map(lambda xs: model(*xs), (tokens, mask))
    return rewards.reshape(chunks * batch_size, -1)[:n]


_score_jit = jax.jit(_score, static_argnames=("graphdef", "batch_size"))


def score(graphdef: nnx.GraphDef, state: nnx.State, tokens: jax.Array, attention_mask: jax.Array, *,
          batch_size: int = 64) -> jax.Array:
    """Rewards [N, K] of N padded sequences, computed `batch_size` rows at a time (jit'd; graphdef static)."""
    if batch_size <= 0:
        raise ValueError(f"score: batch_size must be > 0, got {batch_size}")
    return _score_jit(graphdef, state, jnp.asarray(tokens), jnp.asarray(attention_mask),
                      batch_size=min(int(batch_size), tokens.shape[0]))


def encode_sequences(tokenizer: Tokenizer, prompts: Sequence[str], completions: Sequence[str], *,
                     length: int | None = None, bucket: int = 8, chat: bool = False, add_eos: bool = True,
                     padding: str = "left") -> tuple[np.ndarray, np.ndarray]:
    """Prompt + completion token ids [N, T] int32 and mask [N, T] bool, `padding` "left" or "right".

    The prompt is encoded as the rollout collector encodes it (`encode_prompt`), the completion without special tokens,
    as the policy produced them; `add_eos` appends EOS so every sequence is read at the same kind of token.
    T = `length` or the bucketed longest sequence.
    """
    if padding not in ("left", "right"):
        raise ValueError(f"encode_sequences: padding must be 'left' or 'right', got {padding!r}")
    if len(prompts) != len(completions):
        raise ValueError(f"encode_sequences: {len(prompts)} prompts but {len(completions)} completions")
    if not completions:
        raise ValueError("encode_sequences: no sequences")
    encoded = []
    for prompt, completion in zip(prompts, completions):
        ids = encode_prompt(tokenizer, prompt, chat=chat)
        ids = ids + tokenizer.encode(completion, add_special_tokens=False) + ([tokenizer.eos_id] if add_eos else [])
        if not ids:
            raise ValueError(f"encode_sequences: prompt {prompt!r} with completion {completion!r} has no tokens")
        encoded.append(ids)
    return pad_ids(encoded, tokenizer.pad_id, length=length, bucket=bucket, padding=padding,
                   what="encode_sequences: a sequence")


@struct.dataclass
class PreferencePairs:
    """P pairs of sequences a, b (tokens and masks [P, T], one shared T) and preference [P, K] in {+1, -1, 0}."""

    tokens_a: Any
    mask_a: Any
    tokens_b: Any
    mask_b: Any
    preference: Any

    def __len__(self) -> int:
        return self.preference.shape[0]

    def take(self, index: np.ndarray) -> PreferencePairs:
        """The pairs at `index` (host-side gather, for batching)."""
        return jax.tree.map(lambda x: x[index], self)


def encode_pairs(tokenizer: Tokenizer, prompts: Sequence[str], completions_a: Sequence[str],
                 completions_b: Sequence[str], preference: Any, **encode_options: Any) -> PreferencePairs:
    """`PreferencePairs` of (prompt + completion_a, prompt + completion_b), both padded to one length."""
    preference = np.asarray(preference, np.float32)
    if preference.ndim != 2 or preference.shape[0] != len(prompts):
        raise ValueError(f"encode_pairs: preference must be [P={len(prompts)}, K], got shape {preference.shape}")
    if not np.all(np.isin(preference, (-1.0, 0.0, 1.0))):
        raise ValueError("encode_pairs: preference entries must be +1 (a preferred), -1 (b preferred) or 0 (none)")
    n = len(prompts)
    tokens, mask = encode_sequences(tokenizer, list(prompts) * 2, list(completions_a) + list(completions_b),
                                    **encode_options)
    return PreferencePairs(tokens[:n], mask[:n], tokens[n:], mask[n:], preference)


def bradley_terry_loss(r_chosen: jax.Array, r_rejected: jax.Array,
                       pair_mask: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """Bradley-Terry loss from rewards [P, K] of chosen and rejected sequences.

    Per objective k: the mean of -log sigmoid(r_chosen_k - r_rejected_k) over the pairs whose `pair_mask[:, k]`
    is True (0 when none are). Returns (mean over the objectives that have pairs, per-objective losses [K]).
    """
    nll = -jax.nn.log_sigmoid(r_chosen.astype(jnp.float32) - r_rejected.astype(jnp.float32))
    mask = jnp.ones(nll.shape, jnp.bool_) if pair_mask is None else pair_mask.astype(jnp.bool_)
    count = mask.sum(axis=0).astype(jnp.float32)
    per_objective = jnp.where(mask, nll, 0.0).sum(axis=0) / jnp.maximum(count, 1.0)
    present = (count > 0).astype(jnp.float32)
    return (per_objective * present).sum() / jnp.maximum(present.sum(), 1.0), per_objective


def preference_loss(model: RewardModel, pairs: PreferencePairs) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Bradley-Terry loss of `model` on `pairs` (a and b scored in one forward pass), with per-objective metrics
    `loss` [K], `accuracy` [K] (share of preferring pairs ranked correctly, ties count as wrong) and `pairs` [K]."""
    p = pairs.preference.shape[0]
    rewards = model(jnp.concatenate([pairs.tokens_a, pairs.tokens_b]), jnp.concatenate([pairs.mask_a, pairs.mask_b]))
    r_a, r_b = rewards[:p], rewards[p:]
    prefers_a = pairs.preference > 0
    chosen, rejected = jnp.where(prefers_a, r_a, r_b), jnp.where(prefers_a, r_b, r_a)
    mask = pairs.preference != 0
    loss, per_objective = bradley_terry_loss(chosen, rejected, mask)
    count = mask.sum(axis=0)
    correct = ((chosen > rejected) & mask).sum(axis=0)
    return loss, {"loss": per_objective, "accuracy": correct / jnp.maximum(count, 1), "pairs": count}


def make_train_step(graphdef: nnx.GraphDef, tx: optax.GradientTransformation) -> Callable:
    """step(params, rest, opt_state, pairs) -> (params, opt_state, metrics): one jit'd optimizer step on the
    Bradley-Terry loss; `graphdef, params, rest = nnx.split(model, trainable_filter, ...)`."""

    def loss_fn(params, rest, pairs):
        return preference_loss(nnx.merge(graphdef, params, rest), pairs)

    @jax.jit
    def step(params, rest, opt_state, pairs):
        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, rest, pairs)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, dict(metrics, total_loss=loss)

    return step


def fit_reward_model(model: RewardModel, pairs: PreferencePairs, *, steps: int, batch_size: int,
                     tx: optax.GradientTransformation | None = None, learning_rate: float = 3e-3,
                     train_backbone: bool = True, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Train `model` in place for `steps` steps on random batches of `pairs`; returns per-step metrics.

    `tx` defaults to Adam(`learning_rate`) with global-norm clipping at 1; `train_backbone=False` trains the
    heads alone (the backbone stays as loaded).
    """
    if steps <= 0 or batch_size <= 0:
        raise ValueError(f"fit_reward_model: steps and batch_size must be > 0, got {steps}, {batch_size}")
    if pairs.preference.shape[1] != len(model.objectives):
        raise ValueError(f"fit_reward_model: pairs carry {pairs.preference.shape[1]} objectives, the model has "
                         f"{len(model.objectives)} {model.objectives}")
    tx = tx or build_optimizer(OptimizerSettings(learning_rate=learning_rate, grad_clip=1.0))
    graphdef, params, rest = nnx.split(model, nnx.Param if train_backbone else RewardHead, ...)
    opt_state = tx.init(params)
    step = make_train_step(graphdef, tx)
    rng = np.random.default_rng(seed)
    history = []
    for _ in range(steps):
        index = rng.choice(len(pairs), size=batch_size, replace=len(pairs) < batch_size)
        params, opt_state, metrics = step(params, rest, opt_state, pairs.take(index))
        history.append(metrics)
    history = jax.device_get(history)
    losses = np.array([m["total_loss"] for m in history])
    if not np.all(np.isfinite(losses)):
        raise FloatingPointError(f"fit_reward_model: non-finite loss at step {int(np.argmin(np.isfinite(losses)))}")
    nnx.update(model, params)
    return history


class RewardModelScorer:
    """Text-level scoring with a reward model: `scorer(prompts, completions)` -> rewards [N, K] (numpy).

    Sequences are encoded as in training (`chat`, `add_eos` must match the `encode_pairs` options used then). The
    parameters are a snapshot taken at construction, and the most recent call is cached, so the K per-objective
    reward functions of `reward_fns` run the model once per batch.
    """

    def __init__(self, model: RewardModel, tokenizer: Tokenizer, *, batch_size: int = 64, chat: bool = False,
                 add_eos: bool = True, bucket: int = 8):
        self.objectives = model.objectives
        self.graphdef, self.state = nnx.split(model)
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.encode_options = dict(chat=chat, add_eos=add_eos, bucket=bucket)
        self._cache: tuple[tuple[tuple[str, ...], tuple[str, ...]], np.ndarray] | None = None

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        key = (tuple(prompts), tuple(completions))
        if self._cache is None or self._cache[0] != key:
            tokens, mask = encode_sequences(self.tokenizer, key[0], key[1], **self.encode_options)
            rewards = score(self.graphdef, self.state, tokens, mask, batch_size=self.batch_size)
            self._cache = (key, np.asarray(rewards, np.float64))
        return self._cache[1]

    def reward_fn(self, objective: str) -> Callable[..., np.ndarray]:
        """`fn(prompts, completions, **columns) -> [N]`: this objective's reward (other columns are ignored)."""
        if objective not in self.objectives:
            raise KeyError(f"unknown objective {objective!r}; the reward model has {list(self.objectives)}")
        k = self.objectives.index(objective)

        def fn(prompts: Sequence[str], completions: Sequence[str], **columns: Any) -> np.ndarray:
            del columns
            return self(prompts, completions)[:, k].copy()

        fn.__name__ = fn.__qualname__ = f"reward_model_{objective}"
        return fn


def reward_fns(model: RewardModel, tokenizer: Tokenizer, **scorer_options: Any) -> dict[str, Callable[..., np.ndarray]]:
    """{objective: fn(prompts, completions, **columns) -> [N]} from a trained reward model (one shared scorer);
    ready for `morl_jax.rewards.RewardSet`."""
    scorer = RewardModelScorer(model, tokenizer, **scorer_options)
    return {name: scorer.reward_fn(name) for name in model.objectives}


HEADS_FILE = "reward_heads.safetensors"
OBJECTIVES_FILE = "reward_heads.json"


def save_reward_model(model: RewardModel, path: str) -> None:
    """Write the backbone as a Hugging Face directory (`save_pretrained`) plus the heads [D, K]
    (`reward_heads.safetensors`) and their objective names (`reward_heads.json`)."""
    save_pretrained(model.transformer, path)
    save_file({"heads": np.asarray(jax.device_get(model.heads[...]))}, os.path.join(path, HEADS_FILE))
    with open(os.path.join(path, OBJECTIVES_FILE), "w") as f:
        json.dump({"objectives": list(model.objectives)}, f, indent=1)


def load_reward_model(path: str) -> RewardModel:
    """The RewardModel `save_reward_model` wrote to `path`."""
    for name in (HEADS_FILE, OBJECTIVES_FILE):
        if not os.path.exists(os.path.join(path, name)):
            raise FileNotFoundError(f"{path!r} is not a saved reward model: no {name} (write one with "
                                    "morl_jax.models.save_reward_model)")
    with open(os.path.join(path, OBJECTIVES_FILE)) as f:
        objectives = json.load(f)["objectives"]
    heads = load_file(os.path.join(path, HEADS_FILE))["heads"]
    model = RewardModel(from_pretrained(path), objectives, rngs=nnx.Rngs(0))
    if heads.shape != model.heads[...].shape:
        raise ValueError(f"{path}: heads have shape {heads.shape}, the backbone and objectives need "
                         f"{model.heads[...].shape}")
    model.heads[...] = jnp.asarray(heads, model.heads[...].dtype)
    return model
