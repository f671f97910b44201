"""The peer workload as plain Python (standard library only), read by the TRL and Tunix harnesses.

A workload directory (written by `python -m morl_jax.benchmarks.step`) holds the model (`config.json`,
`model.safetensors`), the character tokenizer (`tokenizer.json`, `tokenizer_config.json`), the prompts
(`prompts.jsonl`: `{"prompt": "a+b=", "answer": "a+b"}` in step order) and `workload.json` (batch shape,
generation limit, reward weights, optimiser). The harnesses run in their own virtual environments, so this
module imports nothing of morl_jax; `tests/test_rewards_peer.py` checks its rewards equal morl_jax's.
"""

from __future__ import annotations

import json
import os
import re
import statistics
from typing import Any, Sequence

SPECIAL_STRINGS = ("<pad>", "<eos>", "<bos>", "<unk>")
_LEADING_INTEGER = re.compile(r"\s*(-?\d+)")


def read_workload(directory: str) -> dict[str, Any]:
    """workload.json of a workload directory, with its prompts under "rows"."""
    with open(os.path.join(directory, "workload.json")) as f:
        spec = json.load(f)
    with open(os.path.join(directory, "prompts.jsonl")) as f:
        spec["rows"] = [json.loads(line) for line in f]
    return spec


def strip_special(text: str) -> str:
    """The completion's characters without special-token strings (Tunix decodes them into the text)."""
    for token in SPECIAL_STRINGS:
        text = text.replace(token, "")
    return text


def accuracy(completion: str, answer: Any) -> float:
    """1.0 when the completion starts, after optional whitespace, with the integer `answer`."""
    found = _LEADING_INTEGER.match(strip_special(completion))
    return float(found is not None and found.group(1) == str(answer))


def brevity(completion: str, max_len: int) -> float:
    """-min(characters, max_len) / max_len: 0 for an empty completion, -1 at the generation limit."""
    return -min(len(strip_special(completion)), max_len) / max_len


def accuracy_rewards(completions: Sequence[str], answers: Sequence[Any]) -> list[float]:
    return [accuracy(str(c), a) for c, a in zip(completions, answers)]


def brevity_rewards(completions: Sequence[str], max_len: int) -> list[float]:
    return [brevity(str(c), max_len) for c in completions]


def step_stats(seconds: Sequence[float], warmup: int) -> dict[str, Any]:
    """Median / min / max of the step times after `warmup` steps, and every time."""
    kept = list(seconds[warmup:])
    out: dict[str, Any] = {"all_s": list(seconds), "warmup": warmup}
    if kept:
        out.update(median_s=statistics.median(kept), min_s=min(kept), max_s=max(kept))
    return out


def emit(tag: str, payload: dict[str, Any]) -> None:
    """One machine-readable line (`TAG {json}`) that the step benchmark parses."""
    print(tag, json.dumps(payload), flush=True)
