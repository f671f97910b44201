"""The task registry and the peer_addition task (the peer workload's prompts and rewards)."""

import random

import numpy as np
import pytest

from morl_jax.tasks import PromptIterator, get_task, task_names


def _reference_rows():
    """The peer workload's prompt rule as first written for the TRL / Tunix anchors, verbatim."""
    rng = random.Random(0)
    rows = []
    for _ in range(512):
        a, b = rng.randint(0, 99), rng.randint(0, 99)
        rows.append({"prompt": f"{a}+{b}=", "answer": str(a + b)})
    return rows


@pytest.fixture(scope="module")
def task():
    return get_task("peer_addition")


def test_registry():
    assert {"arithmetic", "peer_addition"} <= set(task_names())
    with pytest.raises(KeyError, match="unknown task 'gsm9k'; known: .*arithmetic.*peer_addition"):
        get_task("gsm9k")


def test_train_split_is_the_peer_prompt_file(task):
    cols = task.split("train")
    rows = _reference_rows()
    assert cols["prompt"].tolist() == [r["prompt"] for r in rows]
    assert cols["answer_text"].tolist() == [r["answer"] for r in rows]
    assert cols["answer"].tolist() == [int(r["answer"]) for r in rows]


def test_eval_splits_disjoint_from_train(task):
    train = set(task.split("train")["prompt"].tolist())
    val, test = (task.split(s)["prompt"].tolist() for s in ("validation", "test"))
    assert len(val) == len(set(val)) == 64 and len(test) == len(set(test)) == 64
    assert not (train & set(val)) and not (train & set(test)) and not (set(val) & set(test))
    again = get_task("peer_addition")
    assert again.split("validation")["prompt"].tolist() == val


def test_rewards_weights_and_evaluate(task):
    rs = task.reward_set()
    assert rs.names == ("accuracy", "brevity") and task.default_weights == (1.0, 0.5)
    batch = next(PromptIterator(task.split("train"), batch_size=8, seed=0, shuffle=False))
    completions = [f"{a}" for a in batch["answer"]]
    completions[1] = "7" * 40
    out = rs(batch["prompt"], completions, **batch)
    assert out.shape == (8, 2) and out.dtype == np.float32
    assert out[:, 0].tolist() == [1.0, 0.0] + [1.0] * 6
    np.testing.assert_allclose(out[1, 1], -1.0)
    np.testing.assert_allclose(out[0, 1], -len(completions[0]) / 32)
    ev = task.evaluate(batch["prompt"], completions, batch)
    assert ev["accuracy"] == 7 / 8
    assert ev["length"] == pytest.approx(np.mean([len(c) for c in completions]))
    assert ev["brevity"] == pytest.approx(float(out[:, 1].mean()))
    assert task.objective_names == ("accuracy", "length") and task.maximise.tolist() == [True, False]
    np.testing.assert_array_equal(task.worst_point, [0.0, 32.0])


def test_sft_examples(task):
    ex = task.sft_examples(400, seed=0)
    assert ex == task.sft_examples(400, seed=0)
    rs = task.reward_set().eval()
    for prompt, completion, style in ex:
        a, b = map(int, prompt[:-1].split("+"))
        acc = rs([prompt], [completion], answer=[a + b])[0, 0]
        assert acc == (style != "wrong") and len(completion) <= 32
    assert {s for *_, s in ex} == {"answer", "explained", "wrong"}


def test_evaluate_checks_batch(task):
    cols = task.split("validation")
    with pytest.raises(ValueError, match="at least one completion"):
        task.evaluate([], [], cols)
    with pytest.raises(ValueError, match=r"2 completions but \{'answer': 64\}"):
        task.evaluate(cols["prompt"][:2], ["1", "2"], cols)
    with pytest.raises(KeyError, match=r"needs column\(s\) \['answer'\]"):
        task.evaluate(["1+1="], ["2"], {"prompt": ["1+1="]})
    with pytest.raises(ValueError, match="must be <= "):
        get_task("peer_addition", validation_size=9000, test_size=1000)
