"""ToolRL's tool-calling data (Qian et al. 2025, `rlla_4k`), as SAW and GDPO train on it.

Two published forms are read:

* raw records `{"instruction", "input", "output"}` (the repository's `rlla_rl.json`, a JSON list, or the same
  records as JSON Lines): the instruction (tool list and format rules) is the system turn, the input the user
  turn, the output (`<think>...</think>` + `<tool_call>` / `<response>`) the gold answer. Its train / test split
  is ToolRL's own: the list shuffled with `np.random.seed(31415)`, the last 2 % the test split.
* the processed verl parquet files (`train.parquet`, `test.parquet` of `rlla_4k`): `prompt` = [system, user]
  messages, `reward_model.ground_truth` = the gold answer.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from morl_jax.data.files import read_records

EXPECTED = "train.parquet and test.parquet (ToolRL's dataset/rlla_4k) or rlla_rl.json / a .jsonl file of " \
           "{instruction, input, output} records (dataset/rlla_4k_raw)"


def raw_example(record: dict[str, Any], where: str) -> dict[str, str]:
    """{system, prompt, answer} of one raw record."""
    missing = [k for k in ("instruction", "input", "output") if k not in record]
    if missing:
        raise ValueError(f"{where}: ToolRL record lacks {missing}; got {sorted(record)}")
    return {"system": str(record["instruction"]), "prompt": str(record["input"]), "answer": str(record["output"])}


def processed_example(record: dict[str, Any], where: str) -> dict[str, str]:
    """{system, prompt, answer} of one processed (verl parquet) record."""
    messages = record.get("prompt")
    if not isinstance(messages, list) or "reward_model.ground_truth" not in record:
        raise ValueError(f"{where}: expected 'prompt' messages and 'reward_model.ground_truth'; got {sorted(record)}")
    by_role = {m.get("role"): m.get("content", "") for m in messages}
    if "user" not in by_role:
        raise ValueError(f"{where}: the prompt has no user message: {messages!r:.200}")
    return {"system": str(by_role.get("system", "")), "prompt": str(by_role["user"]),
            "answer": str(record["reward_model.ground_truth"])}


def toolrl_split(examples: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    """ToolRL's split of the raw records: shuffled with the legacy numpy seed 31415, the last 2 % for test."""
    examples = list(examples)
    np.random.RandomState(31415).shuffle(examples)
    test = int(len(examples) * 0.02)
    return {"train": examples[:len(examples) - test], "test": examples[len(examples) - test:]}


def read_toolrl(data_dir: str) -> dict[str, list[dict[str, str]]]:
    """{"train": [...], "test": [...]} of {system, prompt, answer} from a directory of either form."""
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"ToolRL: data directory {data_dir!r} does not exist; expected {EXPECTED}")
    names = sorted(os.listdir(data_dir))
    if "train.parquet" in names and "test.parquet" in names:
        out = {}
        for split in ("train", "test"):
            path = os.path.join(data_dir, f"{split}.parquet")
            out[split] = [processed_example(r, f"{path}, row {i}") for i, r in enumerate(read_records(path))]
        return out
    raw = [n for n in names if n.endswith((".json", ".jsonl"))]
    if len(raw) != 1:
        raise FileNotFoundError(f"ToolRL: {data_dir!r} holds {names or 'nothing'}; expected {EXPECTED} "
                                f"(exactly one raw file)")
    path = os.path.join(data_dir, raw[0])
    return toolrl_split([raw_example(r, f"{path}, row {i}") for i, r in enumerate(read_records(path))])
