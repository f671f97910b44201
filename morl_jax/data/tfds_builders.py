r"""TFDS builders for GSM8K and MATH from the files a user downloaded, written as ArrayRecord and read back with
random access (`as_data_source`): no TensorFlow, no network.

    builder = prepare("gsm8k", raw_dir="data/gsm8k")            # ArrayRecord under data/gsm8k/tfds/<hash> (once)
    rows = load_split(builder, "train")                          # [{"question", "answer", ...}] in file order

Builders and the files they read from `raw_dir` (the published formats):

* `gsm8k` (config `main`), splits train / test: `train.jsonl` + `test.jsonl` (openai/grade-school-math) or
  `train-*.parquet` + `test-*.parquet` (the `main` config of openai/gsm8k, also under `main/`). Features:
  `question`, `solution` (the published answer text), `answer` (what follows its `####`, commas removed).
* `math` (MATH, Hendrycks et al. 2021), features `problem`, `solution`, `answer`, `subject`, `level`, `unique_id`:
  - config `math500`: `test.jsonl` or `test-*.parquet` of MATH-500 (HuggingFaceH4/MATH-500), re-split as the
    dynamic-weighting paper does -- `train_test_split(test_size=0.4, seed=42)` then the 40 % again with
    `test_size=0.5, seed=42` (Hugging Face `datasets` semantics) -- into train 300 / validation 100 / test 100;
  - config `lighteval` and `lighteval_<subject>` (e.g. `lighteval_algebra`): `train-*.parquet` +
    `test-*.parquet` (DigitalLearningGmbH/MATH-lighteval, also under `data/` or `<subject>/`), `train.jsonl` +
    `test.jsonl`, or the original archive's `train/<subject>/<n>.json` + `test/...`; the answer is the last
    `\boxed{}` of the solution; validation = the first half of the test split, test = the second half (the
    paper's MATH-lighteval split).

TFDS shuffles examples when it writes them, so every example stores its position in its split (`index`) and
`load_split` returns them in that order.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import math
import os
from typing import Any, Iterator, Sequence

import numpy as np
import tensorflow_datasets as tfds

from morl_jax.data.files import read_files
from morl_jax.rewards.math import last_boxed, last_hash_answer

MATH_SUBJECTS = {"algebra": "Algebra", "counting_and_probability": "Counting & Probability",
                 "geometry": "Geometry", "intermediate_algebra": "Intermediate Algebra",
                 "number_theory": "Number Theory", "prealgebra": "Prealgebra", "precalculus": "Precalculus"}

GSM8K_FILES = "train.jsonl and test.jsonl (openai/grade-school-math), or train-*.parquet and test-*.parquet " \
              "(openai/gsm8k, config main)"
MATH500_FILES = "test.jsonl or test-*.parquet of HuggingFaceH4/MATH-500"
LIGHTEVAL_FILES = "train-*.parquet and test-*.parquet (DigitalLearningGmbH/MATH-lighteval), train.jsonl and " \
                  "test.jsonl, or the MATH archive's train/<subject>/*.json and test/<subject>/*.json"


class DataFilesError(FileNotFoundError):
    """The raw data directory is missing or does not hold the expected files; the message names them."""


def hf_train_test_split(n: int, test_size: float | int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices of Hugging Face `Dataset.train_test_split(test_size=..., seed=...)`: a
    permutation from `np.random.default_rng(seed)`, its first ceil(test_size * n) rows (or `test_size` rows, an
    int) the test split, the rest (in permutation order) the train split."""
    n_test = test_size if isinstance(test_size, (int, np.integer)) else math.ceil(test_size * n)
    if not 0 < n_test < n:
        raise ValueError(f"a test split of {test_size} leaves no rows on one side of {n}")
    permutation = np.random.default_rng(seed).permutation(n)
    return permutation[n_test:], permutation[:n_test]


def _find(raw_dir: str, patterns: Sequence[str]) -> list[str]:
    """Files of the first pattern (relative to raw_dir) that matches anything."""
    for pattern in patterns:
        files = sorted(glob.glob(os.path.join(raw_dir, pattern)))
        if files:
            return files
    return []


def _split_files(raw_dir: str, split: str, dataset: str, expected: str, extra: Sequence[str] = ()) -> list[str]:
    files = _find(raw_dir, [f"{split}.jsonl", f"{split}-*.parquet", f"data/{split}-*.parquet",
                            f"main/{split}-*.parquet", *extra])
    if not files:
        raise DataFilesError(f"{dataset}: no {split} file in {raw_dir!r}; expected {expected}")
    return files


