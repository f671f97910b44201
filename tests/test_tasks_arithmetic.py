"""Arithmetic benchmark: splits, vocabulary, solution styles, diagnostics, evaluate."""

import random
import re

import numpy as np
import pytest
from hypothesis import given, strategies as st

from morl_jax.models import CharTokenizer
from morl_jax.rewards import accuracy, clarity, markers
from morl_jax.tasks import CHARACTERS, get_task
from morl_jax.tasks import arithmetic_diagnostics as diag
from morl_jax.tasks import arithmetic_styles as styles
from morl_jax.tasks.arithmetic import LEVELS, generate_split, split_of

# The peer tokenizer's construction (make_tiny_model.build_vocab): 4 specials, then the symbols,
# truncated to 64 ids, so "B".."I" fall off the end.
VOCAB = (["<pad>", "<eos>", "<bos>", "<unk>"] + list("0123456789+-*=") + [" "]
         + list("abcdefghijklmnopqrstuvwxyz") + list(".,:;?!()<>/'\"_#%&@ABCDEFGHI"))[4:64]
SIZES = dict(train_size=300, validation_size=60, test_size=60)


@pytest.fixture(scope="module")
def task():
    return get_task("arithmetic", seed=0, difficulties=(1, 2, 3, 4, 5), **SIZES)


@pytest.fixture(scope="module")
def problems(task):
    return [p for s in task.split_names for p in task.problems(s)]


def test_characters_constant_is_the_tokenizer_alphabet():
    assert sorted(CHARACTERS) == sorted(VOCAB) and len(set(CHARACTERS)) == 60


def test_splits_disjoint_unique_and_sized(task):
    expressions = {s: task.split(s)["expression"].tolist() for s in task.split_names}
    for s, exprs in expressions.items():
        assert len(exprs) == len(set(exprs)) == SIZES[f"{s}_size"]
        assert all(split_of(e) == s for e in exprs)
    train, val, test = (set(expressions[s]) for s in ("train", "validation", "test"))
    assert not (train & val) and not (train & test) and not (val & test)
    prompts = {s: set(task.split(s)["prompt"].tolist()) for s in task.split_names}
    assert not (prompts["train"] & prompts["validation"]) and not (prompts["train"] & prompts["test"])


def test_splits_reproducible_and_disjoint_across_seeds(task):
    again = get_task("arithmetic", seed=0, difficulties=(1, 2, 3, 4, 5), **SIZES)
    for s in task.split_names:
        a, b = task.split(s), again.split(s)
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    other = get_task("arithmetic", seed=1, difficulties=(1, 2, 3, 4, 5), **SIZES)
    assert other.split("train")["expression"].tolist() != task.split("train")["expression"].tolist()
    assert not set(other.split("train")["expression"]) & set(task.split("test")["expression"])


def test_columns_are_read_only(task):
    cols = task.split("validation")
    with pytest.raises(ValueError):
        cols["answer"][0] = 1
    assert {"id", "prompt", "answer", "answer_text", "num_ops", "difficulty", "expression",
            "start"} <= set(cols)


_OPENING = re.compile(r"^(\w+) has (\d+) (\w+)")
_SENTENCE = re.compile(r", (gets|finds|buys|gives|loses|sells|doubles|triples) ?(\d+)?")
_MEANING = {"gets": "+", "finds": "+", "buys": "+", "gives": "-", "loses": "-", "sells": "-"}


def _read_story(prompt):
    """Independent reference: the answer, operation count and operands read from the text."""
    m = _OPENING.match(prompt)
    value, operations = int(m.group(2)), []
    for verb, n in _SENTENCE.findall(prompt[m.end():]):
        if verb in ("doubles", "triples"):
            op, n = "*", (2 if verb == "doubles" else 3)
        else:
            op, n = _MEANING[verb], int(n)
        value = value + n if op == "+" else value - n if op == "-" else value * n
        operations.append((op, n))
    return value, operations


def test_story_text_matches_record(problems):
    for p in problems:
        answer, operations = _read_story(p.prompt)
        assert answer == p.answer and tuple(operations) == p.operations, p
        level = LEVELS[p.difficulty]
        assert p.num_ops == level.num_ops and all(op in level.ops for op, _ in p.operations)
        assert all(1 <= n <= level.max_operand for op, n in p.operations if op != "*")
        assert min(p.values) >= 0
        assert p.prompt.endswith("?") and len(p.prompt) < 100


