"""Tasks from real data: your own files (jsonl / json / parquet) with configured rewards, GSM8K and MATH through
the TFDS builders (ArrayRecord, read with tfds.data_source), the paper's MATH-500 re-split, ToolRL, reasoning-gym;
errors that name the expected files. Everything runs on the small fixtures in tests/fixtures."""

import json
import math
import os
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from morl_jax import data, tasks
from morl_jax.data import DataFilesError, hf_train_test_split
from morl_jax.tasks.math_tasks import BOXED_INSTRUCTION

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
REWARDS = ({"name": "accuracy", "fn": "math_accuracy", "worst": 0.0},
           {"name": "conciseness", "fn": "conciseness", "worst": 0.0})


def _jsonl_to_parquet(src, dst):
    rows = [json.loads(line) for line in open(src)]
    pq.write_table(pa.Table.from_pylist(rows), dst)


def _files(directory):
    return {split: os.path.join(directory, f"{split}.jsonl") for split in ("train", "validation", "test")}


# ------------------------------------------------------------------------------------------ your own files
def test_files_task_prompt_template_answer_and_metadata_columns():
    task = tasks.get_task("files", files=_files(os.path.join(FIXTURES, "files")), rewards=REWARDS,
                          prompt_template="Q: {question} (level {difficulty}) Put the answer in \\boxed{{}}.",
                          answer_column="solution", columns=("difficulty",), objectives=("accuracy", "length"),
                          max_completion_len=64)
    train = task.split("train")
    assert sorted(train) == ["answer", "difficulty", "prompt"]
    assert train["prompt"][0] == "Q: What is 2 + 2? (level 1) Put the answer in \\boxed{}."
    assert train["answer"].tolist() == ["4", "15", "3", "-2"] and train["difficulty"].tolist() == [1, 1, 2, 2]
    assert task.objective_names == ("accuracy", "length") and task.maximise.tolist() == [True, False]
    np.testing.assert_array_equal(task.worst_point, [0.0, 64.0])
    assert not task.has_sft_examples
    rewards = task.reward_set()
    out = rewards(list(train["prompt"][:2]), [r"\boxed{4}", r"\boxed{16}"], answer=train["answer"][:2],
                  difficulty=train["difficulty"][:2], completion_tokens=np.array([3, 9]))
    np.testing.assert_array_equal(out, [[1.0, 1.0], [0.0, 0.0]])
    ev = task.evaluate(train["prompt"][:2], [r"\boxed{4}", r"\boxed{16}"],
                       {**{k: v[:2] for k, v in train.items()}, "completion_tokens": np.array([3, 9])})
    assert ev == {"accuracy": 0.5, "length": 6.0, "conciseness": 0.5}


def test_files_task_reads_parquet_and_globs(tmp_path):
    for split in ("train", "validation", "test"):
        _jsonl_to_parquet(os.path.join(FIXTURES, "files", f"{split}.jsonl"), tmp_path / f"{split}-0.parquet")
    task = tasks.get_task("files", files={s: str(tmp_path / f"{s}-*.parquet") for s in ("train", "validation", "test")},
                          rewards=REWARDS, prompt_template="{question}", answer_column="solution")
    assert task.split("train")["prompt"].tolist()[:2] == ["What is 2 + 2?", "What is 3 * 5?"]
    assert task.objective_names == ("accuracy", "conciseness")  # by default, one objective per reward
    np.testing.assert_array_equal(task.worst_point, [0.0, 0.0])
    unknown_worst = tasks.get_task("files", files=task.files, rewards=({"name": "accuracy", "fn": "math_accuracy"},),
                                   objectives=("accuracy", "length"), max_completion_len=32)
    assert unknown_worst.worst_point is None  # the accuracy spec gives no worst value


