"""Diagnostics that expose reward gaming on the arithmetic benchmark.

A written step is an equation `lhs=rhs` whose left side is an integer expression over + - * and
parentheses with at least one binary operator (e.g. `12-3=9`, `(7+5)*2=24`); it is right if the
left side evaluates (usual precedence) to the right side. Comparing `steps_written` with the
problem's `num_ops`, and markers with equations, shows skipped steps and empty step markers.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from morl_jax.rewards import markers

EQUATION_RE = re.compile(r"([0-9()+\-*]+)=\s*(-?\d+)", re.ASCII)
_TOKEN_RE = re.compile(r"\d+|[()+\-*]", re.ASCII)
_MAX_LHS = 64  # longer left sides are not evaluated (keeps the integers small)


@dataclasses.dataclass(frozen=True)
class Step:
    """One written equation: its left side, the result claimed, and the true value."""
    lhs: str
    claimed: int
    actual: int

    @property
    def correct(self) -> bool:
        return self.claimed == self.actual


class _Parser:
    """Recursive descent over + - * ( ) and integers; counts binary operators."""

    def __init__(self, tokens: list[str]):
        self.tokens, self.i, self.binary_ops = tokens, 0, 0

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise SyntaxError("unexpected end")
        self.i += 1
        return token

    def expr(self) -> int:
        value = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            self.binary_ops += 1
            value = value + self.term() if op == "+" else value - self.term()
        return value

    def term(self) -> int:
        value = self.factor()
        while self.peek() == "*":
            self.take()
            self.binary_ops += 1
            value *= self.factor()
        return value

    def factor(self) -> int:
        token = self.take()
        if token == "-":
            return -self.factor()
        if token == "(":
            value = self.expr()
            if self.take() != ")":
                raise SyntaxError("missing )")
            return value
        if token.isdigit():
            return int(token)
        raise SyntaxError(f"unexpected {token!r}")


def evaluate_expression(text: str) -> tuple[int, int] | None:
    """(value, number of binary operators) of an integer expression, or None if malformed."""
    if len(text) > _MAX_LHS:
        return None
    tokens = _TOKEN_RE.findall(text)
    if not tokens or "".join(tokens) != text:
        return None
    parser = _Parser(tokens)
    try:
        value = parser.expr()
    except SyntaxError:
        return None
    return (value, parser.binary_ops) if parser.i == len(tokens) else None


def written_steps(completion: str) -> list[Step]:
    """The equations of a completion, in order (see the module docstring)."""
    out = []
    for m in EQUATION_RE.finditer(completion):
        parsed = evaluate_expression(m.group(1))
        if parsed is not None and parsed[1] >= 1:
            out.append(Step(m.group(1), int(m.group(2)), parsed[0]))
    return out


def diagnose(completion: str, answer: Any, num_ops: int) -> dict[str, Any]:
    """Per-completion facts: parsed answer, correctness, steps vs operations, markers, clarity."""
    steps = written_steps(completion)
    parsed = markers.parse_answer(completion)
    return {
        "answer": parsed,
        "correct": parsed is not None and parsed == int(answer),
        "steps_written": len(steps),
        "step_errors": sum(not s.correct for s in steps),
        "num_ops": int(num_ops),
        "step_markers": markers.count_step_markers(completion),
        "clear": markers.is_clear(completion),
    }