def test_every_character_in_vocabulary(task, problems):
    rng = random.Random(0)
    texts = [p.prompt for p in problems]
    texts += [styles.render(p, s, rng) for p in problems for s in styles.STYLES]
    texts += [c for _, c, _ in task.sft_examples(200, seed=3)]
    assert set("".join(texts)) <= set(VOCAB)


def _check(p, completion):
    return (accuracy([p.prompt], [completion], answer=[p.answer])[0],
            clarity([p.prompt], [completion])[0], diag.written_steps(completion))


def test_style_properties(problems):
    rng = random.Random(0)
    for p in problems:
        acc, clar, steps = _check(p, styles.render(p, "steps", rng))
        assert (acc, clar) == (1, 1) and len(steps) == p.num_ops and all(s.correct for s in steps)
        assert markers.count_step_markers(styles.render(p, "steps", rng)) == p.num_ops

        verbose = styles.render(p, "verbose", rng)
        acc, clar, steps = _check(p, verbose)
        assert (acc, clar) == (1, 1) and len(steps) == p.num_ops and all(s.correct for s in steps)
        assert len(verbose) >= 1.5 * len(styles.render(p, "steps", rng))

        acc, clar, steps = _check(p, styles.render(p, "terse", rng))
        assert (acc, clar, steps) == (1, 0, [])

        acc, clar, steps = _check(p, styles.render(p, "mistake", rng))
        assert (acc, clar) == (0, 1) and len(steps) == p.num_ops
        assert sum(not s.correct for s in steps) == 1          # one wrong result, carried through

        acc, clar, steps = _check(p, styles.render(p, "skip", rng))
        assert acc == 1 and len(steps) == p.num_ops - 1 and all(s.correct for s in steps)
        assert clar == (p.num_ops - 1 >= 2)


def test_sft_examples_mix_determinism_and_fit():
    task = get_task("arithmetic", train_size=400, validation_size=10, test_size=10)
    examples = task.sft_examples(3000, seed=7)
    assert examples == task.sft_examples(3000, seed=7) and examples != task.sft_examples(3000, seed=8)
    freq = {s: sum(e[2] == s for e in examples) / len(examples) for s in styles.STYLES}
    for s, p in styles.DEFAULT_STYLE_MIX.items():
        assert abs(freq[s] - p) < 0.03, freq
    assert max(len(c) for _, c, _ in examples) <= task.max_completion_len
    assert set(p for p, _, _ in examples) == set(task.split("train")["prompt"])   # cycles all
    only = task.sft_examples(50, seed=0, style_mix={"steps": 2.0, "terse": 0.0})
    assert {s for _, _, s in only} == {"steps"}
    with pytest.raises(KeyError, match="unknown style.*terse, steps, verbose, mistake, skip"):
        task.sft_examples(5, seed=0, style_mix={"shouty": 1.0})
    with pytest.raises(ValueError, match=">= 0 with a positive sum"):
        task.sft_examples(5, seed=0, style_mix={"steps": -1.0})


@given(st.recursive(st.integers(0, 99).map(str),
                    lambda e: st.tuples(e, st.sampled_from("+-*"), e).map(
                        lambda t: f"({t[0]}{t[1]}{t[2]})") | e.map(lambda x: f"-{x}"),
                    max_leaves=6))
def test_expression_evaluator_matches_python(expr):
    value, _ = diag.evaluate_expression(expr)
    assert value == eval(expr)  # the expression is built from digits, + - * and parentheses only


def test_written_steps_hand_written():
    steps = diag.written_steps("1. 7+5=12. 2. 12-3=8. 3. (8+1)*2=18. x=4, 5=5, 3+=2. answer: 18")
    assert [(s.lhs, s.claimed, s.actual, s.correct) for s in steps] == [
        ("7+5", 12, 12, True), ("12-3", 8, 9, False), ("(8+1)*2", 18, 18, True)]
    assert diag.diagnose("answer: 4", "4", 1)["steps_written"] == 0
    assert diag.diagnose("2+2=5. 1+1=2", "2", 2)["step_errors"] == 1
    assert diag.evaluate_expression("1+*2") is None and diag.evaluate_expression("(1+2") is None
    assert diag.diagnose("1. 2. answer: 3", "3", 2) == {
        "answer": 3, "correct": True, "steps_written": 0, "step_errors": 0, "num_ops": 2,
        "step_markers": 2, "clear": True}