def test_files_task_errors_name_the_problem(tmp_path):
    files = _files(os.path.join(FIXTURES, "files"))
    with pytest.raises(ValueError, match="missing \\['test'\\]"):
        tasks.get_task("files", files={"train": files["train"], "validation": files["validation"]}, rewards=REWARDS)
    with pytest.raises(ValueError, match="names field 'problem', which the data does not have; fields: difficulty, "
                                         "question, solution"):
        tasks.get_task("files", files=files, rewards=REWARDS, prompt_template="{problem}",
                       answer_column="solution").split("train")
    with pytest.raises(ValueError, match="no field 'answer' \\(answer_column / columns\\)"):
        tasks.get_task("files", files=files, rewards=REWARDS, prompt_template="{question}").split("train")
    with pytest.raises(ValueError, match="objectives \\['accuracy', 'size'\\]: each must be a reward name"):
        tasks.get_task("files", files=files, rewards=REWARDS, objectives=("accuracy", "size"))
    with pytest.raises(ValueError, match="columns \\['answer'\\] are reserved"):
        tasks.get_task("files", files=files, rewards=REWARDS, columns=("answer",))
    with pytest.raises(FileNotFoundError, match="no data file matches"):
        tasks.get_task("files", files={**files, "test": str(tmp_path / "none.jsonl")}, rewards=REWARDS,
                       prompt_template="{question}", answer_column="solution").split("test")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "a"}\n{"question": \n')
    with pytest.raises(ValueError, match="bad.jsonl, line 2: not valid JSON"):
        data.read_records(str(bad))


def test_dotted_fields_of_nested_records(tmp_path):
    """verl-style parquet rows: nested objects are addressed with dotted names."""
    rows = [{"extra_info": {"question": f"q{i}"}, "reward_model": {"ground_truth": str(i)}} for i in range(3)]
    for split in ("train", "validation", "test"):
        pq.write_table(pa.Table.from_pylist(rows), tmp_path / f"{split}.parquet")
    task = tasks.get_task("files", files={s: str(tmp_path / f"{s}.parquet") for s in ("train", "validation", "test")},
                          rewards=REWARDS, prompt_template="{extra_info.question}?",
                          answer_column="reward_model.ground_truth")
    assert task.split("test")["prompt"].tolist() == ["q0?", "q1?", "q2?"]
    assert task.split("test")["answer"].tolist() == ["0", "1", "2"]


# ------------------------------------------------------------------------------------- TFDS: GSM8K, MATH
def test_hf_train_test_split_semantics():
    train, test = hf_train_test_split(500, 0.4, 42)
    permutation = np.random.default_rng(42).permutation(500)
    assert len(test) == 200 and len(train) == 300
    np.testing.assert_array_equal(test, permutation[:200])
    np.testing.assert_array_equal(train, permutation[200:])
    assert len(hf_train_test_split(7, 0.5, 0)[1]) == math.ceil(3.5)
    with pytest.raises(ValueError, match="leaves no rows"):
        hf_train_test_split(3, 3, 0)


def test_gsm8k_from_jsonl_and_parquet(tmp_path):
    task = tasks.get_task("gsm8k", raw_dir=os.path.join(FIXTURES, "gsm8k"), data_dir=str(tmp_path / "tfds"),
                          validation_size=2, max_completion_len=128)
    train, validation, test = (task.split(s) for s in ("train", "validation", "test"))
    assert (len(train["prompt"]), len(validation["prompt"]), len(test["prompt"])) == (6, 2, 3)
    assert test["prompt"][0] == "Sam has 3 bags of 5 marbles. How many marbles does he have? " + BOXED_INSTRUCTION
    assert test["answer"].tolist() == ["15", "5", "14"]  # file order, the number after ####
    kept, held_out = hf_train_test_split(8, 2, 42)
    all_train = [json.loads(line) for line in open(os.path.join(FIXTURES, "gsm8k", "train.jsonl"))]
    assert [p.split(" Let's")[0] for p in validation["prompt"]] == [all_train[i]["question"] for i in held_out]
    assert "1500" in train["answer"].tolist() + validation["answer"].tolist()  # "#### 1,500": separators dropped
    assert os.listdir(tmp_path / "tfds" / "gsm8k_files" / "main" / "1.0.0")  # ArrayRecord files written
    assert any(f.endswith(".array_record-00000-of-00001") for f in os.listdir(tmp_path / "tfds" / "gsm8k_files" / "main" / "1.0.0"))
    assert task.objective_names == ("accuracy", "length", "clarity")
    np.testing.assert_array_equal(task.worst_point, [0.0, 128.0, 0.0])

    raw = tmp_path / "parquet" / "main"
    raw.mkdir(parents=True)
    for split in ("train", "test"):
        _jsonl_to_parquet(os.path.join(FIXTURES, "gsm8k", f"{split}.jsonl"), raw / f"{split}-00000-of-00001.parquet")
    from_parquet = tasks.get_task("gsm8k", raw_dir=str(tmp_path / "parquet"), validation_size=2)
    for split in ("train", "validation", "test"):
        assert from_parquet.split(split)["prompt"].tolist() == task.split(split)["prompt"].tolist()


def test_math500_resplit_300_100_100_seed_42(tmp_path):
    """The paper's re-split on a 500-row MATH-500-format file: the rows each split holds, in order."""
    raw = tmp_path / "raw"
    raw.mkdir()
    with open(raw / "test.jsonl", "w") as f:
        for i in range(500):
            f.write(json.dumps({"problem": f"p{i}", "solution": f"\\boxed{{{i}}}", "answer": str(i),
                                "subject": "Algebra", "level": 1, "unique_id": f"u{i}"}) + "\n")
    task = tasks.get_task("math", raw_dir=str(raw), config="math500", prompt_template="{problem}")
    # Independent re-derivation of datasets' train_test_split(0.4, seed=42) then (0.5, seed=42) on the 40 %.
    first = np.random.default_rng(42).permutation(500)
    rest = first[:200]
    second = np.random.default_rng(42).permutation(200)
    expected = {"train": first[200:], "validation": rest[second[:100]], "test": rest[second[100:]]}
    for split, rows in expected.items():
        assert task.split(split)["prompt"].tolist() == [f"p{i}" for i in rows]
    assert sum(len(task.split(s)["prompt"]) for s in ("train", "validation", "test")) == 500


def test_math500_fixture_and_lighteval_forms(tmp_path):
    task = tasks.get_task("math", raw_dir=os.path.join(FIXTURES, "math500"), data_dir=str(tmp_path / "a"),
                          columns=("subject", "level"))
    sizes = [len(task.split(s)["prompt"]) for s in ("train", "validation", "test")]
    assert sizes == [6, 2, 2]
    assert task.split("train")["prompt"][0].endswith(BOXED_INSTRUCTION)

    light = tasks.get_task("math", raw_dir=os.path.join(FIXTURES, "math_lighteval"), data_dir=str(tmp_path / "b"),
                           config="lighteval")
    assert [len(light.split(s)["prompt"]) for s in ("train", "validation", "test")] == [6, 2, 2]
    assert light.split("train")["answer"].tolist()[:2] == ["\\frac{3}{4}", "4"]  # the solutions' last \boxed{}
    algebra = tasks.get_task("math", raw_dir=os.path.join(FIXTURES, "math_lighteval"), data_dir=str(tmp_path / "c"),
                             config="lighteval_algebra", columns=("subject",))
    assert set(algebra.split("train")["subject"]) == {"Algebra"}

    archive = tmp_path / "MATH"  # the original archive: one JSON file per problem
    for split in ("train", "test"):
        for i, line in enumerate(open(os.path.join(FIXTURES, "math_lighteval", f"{split}.jsonl"))):
            row = json.loads(line)
            folder = archive / split / row["type"].lower().replace(" ", "_").replace("&", "and")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i}.json").write_text(json.dumps(row))
    from_archive = tasks.get_task("math", raw_dir=str(archive), data_dir=str(tmp_path / "d"), config="lighteval")
    assert sorted(from_archive.split("train")["prompt"]) == sorted(light.split("train")["prompt"])