def _require(row: dict[str, Any], keys: Sequence[str], where: str) -> None:
    missing = [k for k in keys if k not in row]
    if missing:
        raise DataFilesError(f"{where}: rows lack field(s) {missing}; got {sorted(row)}")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# ------------------------------------------------------------------------------------------------ GSM8K
class Gsm8kFiles(tfds.core.GeneratorBasedBuilder):
    """GSM8K (Cobbe et al. 2021) from downloaded files: train / test."""

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"Put {GSM8K_FILES} in the manual directory."
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(name="main", description="The published train and test splits.")]

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "question": tfds.features.Text(), "solution": tfds.features.Text(), "answer": tfds.features.Text(),
            "index": np.int64}), description="GSM8K grade-school math word problems.")

    def _split_generators(self, dl_manager: Any) -> dict[str, Iterator]:
        raw = str(dl_manager.manual_dir)
        return {split: self._generate_examples(_split_files(raw, split, "GSM8K", GSM8K_FILES)) for split in ("train", "test")}

    def _generate_examples(self, files: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
        for index, row in enumerate(read_files(files)):
            _require(row, ("question", "answer"), files[0])
            answer = last_hash_answer(row["answer"])
            if answer is None:
                raise DataFilesError(f"{files[0]}, row {index}: the answer has no '####' marker: {row['answer']!r:.200}")
            yield index, {"question": row["question"], "solution": row["answer"], "answer": answer, "index": index}


# ------------------------------------------------------------------------------------------------- MATH
@dataclasses.dataclass
class MathConfig(tfds.core.BuilderConfig):
    """`source`: "math500" (the paper's re-split of MATH-500) or "lighteval"; `subject`: "" (all) or a key of
    MATH_SUBJECTS (lighteval only)."""

    source: str = "math500"
    subject: str = ""


class MathFiles(tfds.core.GeneratorBasedBuilder):
    """MATH (Hendrycks et al. 2021) from downloaded files: MATH-500 re-split 300/100/100, or MATH-lighteval."""

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"Put {MATH500_FILES} (config math500) or {LIGHTEVAL_FILES} in the manual directory."
    BUILDER_CONFIGS = [
        MathConfig(name="math500", source="math500",
                   description="MATH-500 re-split 300/100/100 with seed 42 (the dynamic-weighting paper)."),
        MathConfig(name="lighteval", source="lighteval",
                   description="MATH-lighteval: train; validation / test = the halves of the test split."),
    ] + [MathConfig(name=f"lighteval_{key}", source="lighteval", subject=key,
                    description=f"MATH-lighteval, {name} problems only.") for key, name in MATH_SUBJECTS.items()]

    def _info(self) -> tfds.core.DatasetInfo:
        text = tfds.features.Text()
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "problem": text, "solution": text, "answer": text, "subject": text, "level": text, "unique_id": text,
            "index": np.int64}), description="MATH competition problems with LaTeX solutions.")

    def _split_generators(self, dl_manager: Any) -> dict[str, Iterator]:
        raw = str(dl_manager.manual_dir)
        if self.builder_config.source == "math500":
            rows = self._math500_rows(raw)
            train, rest = hf_train_test_split(len(rows), 0.4, 42)
            test, validation = hf_train_test_split(len(rest), 0.5, 42)
            splits = {"train": [rows[i] for i in train], "validation": [rows[rest[i]] for i in validation],
                      "test": [rows[rest[i]] for i in test]}
        else:
            train, test = (self._lighteval_rows(raw, split) for split in ("train", "test"))
            half = len(test) // 2
            splits = {"train": train, "validation": test[:half], "test": test[half:]}
        empty = [name for name, rows in splits.items() if not rows]
        if empty:
            raise DataFilesError(f"MATH config {self.builder_config.name!r}: the {', '.join(empty)} split(s) would be "
                                 f"empty with the files in {raw!r}")
        return {name: self._generate_examples(rows) for name, rows in splits.items()}

    def _math500_rows(self, raw: str) -> list[dict[str, Any]]:
        files = _split_files(raw, "test", "MATH-500", MATH500_FILES)
        rows = []
        for i, row in enumerate(read_files(files)):
            _require(row, ("problem", "solution", "answer"), files[0])
            rows.append({"problem": row["problem"], "solution": row["solution"], "answer": _text(row["answer"]),
                         "subject": _text(row.get("subject")), "level": _text(row.get("level")),
                         "unique_id": _text(row.get("unique_id", i))})
        return rows

    def _lighteval_rows(self, raw: str, split: str) -> list[dict[str, Any]]:
        subject = self.builder_config.subject
        extra = [f"{subject}/{split}-*.parquet"] if subject else []
        files = _split_files(raw, split, "MATH", LIGHTEVAL_FILES, extra=extra + [f"{split}/*/*.json"])
        if files[0].endswith(".json"):  # the original archive: one problem per file
            files = sorted(files, key=lambda f: (os.path.basename(os.path.dirname(f)),
                                                 int(os.path.splitext(os.path.basename(f))[0])))
            records = [row for f in files for row in _single_object(f)]
            ids = [os.path.relpath(f, raw) for f in files]
        else:
            records = read_files(files)
            ids = [f"{split}/{i}" for i in range(len(records))]
        rows = []
        for uid, row in zip(ids, records):
            _require(row, ("problem", "solution", "type", "level"), files[0])
            if subject and row["type"] != MATH_SUBJECTS[subject]:
                continue
            answer = last_boxed(row["solution"])
            if answer is None:
                raise DataFilesError(f"{uid}: the solution has no \\boxed{{}} answer: {row['solution']!r:.200}")
            rows.append({"problem": row["problem"], "solution": row["solution"], "answer": answer,
                         "subject": row["type"], "level": _text(row["level"]), "unique_id": uid})
        return rows

    def _generate_examples(self, rows: list[dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
        for index, row in enumerate(rows):
            yield index, {**row, "index": index}


def _single_object(path: str) -> list[dict[str, Any]]:
    import json

    with open(path, encoding="utf-8") as f:
        return [json.load(f)]


# ------------------------------------------------------------------------------------------- entry points
BUILDERS = {"gsm8k": Gsm8kFiles, "math": MathFiles}


def raw_fingerprint(raw_dir: str) -> str:
    """A short hash of the names, sizes and modification times of the files under `raw_dir` (its `tfds/` cache
    excluded): the default cache directory changes when the downloaded files do, so a stale dataset is never read."""
    entries = []
    for root, dirs, files in os.walk(raw_dir):
        if os.path.samefile(root, raw_dir) and "tfds" in dirs:
            dirs.remove("tfds")
        for file in files:
            stat = os.stat(os.path.join(root, file))
            entries.append(f"{os.path.relpath(os.path.join(root, file), raw_dir)}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()[:12]


def prepare(name: str, raw_dir: str, data_dir: str = "", config: str | None = None) -> tfds.core.DatasetBuilder:
    """The builder `name` ("gsm8k" or "math") with `config`, its ArrayRecord files prepared under `data_dir`
    (default `raw_dir/tfds/<raw_fingerprint>`) from the files in `raw_dir` unless they already are."""
    if name not in BUILDERS:
        raise KeyError(f"unknown TFDS builder {name!r}; known: {', '.join(BUILDERS)}")
    cls = BUILDERS[name]
    names = [c.name for c in cls.BUILDER_CONFIGS]
    config = config or names[0]
    if config not in names:
        raise KeyError(f"builder {name!r} has no config {config!r}; configs: {', '.join(names)}")
    if not os.path.isdir(raw_dir):
        expected = {"gsm8k": GSM8K_FILES, "math500": MATH500_FILES}.get(name if name == "gsm8k" else config,
                                                                         LIGHTEVAL_FILES)
        raise DataFilesError(f"{'GSM8K' if name == 'gsm8k' else 'MATH'}: data directory {raw_dir!r} does not exist; "
                             f"expected it to hold {expected}")
    data_dir = os.path.abspath(data_dir or os.path.join(raw_dir, "tfds", raw_fingerprint(raw_dir)))
    builder = cls(data_dir=data_dir, config=config, file_format="array_record")
    if not builder.is_prepared():
        tfds.disable_progress_bar()
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
            manual_dir=os.path.abspath(raw_dir), download_mode=tfds.download.GenerateMode.REUSE_DATASET_IF_EXISTS))
    return builder


def load_split(builder: tfds.core.DatasetBuilder, split: str) -> list[dict[str, Any]]:
    """Every example of `split` (text decoded to str), in the split's own order (`index`), read with random
    access from the ArrayRecord files (`as_data_source`)."""
    splits = list(builder.info.splits.keys())
    if split not in splits:
        raise KeyError(f"{builder.name}/{builder.builder_config.name} has no split {split!r}; splits: {', '.join(splits)}")
    source = builder.as_data_source(split=split)
    rows = [{k: v.decode("utf-8") if isinstance(v, bytes) else v for k, v in source[i].items()}
            for i in range(len(source))]
    rows.sort(key=lambda row: int(row["index"]))
    return rows
