"""Supervised warm start: the policy RL begins from, trained on the task's generated solutions.

Examples use the RL layout (left-padded prompt [P] ++ right-padded completion [C] ending in EOS), so the loss
is the negative mean log-probability of the completion tokens computed by the same `token_logprobs` the RL
loss uses. The trained parameters are cached under a fingerprint of everything that determines them, so a
second run (or another run sharing `sft.cache_dir`) skips the training.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from etils import epath
from flax import nnx

from morl_jax import parallel
from morl_jax.checkpointing import abstract_like
from morl_jax.paths import resolve
from morl_jax.models import Tokenizer, bucket_length, encode_prompts, token_logprobs
from morl_jax.optimizers import OptimizerSettings, build_optimizer

FINGERPRINT_FILE = "fingerprint.json"


def encode_examples(tokenizer: Tokenizer, examples: Sequence[tuple[str, str]], prompt_len: int,
                    max_completion_len: int, *, chat: bool = False) -> dict[str, np.ndarray]:
    """tokens [M, P+C], attention_mask [M, P+C], completion_mask [M, C] for (prompt, completion) pairs; prompts
    go through the chat template with `chat`, as the rollout collector encodes them.

    C is the longest completion (with EOS) rounded up to a multiple of 16: no compute on padding the data
    never reaches. A completion longer than the generation limit is an error (RL could never produce it).
    """
    prompts, completions = zip(*examples)
    prompt_tokens, prompt_mask = encode_prompts(tokenizer, prompts, length=prompt_len, chat=chat)
    encoded = [tokenizer.encode(text, add_special_tokens=False) + [tokenizer.eos_id] for text in completions]
    for row, ids in enumerate(encoded):
        if len(ids) > max_completion_len:
            raise ValueError(f"SFT example {row} has {len(ids)} completion tokens (with EOS), more than the "
                             f"generation limit {max_completion_len}: {completions[row]!r}")
    width = min(max_completion_len, bucket_length(max(map(len, encoded)), 16))
    comp = np.full((len(examples), width), tokenizer.pad_id, np.int32)
    comp_mask = np.zeros((len(examples), width), bool)
    for row, ids in enumerate(encoded):
        comp[row, :len(ids)] = ids
        comp_mask[row, :len(ids)] = True
    return {"tokens": np.concatenate([prompt_tokens, comp], axis=1),
            "attention_mask": np.concatenate([prompt_mask, comp_mask], axis=1),
            "completion_mask": comp_mask}


def optimizer_settings(*, steps: int, learning_rate: float, warmup_steps: int, weight_decay: float
                       ) -> OptimizerSettings:
    """Adam(W) after global-norm clipping at 1, warm-up then cosine decay to a tenth of the peak."""
    return OptimizerSettings(learning_rate=learning_rate, schedule="cosine", warmup_steps=warmup_steps,
                             total_steps=steps, end_factor=0.1, weight_decay=weight_decay, grad_clip=1.0)


def _loss(graphdef: nnx.GraphDef, params: Any, batch: dict[str, jax.Array], prompt_len: int) -> jax.Array:
    """Mean negative log-probability of the completion tokens."""
    model = nnx.merge(graphdef, params)
    logp = token_logprobs(model, batch["tokens"], batch["attention_mask"], start=prompt_len - 1)
    mask = batch["completion_mask"].astype(logp.dtype)
    return -jnp.sum(logp * mask) / jnp.maximum(jnp.sum(mask), 1.0)


@functools.partial(jax.jit, static_argnames=("graphdef", "prompt_len", "settings"), donate_argnums=(0, 1))
def sft_step(params: Any, opt_state: Any, batch: dict[str, jax.Array], *, graphdef: nnx.GraphDef, prompt_len: int,
             settings: OptimizerSettings) -> tuple[Any, Any, jax.Array]:
    """One optimizer step on the completion NLL -> (params, opt_state, loss)."""
    loss, grads = jax.value_and_grad(_loss, argnums=1)(graphdef, params, batch, prompt_len)
    updates, opt_state = build_optimizer(settings).update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss


def length_buckets(data: dict[str, np.ndarray], prompt_len: int, width: int = 16) -> list[dict[str, np.ndarray]]:
    """The examples grouped by completion length (multiples of `width`), each group cut to its own width.

    A batch then pays only for its group's longest completion instead of the data set's; every example keeps
    its chance of being drawn (a group is drawn with probability proportional to its size).
    """
    lengths = data["completion_mask"].sum(axis=1)
    widths = np.minimum(data["completion_mask"].shape[1], -(-np.maximum(lengths, 1) // width) * width)
    out = []
    for w in np.unique(widths):
        rows = np.flatnonzero(widths == w)
        out.append({"tokens": data["tokens"][rows, :prompt_len + w],
                    "attention_mask": data["attention_mask"][rows, :prompt_len + w],
                    "completion_mask": data["completion_mask"][rows, :w]})
    return out


def train(graphdef: nnx.GraphDef, params: Any, data: dict[str, np.ndarray], *, steps: int, batch_size: int,
          learning_rate: float, warmup_steps: int, weight_decay: float, seed: int, prompt_len: int,
          log: Callable[[str], None] = print, mesh: jax.sharding.Mesh | None = None,
          rules: parallel.sharding.Rules = parallel.DEFAULT_RULES, adapters_only: bool = False
          ) -> tuple[Any, list[float]]:
    """`steps` AdamW steps (warm-up + cosine decay) on random length-grouped batches of `data`; returns params
    and losses. With `mesh`, each batch is split over its data-parallel devices (every process draws the same
    batch and places its own rows); `adapters_only` trains only LoRA adapters."""
    settings = dataclasses.replace(optimizer_settings(steps=steps, learning_rate=learning_rate,
                                                      warmup_steps=warmup_steps, weight_decay=weight_decay),
                                   adapters_only=adapters_only)
    params = jax.tree.map(jnp.copy, params)  # the step donates its inputs; the caller keeps its own
    tx = build_optimizer(settings)
    opt_state = jax.jit(tx.init)(params) if mesh is None else parallel.init_optimizer_state(tx, params, mesh)
    rng = np.random.default_rng(seed)
    buckets = length_buckets(data, prompt_len)
    sizes = np.array([len(b["tokens"]) for b in buckets], float)
    losses, start = [], time.time()
    for i in range(steps):
        bucket = buckets[rng.choice(len(buckets), p=sizes / sizes.sum())]
        num = len(bucket["tokens"])
        idx = rng.choice(num, size=batch_size, replace=num < batch_size)
        batch = {k: v[idx] for k, v in bucket.items()}
        params, opt_state, loss = sft_step(params, opt_state, batch if mesh is None else
                                           parallel.put_batch(batch, mesh, rules),
                                           graphdef=graphdef, prompt_len=prompt_len, settings=settings)
        losses.append(loss)
        if (i + 1) % max(1, steps // 10) == 0 or i + 1 == steps:
            recent = float(np.mean(jax.device_get(losses[-max(1, steps // 10):])))
            log(f"sft step {i + 1}/{steps}: loss {recent:.4f} ({time.time() - start:.0f} s)")
    losses = [float(x) for x in jax.device_get(losses)]
    if not np.all(np.isfinite(losses)):
        raise FloatingPointError(f"SFT diverged: non-finite loss at step {int(np.argmin(np.isfinite(losses))) + 1}")
    return params, losses


def fingerprint(parts: dict[str, Any]) -> str:
    """A stable hash of the settings that determine the warm-start parameters."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_cached(directory: epath.PathLike, key: str, target: Any) -> Any | None:
    """The cached parameters for fingerprint `key`, restored into `target`'s structure, or None. Every process
    of a multi-host run calls it (the restore is collective)."""
    directory = resolve(directory)
    meta = directory / FINGERPRINT_FILE
    if not meta.exists() or json.loads(meta.read_text()).get("fingerprint") != key:
        return None
    return ocp.StandardCheckpointer().restore(directory / "params", abstract_like(target))


def save_cached(directory: epath.PathLike, key: str, params: Any, info: dict[str, Any]) -> None:
    """Write params (collectively: every process calls it) and their fingerprint (process 0, after every process
    has written its shards); the fingerprint file goes last, so a partial write is never used."""
    directory = resolve(directory)
    meta = directory / FINGERPRINT_FILE
    if parallel.is_primary():
        directory.mkdir(parents=True, exist_ok=True)
        if meta.exists():
            meta.unlink()
    parallel.barrier("sft_cache_cleared")
    ckpt = ocp.StandardCheckpointer()
    ckpt.save(directory / "params", params, force=True)
    ckpt.wait_until_finished()
    parallel.barrier("sft_cache_params_written")
    if parallel.is_primary():
        meta.write_text(json.dumps({"fingerprint": key, **info}, indent=1))
    parallel.barrier("sft_cache_done")
