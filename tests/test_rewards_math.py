r"""The dynamic-weighting paper's math rewards on tricky strings: last \boxed{} extraction, math-verify
equivalence, GSM8K '####' answers, the paper's clarity rule (hand-computed expectations)."""

import threading

import numpy as np
import pytest

from morl_jax.rewards import math_accuracy, math_clarity
from morl_jax.rewards.math import equivalent, last_boxed, last_hash_answer


@pytest.mark.parametrize("text, expected", [
    (r"so \boxed{5}", "5"),
    (r"first \boxed{3} then \boxed{4}", "4"),                       # the LAST box
    (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),                        # nested braces
    (r"\boxed{\{1, 2\}}", r"\{1, 2\}"),                              # escaped braces still nest
    (r"$\boxed 7$ done", "7"),                                       # \boxed without braces runs to '$'
    (r"\fbox{9}", "9"),
    (r"\boxed{12", None),                                            # never closed
    ("no box at all", None),
    (r"\boxed{}", ""),
    (r"\boxed{a} and \fbox{b}", "a"),                                # \boxed wins over \fbox
])
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("Natalia sold 48/2 = 24 clips.\n#### 72", "72"),
    ("#### 1,000\nextra line", "1000"),
    ("#### 3 then #### 4", "4"),
    ("no marker", None),
])
def test_last_hash_answer(text, expected):
    assert last_hash_answer(text) == expected


@pytest.mark.parametrize("completion, gold, expected", [
    (r"The answer is \boxed{\frac{1}{2}}.", "0.5", 1.0),
    (r"\boxed{0.5}", r"\frac12", 1.0),
    (r"\boxed{\dfrac{1}{2}}", r"\frac{1}{2}", 1.0),
    (r"\boxed{2} no wait \boxed{3}", "3", 1.0),
    (r"\boxed{3} no wait \boxed{2}", "3", 0.0),                     # only the last box counts
    (r"\boxed{x^2+2x+1}", "(x+1)^2", 1.0),                          # symbolic equivalence
    (r"\boxed{\sqrt{8}}", r"2\sqrt{2}", 1.0),
    (r"\boxed{10\%}", "10", 1.0),                                    # math-verify drops percent signs
    (r"\boxed{}", "0", 0.0),                                         # empty box
    ("The answer is 3.", "3", 0.0),                                  # no box: nothing to grade
    (r"\boxed{3", "3", 0.0),                                         # unclosed box
])
def test_math_accuracy_boxed(completion, gold, expected):
    assert math_accuracy([""], [completion], answer=[gold]).tolist() == [expected]


def test_math_accuracy_gsm8k_format_and_errors():
    out = math_accuracy(["", "", ""], ["so #### 1,234", "#### 1233", r"\boxed{1234}"], answer=["1234"] * 3,
                        answer_format="gsm8k")
    np.testing.assert_array_equal(out, [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="unknown answer_format 'hash'; known: boxed, gsm8k"):
        math_accuracy([""], ["x"], answer=["1"], answer_format="hash")
    with pytest.raises(ValueError, match="answer has 2 entries for 1 completions"):
        math_accuracy([""], ["x"], answer=["1", "2"])


def test_equivalence_works_outside_the_main_thread():
    """math-verify's timeouts use SIGALRM; in another thread they are switched off instead of raising."""
    results = []
    worker = threading.Thread(target=lambda: results.append(equivalent(r"\frac{2}{4}", "0.5")))
    worker.start()
    worker.join()
    assert results == [True]


@pytest.mark.parametrize("completion, expected", [
    ("1. Add 2 and 3.\n2. Double it.\nSo \\boxed{10}", 1.0),
    ("First add, then double: \\boxed{10}", 1.0),                   # two ordinal words
    ("Step 1: add. Step 2: double. \\boxed{10}", 1.0),
    ("- add\n- double\n\\boxed{10}", 1.0),                           # bullets
    ("1. Add 2 and 3.\n2. Double it.\nSo 10", 0.0),                  # steps but no box
    ("1. Add 2 and 3.\n2. Double it.\n\\boxed{ }", 0.0),             # box with only blanks
    ("It is \\boxed{10}", 0.0),                                      # a box but not step by step
    ("First, \\boxed{10}", 0.0),                                     # one ordinal word only
])
def test_math_clarity(completion, expected):
    assert math_clarity([""], [completion]).tolist() == [expected]
