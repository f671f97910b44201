"""Learned reward heads as reward functions: train K heads on preference pairs, then use them as K rewards.

Train (preference pairs as JSON Lines, `{"prompt", "a", "b", "preference": {objective: +1 | -1 | 0}}`, +1 when
`a` is preferred on that objective):

    python -m morl_jax.rewards.learned --pairs=pairs.jsonl --objectives=helpful,concise --out=runs/rm \\
        --backbone=tiny --tokenizer=char --steps=200

Use, one reward spec per head (the K specs share one loaded model and score each batch once):

    rewards=({"name": "helpful", "fn": "reward_head", "kwargs": {"path": "runs/rm", "objective": "helpful"}},
             {"name": "concise", "fn": "reward_head", "kwargs": {"path": "runs/rm", "objective": "concise"}})

`tokenizer` ("char" or a directory) and `chat` must be those the heads were trained with.
"""

from __future__ import annotations

import argparse
import functools
import json
from typing import Any, Sequence

import numpy as np

from morl_jax.rewards.registry import register_reward_fn


@functools.lru_cache(maxsize=8)
def _scorer(path: str, tokenizer: str, chat: bool, batch_size: int) -> Any:
    """One RewardModelScorer per saved model and encoding, shared by every head read from it."""
    from morl_jax import models

    return models.RewardModelScorer(models.load_reward_model(path), models.load_tokenizer(tokenizer),
                                    batch_size=batch_size, chat=chat)


@register_reward_fn("reward_head")
class RewardHeadReward:
    """The reward of one head (`objective`) of the reward model saved at `path`."""

    def __init__(self, path: str, objective: str, tokenizer: str = "char", chat: bool = False, batch_size: int = 64):
        self.scorer = _scorer(path, tokenizer, bool(chat), int(batch_size))
        if objective not in self.scorer.objectives:
            raise ValueError(f"reward model {path!r} has no head {objective!r}; heads: {list(self.scorer.objectives)}")
        self.fn = self.scorer.reward_fn(objective)

    def __call__(self, prompts: Sequence[str], completions: Sequence[str], **columns: Any) -> np.ndarray:
        return self.fn(prompts, completions, **columns)


def read_pairs(path: str, objectives: Sequence[str]) -> tuple[list[str], list[str], list[str], np.ndarray]:
    """(prompts, completions a, completions b, preference [P, K]) from a pairs JSON Lines file."""
    from morl_jax.data import read_records

    prompts, a, b, preference = [], [], [], []
    for i, row in enumerate(read_records(path)):
        where = f"{path}, row {i}"
        missing = [k for k in ("prompt", "a", "b") if k not in row]
        if missing:
            raise ValueError(f"{where}: lacks {missing}")
        prefs = {k[len("preference."):]: v for k, v in row.items() if k.startswith("preference.")}
        unknown = sorted(set(prefs) - set(objectives))
        if unknown:
            raise ValueError(f"{where}: preference names {unknown}, not among the objectives {list(objectives)}")
        prompts.append(str(row["prompt"]))
        a.append(str(row["a"]))
        b.append(str(row["b"]))
        preference.append([prefs.get(o, 0) for o in objectives])
    return prompts, a, b, np.asarray(preference, np.float32)


def train_reward_model(pairs: str, objectives: Sequence[str], out: str, *, backbone: str = "tiny",
                       tokenizer: str = "char", chat: bool = False, steps: int = 200, batch_size: int = 16,
                       learning_rate: float = 3e-3, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Train heads (and backbone) on `pairs` with the per-objective Bradley-Terry loss, save to `out`; the
    per-step metrics. `backbone` is a preset name (initialised from `seed`) or a Hugging Face directory."""
    import os

    from flax import nnx

    from morl_jax import models

    tok = models.load_tokenizer(tokenizer)
    prompts, a, b, preference = read_pairs(pairs, objectives)
    encoded = models.encode_pairs(tok, prompts, a, b, preference, chat=chat)
    if os.path.isdir(backbone):
        transformer = models.from_pretrained(backbone)
    else:
        transformer = models.Transformer(models.get_config(backbone), rngs=nnx.Rngs(seed))
    model = models.RewardModel(transformer, objectives, rngs=nnx.Rngs(seed))
    history = models.fit_reward_model(model, encoded, steps=steps, batch_size=batch_size,
                                      learning_rate=learning_rate, seed=seed)
    models.save_reward_model(model, out)
    return history


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train reward heads on preference pairs and save them.")
    parser.add_argument("--pairs", required=True, help="JSON Lines of {prompt, a, b, preference: {objective: +1|-1|0}}")
    parser.add_argument("--objectives", required=True, help="comma-separated objective (head) names")
    parser.add_argument("--out", required=True, help="directory to write the reward model to")
    parser.add_argument("--backbone", default="tiny", help="a model preset name or a Hugging Face directory")
    parser.add_argument("--tokenizer", default="char", help='"char" or a tokenizer directory')
    parser.add_argument("--chat", action="store_true", help="encode prompts through the chat template")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--learning_rate", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    objectives = [o.strip() for o in args.objectives.split(",") if o.strip()]
    history = train_reward_model(args.pairs, objectives, args.out, backbone=args.backbone, tokenizer=args.tokenizer,
                                 chat=args.chat, steps=args.steps, batch_size=args.batch_size,
                                 learning_rate=args.learning_rate, seed=args.seed)
    last = history[-1]
    print(json.dumps({"out": args.out, "final_loss": float(last["total_loss"]),
                      "accuracy": dict(zip(objectives, np.asarray(last["accuracy"]).tolist()))}))


if __name__ == "__main__":
    main()