def test_evaluate(task):
    problems = task.problems("validation")[:4]
    cols = {k: v[:4] for k, v in task.split("validation").items()}
    rng = random.Random(0)
    gold = [styles.render(p, "steps", rng) for p in problems]
    tokens = np.array([len(CharTokenizer().encode(c, add_special_tokens=False)) for c in gold])  # = characters
    out = task.evaluate(cols["prompt"], gold, {**cols, "completion_tokens": tokens})
    assert out["accuracy"] == 1.0 and out["clarity"] == 1.0
    assert out["length"] == pytest.approx(np.mean([len(c) for c in gold]))
    assert out["steps_written"] == out["steps_needed"] == np.mean([p.num_ops for p in problems])
    assert out["step_errors"] == out["steps_short_rate"] == out["clear_without_steps_rate"] == 0
    k, gold_answer = problems[3].num_ops, problems[3].answer
    wrong_step_right_answer = " ".join(
        f"{i + 1}. 1+1={3 if i == 0 else 2}." for i in range(k)) + f" answer: {gold_answer}"
    gamed = ["1. 2. answer: 0", "answer: 7", "", wrong_step_right_answer]
    out = task.evaluate(cols["prompt"], gamed, {**cols, "completion_tokens": np.array([len(c) for c in gamed])})
    assert out["answer_present"] == 0.75 and out["clear_without_steps_rate"] == 0.25
    assert out["steps_short_rate"] == 0.75 and out["step_errors"] == 0.25
    assert out["correct_with_step_errors_rate"] == 0.25
    assert list(task.objective_names) == ["accuracy", "length", "clarity"]
    assert task.maximise.tolist() == [True, False, True]
    # strictly worse than every reachable point: 5 % of each range beyond the worst value
    np.testing.assert_allclose(task.worst_point, [-0.05, 134.4, -0.05])
    assert np.all(np.where(task.maximise, task.worst_point < 0, task.worst_point > task.max_completion_len))


def test_reward_set_options(task):
    rs = task.reward_set()
    assert rs.names == ("accuracy", "conciseness", "clarity")
    assert rs["conciseness"].mode == "binary"
    lin = task.reward_set(conciseness_mode="linear", max_len=10)
    out = lin(["p"], ["answer: 5"], answer=[5], completion_tokens=[9])
    np.testing.assert_allclose(out, [[1.0, 0.1, 0.0]])
    with pytest.raises(ValueError, match="counts policy tokens: pass the completion_tokens column"):
        task.reward_set()(["p"], ["answer: 5"], answer=[5])


def test_bad_options():
    with pytest.raises(ValueError, match="subset of \\[1, 2, 3, 4, 5, 6\\]"):
        get_task("arithmetic", difficulties=(9,))
    with pytest.raises(ValueError, match="unknown conciseness_mode"):
        get_task("arithmetic", conciseness_mode="cubic")
    with pytest.raises(KeyError, match="no split 'dev'; splits: train, validation, test"):
        get_task("arithmetic").split("dev")
    with pytest.raises(ValueError, match="found only .* distinct 'validation' problems"):
        generate_split("validation", 1000, seed=0, difficulties=(1,))


def test_empty_train_split_cannot_feed_sft():
    task = get_task("arithmetic", train_size=0, validation_size=1, test_size=1)
    assert task.sft_examples(0, seed=0) == []
    with pytest.raises(ValueError, match="non-empty train split"):
        task.sft_examples(3, seed=0)
    with pytest.raises(ValueError, match="sizes must be >= 0"):
        get_task("arithmetic", test_size=-1)


def test_reward_subsets_and_the_independent_parity_reward(task):
    rewards = task.reward_set(include=("parity", "accuracy"))
    assert rewards.names == ("parity", "accuracy")
    out = rewards(["q", "q"], ["answer: 3", "x"], answer=[3, 4], completion_tokens=[9, 4])
    np.testing.assert_array_equal(out, [[0.0, 1.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match="include must name distinct rewards"):
        task.reward_set(include=("accuracy", "accuracy"))
    with pytest.raises(ValueError, match="include must name distinct rewards"):
        task.reward_set(include=("brevity",))
