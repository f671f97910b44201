"""Deterministic multi-step arithmetic word problems with difficulty levels and disjoint splits.

A problem is a start value and a sequence of operations applied left to right, told as a short
story: `ann has 7 pens, gets 5, gives 3. how many?` (answer 9). Its split is fixed by a
hash of its arithmetic content (`expression`, e.g. `7+5-3`), independent of the seed and of the
wording, so no arithmetic instance is ever in two splits; within a split problems are unique.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from typing import Sequence

SPLIT_FRACTIONS = (("train", 0.8), ("validation", 0.1), ("test", 0.1))
MAX_VALUE = 999  # multiplications never push a running value above this
MULTIPLIERS = {2: "doubles", 3: "triples"}
MAX_STALL = 20_000  # give up after this many draws in a row without a new problem

NAMES = ("ann", "eve", "kim", "liz", "bob", "tom", "sam", "max")
NOUNS = ("pens", "eggs", "cards", "coins", "books", "cups", "toys", "apples")
ADD_VERBS = ("gets", "finds", "buys")
SUB_VERBS = ("gives", "loses", "sells")


@dataclasses.dataclass(frozen=True)
class Level:
    """A difficulty level: operations per problem, largest +/- operand, allowed operators."""
    num_ops: int
    max_operand: int
    ops: str


LEVELS = {
    1: Level(num_ops=2, max_operand=9, ops="+-"),
    2: Level(num_ops=3, max_operand=9, ops="+-"),
    3: Level(num_ops=2, max_operand=20, ops="+-"),
    4: Level(num_ops=3, max_operand=20, ops="+-"),
    5: Level(num_ops=3, max_operand=20, ops="+-*"),
    6: Level(num_ops=4, max_operand=30, ops="+-*"),
}


def apply_op(value: int, op: str, operand: int) -> int:
    if op == "+":
        return value + operand
    if op == "-":
        return value - operand
    if op == "*":
        return value * operand
    raise ValueError(f"unknown operator {op!r}")


@dataclasses.dataclass(frozen=True)
class Problem:
    """One word problem; `operations` are (operator, operand) pairs applied left to right."""
    id: str
    prompt: str
    start: int
    operations: tuple[tuple[str, int], ...]
    difficulty: int

    @property
    def values(self) -> tuple[int, ...]:
        """The running value: start, then after each operation (the last is the answer)."""
        out = [self.start]
        for op, n in self.operations:
            out.append(apply_op(out[-1], op, n))
        return tuple(out)

    @property
    def answer(self) -> int:
        return self.values[-1]

    @property
    def num_ops(self) -> int:
        return len(self.operations)

    @property
    def expression(self) -> str:
        return canonical_expression(self.start, self.operations)


def canonical_expression(start: int, operations: Sequence[tuple[str, int]]) -> str:
    """The arithmetic content of a problem, e.g. `7+5-3` (read left to right)."""
    return str(start) + "".join(f"{op}{n}" for op, n in operations)


def _unit_hash(text: str) -> float:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2.0**64


def split_of(expression: str) -> str:
    """The split an arithmetic instance belongs to (a stable hash, independent of any seed)."""
    u, cumulative = _unit_hash("arithmetic-split/" + expression), 0.0
    for name, fraction in SPLIT_FRACTIONS:
        cumulative += fraction
        if u < cumulative:
            return name
    return SPLIT_FRACTIONS[-1][0]


def _sample_operations(rng: random.Random, level: Level) -> tuple[int, tuple[tuple[str, int], ...]]:
    start = value = rng.randint(2, level.max_operand)
    ops = []
    for _ in range(level.num_ops):
        feasible = [op for op in level.ops
                    if op == "+" or (op == "-" and value >= 1)
                    or (op == "*" and value >= 2 and value * min(MULTIPLIERS) <= MAX_VALUE)]
        op = rng.choice(feasible)
        if op == "+":
            n = rng.randint(1, level.max_operand)
        elif op == "-":
            n = rng.randint(1, min(level.max_operand, value))
        else:
            n = rng.choice([k for k in MULTIPLIERS if value * k <= MAX_VALUE])
        ops.append((op, n))
        value = apply_op(value, op, n)
    return start, tuple(ops)


def _story(rng: random.Random, start: int, operations: Sequence[tuple[str, int]]) -> str:
    """`ann has 7 pens, gets 5, gives 3. how many?`: every character is a token the policy reads, so the
    story is as short as it can be while still asking in words."""
    name = rng.choice(NAMES)
    parts = [f"{name} has {start} {rng.choice(NOUNS)}"]
    for op, n in operations:
        if op == "+":
            parts.append(f"{rng.choice(ADD_VERBS)} {n}")
        elif op == "-":
            parts.append(f"{rng.choice(SUB_VERBS)} {n}")
        else:
            parts.append(f"{MULTIPLIERS[n]} them")
    return ", ".join(parts) + ". how many?"


def generate_split(split: str, size: int, seed: int, difficulties: Sequence[int]) -> list[Problem]:
    """`size` unique problems of `split`; each level drawn uniformly from `difficulties`.

    Reproducible from (split, size, seed, difficulties); raises if the levels hold too few
    distinct problems for the split.
    """
    names = [s for s, _ in SPLIT_FRACTIONS]
    if split not in names:
        raise KeyError(f"unknown split {split!r}; splits: {', '.join(names)}")
    unknown = sorted(set(difficulties) - set(LEVELS))
    if unknown or not difficulties:
        raise ValueError(f"difficulties must be a non-empty subset of {sorted(LEVELS)}, "
                         f"got {list(difficulties)}")
    rng = random.Random(int(_unit_hash(f"arithmetic-seed/{seed}/{split}") * 2**53))
    problems: list[Problem] = []
    seen: set[str] = set()
    stall = 0  # consecutive draws that gave nothing new
    while len(problems) < size:
        if stall == MAX_STALL:
            raise ValueError(f"found only {len(problems)} distinct {split!r} problems at "
                             f"difficulties {list(difficulties)} ({MAX_STALL} draws in a row gave "
                             f"nothing new); ask for fewer than {size} or add other levels")
        level = rng.choice(list(difficulties))
        start, operations = _sample_operations(rng, LEVELS[level])
        expression = canonical_expression(start, operations)
        if expression in seen or split_of(expression) != split:
            stall += 1
            continue
        stall = 0
        seen.add(expression)
        problems.append(Problem(
            id=hashlib.sha256(expression.encode()).hexdigest()[:12],
            prompt=_story(rng, start, operations), start=start, operations=operations,
            difficulty=level))
    return problems