def test_missing_or_malformed_data_names_the_expected_files(tmp_path):
    with pytest.raises(DataFilesError, match="GSM8K: data directory .*nowhere' does not exist; expected it to hold "
                                             "train.jsonl and test.jsonl"):
        tasks.get_task("gsm8k", raw_dir=str(tmp_path / "nowhere")).split("train")
    only_train = tmp_path / "only_train"
    only_train.mkdir()
    shutil.copy(os.path.join(FIXTURES, "gsm8k", "train.jsonl"), only_train)
    with pytest.raises(DataFilesError, match="GSM8K: no test file in .*; expected train.jsonl and test.jsonl"):
        tasks.get_task("gsm8k", raw_dir=str(only_train), validation_size=2).split("train")
    no_marker = tmp_path / "no_marker"
    no_marker.mkdir()
    for split in ("train", "test"):
        (no_marker / f"{split}.jsonl").write_text(json.dumps({"question": "q", "answer": "42"}) + "\n")
    with pytest.raises(DataFilesError, match="row 0: the answer has no '####' marker"):
        tasks.get_task("gsm8k", raw_dir=str(no_marker), validation_size=1).split("train")
    wrong_fields = tmp_path / "wrong_fields"
    wrong_fields.mkdir()
    (wrong_fields / "test.jsonl").write_text(json.dumps({"question": "q", "answer": "1"}) + "\n")
    with pytest.raises(DataFilesError, match="rows lack field\\(s\\) \\['problem', 'solution'\\]"):
        tasks.get_task("math", raw_dir=str(wrong_fields)).split("train")
    with pytest.raises(ValueError, match="unknown MATH config 'math5000'; known: math500, lighteval"):
        tasks.get_task("math", config="math5000")


