"""Records from local data files a user downloaded: JSON Lines (`.jsonl`), JSON (`.json`, a list of objects)
and Parquet (`.parquet`, read with pyarrow), and their conversion to dataset columns.

Nested objects are flattened with dotted keys (`{"reward_model": {"ground_truth": x}}` gives a column
`reward_model.ground_truth`), so a config can name any field of verl-style parquet files.
"""

from __future__ import annotations

import glob
import json
import os
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

FORMATS = (".jsonl", ".json", ".parquet")


def read_records(path: str) -> list[dict[str, Any]]:
    """The rows of one file as dicts (nested objects flattened), in file order."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"data file {path!r} does not exist")
    if path.endswith(".jsonl"):
        rows = []
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}, line {number}: not valid JSON ({e})") from e
    elif path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            try:
                rows = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: not valid JSON ({e})") from e
        if not isinstance(rows, list):
            raise ValueError(f"{path}: expected a JSON list of objects, got {type(rows).__name__}")
    elif path.endswith(".parquet"):
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    else:
        raise ValueError(f"data file {path!r}: unknown format; known: {', '.join(FORMATS)}")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"{path}, row {i}: expected an object, got {type(row).__name__}: {row!r:.100}")
    return [flatten(row) for row in rows]


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> one level with dotted keys; lists and scalars are kept as they are."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def expand(patterns: str | Sequence[str]) -> list[str]:
    """Files matching one or several paths / glob patterns, sorted within each pattern; an empty match is an
    error naming the pattern."""
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    files = []
    for pattern in patterns:
        matched = sorted(glob.glob(pattern))
        if not matched:
            raise FileNotFoundError(f"no data file matches {pattern!r}")
        files.extend(matched)
    return files


def read_files(patterns: str | Sequence[str]) -> list[dict[str, Any]]:
    """The rows of every matching file, concatenated in order."""
    return [row for path in expand(patterns) for row in read_records(path)]


def object_array(values: Iterable[Any]) -> np.ndarray:
    """A 1-D object array holding `values` as they are (never broadcast into more dimensions)."""
    values = list(values)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def to_columns(rows: Sequence[Mapping[str, Any]], where: str) -> dict[str, np.ndarray]:
    """Columns {name: [N]} of rows that all have the same keys: numbers and booleans as numpy numbers,
    everything else (text, lists) as object arrays."""
    if not rows:
        raise ValueError(f"{where}: no rows")
    keys = list(rows[0])
    for i, row in enumerate(rows):
        if set(row) != set(keys):
            raise ValueError(f"{where}, row {i}: keys {sorted(row)} differ from the first row's {sorted(keys)}")
    columns = {}
    for key in keys:
        values = [row[key] for row in rows]
        numeric = all(isinstance(v, (bool, int, float, np.number)) for v in values)
        columns[key] = np.asarray(values) if numeric else object_array(values)
    return columns
