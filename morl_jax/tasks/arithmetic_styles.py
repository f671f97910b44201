"""Solutions of arithmetic problems in several styles, for the supervised warm start.

Styles (the markers are the ones the accuracy and clarity rewards read):
  terse    `answer: 9`                                   short, not clear
  steps    `1. 7+5=12. 2. 12-3=9. answer: 9`             one numbered step per operation
  verbose  `1. add 5 to 7: 7+5=12. 2. take 3 from ...`  the steps with words, clearly longer
  mistake  steps with one wrong result, carried through  (so the final answer is wrong)
  skip     two operations merged into one step           (fewer steps than operations)
"""

from __future__ import annotations

import random
from typing import Mapping, Sequence

from morl_jax.tasks.arithmetic_problems import MULTIPLIERS, Problem, apply_op
from morl_jax.tasks.base import style_probabilities

STYLES = ("terse", "steps", "verbose", "mistake", "skip")
DEFAULT_STYLE_MIX = {"terse": 0.2, "steps": 0.3, "verbose": 0.2, "mistake": 0.15, "skip": 0.15}


def _answer(value: int) -> str:
    return f"answer: {value}"


def _numbered(steps: Sequence[str]) -> str:
    return " ".join(f"{i}. {s}" for i, s in enumerate(steps, start=1))


def _equation(prev: int, op: str, n: int, result: int) -> str:
    return f"{prev}{op}{n}={result}."


def _verbose_step(prev: int, op: str, n: int, result: int) -> str:
    if op == "+":
        words = f"add {n} to {prev}"
    elif op == "-":
        words = f"take {n} from {prev}"
    else:
        words = f"{MULTIPLIERS[n][:-1]} {prev}"  # "doubles" -> "double"
    return f"{words}: {prev}{op}{n}={result}."


def terse(problem: Problem) -> str:
    return _answer(problem.answer)


def steps(problem: Problem) -> str:
    v = problem.values
    eqs = [_equation(v[i], op, n, v[i + 1]) for i, (op, n) in enumerate(problem.operations)]
    return f"{_numbered(eqs)} {_answer(problem.answer)}"


def verbose(problem: Problem) -> str:
    v = problem.values
    eqs = [_verbose_step(v[i], op, n, v[i + 1]) for i, (op, n) in enumerate(problem.operations)]
    return f"{_numbered(eqs)} {_answer(problem.answer)}"


def _carry_error(problem: Problem, j: int, error: int) -> tuple[list[int], list[str]]:
    """Values and equations when step j's result is off by `error` and later steps build on it."""
    values, eqs = [problem.start], []
    for i, (op, n) in enumerate(problem.operations):
        result = apply_op(values[-1], op, n) + (error if i == j else 0)
        eqs.append(_equation(values[-1], op, n, result))
        values.append(result)
    return values, eqs


def mistake(problem: Problem, rng: random.Random) -> str:
    """Steps where one result is off by 1-3 and later steps compute from the wrong value.

    The error never cancels (+/- carry it unchanged, x2/x3 scale it), so the answer is wrong;
    a negative error that would make a value negative is flipped to positive.
    """
    j, delta = rng.randrange(problem.num_ops), rng.randint(1, 3)
    values, eqs = _carry_error(problem, j, rng.choice((-delta, delta)))
    if min(values) < 0:
        values, eqs = _carry_error(problem, j, delta)
    return f"{_numbered(eqs)} {_answer(values[-1])}"


def skip(problem: Problem, rng: random.Random) -> str:
    """Steps with two consecutive operations merged into one equation (num_ops - 1 steps)."""
    if problem.num_ops < 2:
        raise ValueError(f"skip needs >= 2 operations, problem {problem.id} has {problem.num_ops}")
    j = rng.randrange(problem.num_ops - 1)
    v, ops, eqs = problem.values, problem.operations, []
    i = 0
    while i < problem.num_ops:
        op, n = ops[i]
        if i == j:
            op2, n2 = ops[i + 1]
            lhs = f"{v[i]}{op}{n}"
            if op2 == "*" and op in "+-":
                lhs = f"({lhs})"
            eqs.append(f"{lhs}{op2}{n2}={v[i + 2]}.")
            i += 2
        else:
            eqs.append(_equation(v[i], op, n, v[i + 1]))
            i += 1
    return f"{_numbered(eqs)} {_answer(problem.answer)}"


def render(problem: Problem, style: str, rng: random.Random) -> str:
    """The solution of `problem` in `style`."""
    if style == "terse":
        return terse(problem)
    if style == "steps":
        return steps(problem)
    if style == "verbose":
        return verbose(problem)
    if style == "mistake":
        return mistake(problem, rng)
    if style == "skip":
        return skip(problem, rng)
    raise KeyError(f"unknown style {style!r}; known: {', '.join(STYLES)}")


def sft_examples(problems: Sequence[Problem], style_mix: Mapping[str, float] | None,
                 seed: int) -> list[tuple[str, str, str]]:
    """One (prompt, completion, style) per problem, the style drawn from `style_mix`."""
    probs = style_probabilities(DEFAULT_STYLE_MIX if style_mix is None else style_mix, STYLES)
    rng = random.Random(seed)
    names, weights = list(probs), list(probs.values())
    out = []
    for p in problems:
        style = rng.choices(names, weights)[0]
        out.append((p.prompt, render(p, style, rng), style))
    return out