# ------------------------------------------------------------------------------------ ToolRL, reasoning-gym
def test_toolcall_task_from_raw_jsonl_and_processed_parquet(tmp_path):
    raw = os.path.join(FIXTURES, "toolrl")
    task = tasks.get_task("toolcall", data_dir=raw, validation_size=3)
    records = [json.loads(line) for line in open(os.path.join(raw, "rlla_rl.jsonl"))]
    shuffled = list(records)
    np.random.RandomState(31415).shuffle(shuffled)  # ToolRL's own split: seed 31415, the last 2 % for test
    assert len(records) == 60 and task.split("test")["answer"].tolist() == [shuffled[-1]["output"]]
    assert len(task.split("train")["prompt"]) + len(task.split("validation")["prompt"]) == 59
    assert task.objective_names == ("format", "correctness")
    np.testing.assert_array_equal(task.worst_point, [0.0, -3.0])
    train = task.split("train")
    assert sorted(train) == ["answer", "prompt", "system"]
    assert train["system"][0] == records[0]["instruction"] and train["prompt"][0].startswith("User: ")
    gold = list(train["answer"][:2])
    out = task.reward_set()(list(train["prompt"][:2]), gold, answer=train["answer"][:2])
    np.testing.assert_array_equal(out, [[1.0, 3.0 if "<tool_call>" in gold[0] else 0.0],
                                        [1.0, 3.0 if "<tool_call>" in gold[1] else 0.0]])

    processed = tmp_path / "rlla_4k"
    processed.mkdir()
    for split, rows in (("train", records[:50]), ("test", records[50:])):
        pq.write_table(pa.Table.from_pylist([{
            "prompt": [{"role": "system", "content": r["instruction"]}, {"role": "user", "content": r["input"]}],
            "reward_model": {"style": "rule", "ground_truth": r["output"]}} for r in rows]),
            processed / f"{split}.parquet")
    parquet_task = tasks.get_task("toolcall", data_dir=str(processed), validation_size=3)
    assert parquet_task.split("test")["answer"].tolist() == [r["output"] for r in records[50:]]
    assert len(parquet_task.split("train")["prompt"]) == 47
    with pytest.raises(FileNotFoundError, match="expected train.parquet and test.parquet"):
        tasks.get_task("toolcall", data_dir=str(tmp_path)).split("train")


def test_reasoning_gym_task_is_deterministic_disjoint_and_scored():
    options = dict(dataset="basic_arithmetic", dataset_kwargs={"min_terms": 2, "max_terms": 2, "min_digits": 1,
                                                               "max_digits": 1}, seed=3, train_size=40,
                   validation_size=8, test_size=8)
    task, again = tasks.get_task("reasoning_gym", **options), tasks.get_task("reasoning_gym", **options)
    splits = {s: task.split(s) for s in ("train", "validation", "test")}
    for split, columns in splits.items():
        assert columns["prompt"].tolist() == again.split(split)["prompt"].tolist()
    assert [len(c["prompt"]) for c in splits.values()] == [40, 8, 8]
    questions = {s: set(c["prompt"]) for s, c in splits.items()}
    assert not questions["validation"] & questions["train"] and not questions["test"] & questions["train"]
    assert not questions["test"] & questions["validation"]
    train = splits["train"]
    assert train["prompt"][0].endswith("Give the final answer within \\boxed{}.")
    assert train["entry"][0]["answer"] == train["answer"][0]
    completions = [rf"\boxed{{{a}}}" for a in train["answer"][:3]] + ["no idea"]
    out = task.reward_set()(list(train["prompt"][:4]), completions, entry=train["entry"][:4])
    np.testing.assert_array_equal(out[:, 0], [1.0, 1.0, 1.0, 0.0])
    other_seed = tasks.get_task("reasoning_gym", **{**options, "seed": 4})
    assert other_seed.split("train")["prompt"].tolist() != train["prompt"].tolist()
    with pytest.raises(ValueError, match="unknown reasoning-gym dataset 'basic_arith'; known: .*basic_arithmetic"):
        tasks.get_task("reasoning_gym", dataset="basic_arith")
    with pytest.raises(ValueError, match="rejects dataset_kwargs"):
        tasks.get_task("reasoning_gym", dataset="basic_arithmetic", dataset_kwargs={"min_terms": 5, "max_terms": 2})
