"""One rollout collector for training and validation: prompt columns -> G completions each, as text and arrays.

The G samples of prompt i are rows i*G .. i*G+G-1 (a repeat, never a tile), and every column travels with
its prompt, so reward functions see each completion next to its own prompt and answer. The collector adds one
column, `completion_tokens`: each completion's length in policy tokens (EOS not counted), the unit of the
generation limit, of the conciseness reward and of the validation length objective.

Prompts are encoded as `models.encode_prompt` does: with `chat`, through the tokenizer's chat template, after
the task's `system` column when it has one.

Multi-host: every process gets the same global prompt columns (the prompt iterator is deterministic), places only
its own rows on its devices and samples them there; the completions' token ids are then gathered to every host
(small: N x C integers) and decoded. Scoring is per share: `Rollouts.scored` are the rows this process scores
(`parallel.rows_to_score`), `Rollouts.score` runs the reward functions on them and assembles the global [N, K]
rewards on every process, and `Rollouts.evaluate` combines each process's `task.evaluate` means weighted by its
share. With one process the share is every row, and both are the plain calls. A batch whose rows do not split
over the data-parallel devices (validation prompts) is padded with copies of its last prompt, never scored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
from flax import nnx

from morl_jax import models, parallel
from morl_jax.rewards import RewardSet
from morl_jax.rl.step import RolloutBatch
from morl_jax.tasks import Task

# Completions are cut to the longest in the batch, rounded up to this: fewer wasted tokens in the update, at
# most max_new_tokens / TRIM_BUCKET compiled shapes.
TRIM_BUCKET = 16


@dataclasses.dataclass(frozen=True)
class SamplingSettings:
    max_new_tokens: int
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0


@dataclasses.dataclass
class Rollouts:
    """N = B*G completions. Host (the whole batch, on every process): prompts [N], columns {name: [N]},
    completions [N] (text), prompt_tokens / prompt_mask [N, P], tokens / completion_mask [N, C], scored (the rows
    this process scores). Device: behaviour log-probs [N', C], last_hidden [N', D] (N' >= N: padding rows last)."""

    prompts: list[str]
    columns: dict[str, np.ndarray]
    completions: list[str]
    prompt_tokens: np.ndarray
    prompt_mask: np.ndarray
    tokens: np.ndarray
    completion_mask: np.ndarray
    logprobs: jax.Array
    last_hidden: jax.Array
    scored: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        return self.completion_mask.sum(axis=1)

    def share(self) -> tuple[list[str], list[str], dict[str, np.ndarray]]:
        """(prompts, completions, columns) of the rows this process scores."""
        rows = self.scored
        return ([self.prompts[i] for i in rows], [self.completions[i] for i in rows],
                {k: v[rows] for k, v in self.columns.items()})

    def score(self, rewards: RewardSet) -> np.ndarray:
        """Raw rewards [N, K], the same on every process: stateless reward functions score this process's share
        and the shares are assembled; stateful ones (with `state_dict`, e.g. conciseness's running mean of every
        training length) score the whole batch on every process, so their state stays the same everywhere."""
        n = len(self.prompts)
        if len(self.scored) == n:  # this process scores every row (one process): the set itself, as it is
            return rewards(self.prompts, self.completions, **self.columns)
        stateful = [j for j, name in enumerate(rewards.names) if hasattr(rewards[name], "state_dict")]
        stateless = [j for j in range(len(rewards)) if j not in stateful]
        out = np.empty((n, len(rewards)), np.float32)
        if stateless:
            out[:, stateless] = parallel.assemble_rows(self._score(rewards, stateless, self.scored), self.scored, n)
        if stateful:
            out[:, stateful] = self._score(rewards, stateful, np.arange(n))
        return out

    def _score(self, rewards: RewardSet, columns: list[int], rows: np.ndarray) -> np.ndarray:
        """Rewards [len(rows), len(columns)] of some of the set's functions on some rows (the set's own checks and
        error messages; the functions keep the set's training mode)."""
        names = [rewards.names[j] for j in columns]
        part = RewardSet({name: rewards[name] for name in names},
                         {name: bool(rewards.signs[j] > 0) for name, j in zip(names, columns)}).train(rewards.training)
        return part([self.prompts[i] for i in rows], [self.completions[i] for i in rows],
                    **{k: v[rows] for k, v in self.columns.items()})

    def evaluate(self, task: Task) -> dict[str, float]:
        """`task.evaluate` of the batch: each process's means over its share, combined weighted by share size
        (exact for per-sample means, which every built-in objective and diagnostic is)."""
        prompts, completions, columns = self.share()
        local = task.evaluate(prompts, completions, columns) if prompts else {}
        return parallel.combine_means([(n, r) for n, r in parallel.allgather_objects((len(prompts), local))])

    def batch(self, rewards: np.ndarray, mesh: jax.sharding.Mesh, rules: parallel.sharding.Rules = parallel.DEFAULT_RULES
              ) -> RolloutBatch:
        """The update's input on the mesh, completions trimmed to the longest one (bucketed)."""
        limit = self.completion_mask.shape[1]
        width = min(limit, models.bucket_length(int(self.lengths.max()), TRIM_BUCKET))
        return parallel.put_batch(RolloutBatch(
            tokens=np.concatenate([self.prompt_tokens, self.tokens[:, :width]], axis=1),
            attention_mask=np.concatenate([self.prompt_mask, self.completion_mask[:, :width]], axis=1),
            completion_mask=self.completion_mask[:, :width], old_logprobs=self.logprobs[:, :width],
            rewards=np.asarray(rewards, np.float32)), mesh, rules)


def prompt_texts(columns: Mapping[str, Any]) -> tuple[list[str], list[str] | None]:
    """The prompts of `columns` and their system texts (None without a `system` column)."""
    systems = [str(s) for s in np.asarray(columns["system"])] if "system" in columns else None
    return [str(p) for p in np.asarray(columns["prompt"])], systems


def prompt_ids(tokenizer: models.Tokenizer, columns: Mapping[str, Any], *, chat: bool) -> list[list[int]]:
    """The token ids of every prompt of `columns`, encoded as the collector encodes them."""
    prompts, systems = prompt_texts(columns)
    return [models.encode_prompt(tokenizer, p, chat=chat, system=None if systems is None else systems[i])
            for i, p in enumerate(prompts)]


class RolloutCollector:
    """Samples completions of prompt columns with the policy `graphdef` + params on `mesh` (batch rows split by
    the `batch` rule of `rules`)."""

    def __init__(self, tokenizer: models.Tokenizer, graphdef: nnx.GraphDef, prompt_len: int,
                 settings: SamplingSettings, mesh: jax.sharding.Mesh, *, chat: bool = False,
                 rules: parallel.sharding.Rules = parallel.DEFAULT_RULES):
        self.tokenizer, self.graphdef, self.prompt_len = tokenizer, graphdef, prompt_len
        self.settings, self.mesh, self.chat, self.rules = settings, mesh, chat, rules

    def __call__(self, params: Any, columns: Mapping[str, Any], key: jax.Array, *, group_size: int = 1,
                 greedy: bool = False) -> Rollouts:
        """`group_size` completions of every prompt in `columns` (which must hold a `prompt` column)."""
        if "completion_tokens" in columns:
            raise ValueError("the data has a column 'completion_tokens', which the rollout collector writes")
        prompts, systems = prompt_texts(columns)
        tokens, mask = models.encode_prompts(self.tokenizer, prompts, length=self.prompt_len, chat=self.chat,
                                             systems=systems)
        tokens, mask = np.repeat(tokens, group_size, 0), np.repeat(mask, group_size, 0)
        n = len(tokens)
        padded = -(-n // parallel.batch_shards(self.mesh, self.rules)) * parallel.batch_shards(self.mesh, self.rules)
        placed = parallel.put_batch(tuple(np.concatenate([x, np.repeat(x[-1:], padded - n, 0)]) for x in (tokens, mask)),
                                    self.mesh, self.rules)
        s = self.settings
        rollout = models.generate(self.graphdef, params, *placed, key,
                                  max_new_tokens=s.max_new_tokens, eos_id=self.tokenizer.eos_id,
                                  pad_id=self.tokenizer.pad_id, temperature=s.temperature, top_k=s.top_k,
                                  top_p=s.top_p, greedy=greedy)
        completion_tokens, completion_mask = (x[:n] for x in parallel.gather((rollout.tokens, rollout.completion_mask)))
        counts = (completion_mask & (completion_tokens != self.tokenizer.eos_id)).sum(axis=1)
        scored = parallel.rows_to_score(placed[0].sharding, padded)
        return Rollouts(
            prompts=[p for p in prompts for _ in range(group_size)],
            columns={**{name: np.repeat(np.asarray(v), group_size, 0) for name, v in columns.items()},
                     "completion_tokens": counts.astype(np.int64)},
            completions=models.decode_completions(self.tokenizer, completion_tokens, completion_mask),
            prompt_tokens=tokens, prompt_mask=mask, tokens=completion_tokens, completion_mask=completion_mask,
            logprobs=rollout.logprobs, last_hidden=rollout.last_hidden, scored=scored[scored < n])
