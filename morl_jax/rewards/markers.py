r"""The answer and step markers shared by the accuracy and clarity rewards and the diagnostics.

Exact rules (flags re.IGNORECASE | re.ASCII; completions have no newlines, so the "line starts"
of the paper's rule become "sentence starts"):

* Answer marker ``ANSWER_MARKER_RE``: ``\banswer\s*:``. The graded answer is the integer right
  after the LAST marker: ``\s*(-?\d+)(?!\d|\.\d)`` (so ``answer: 9.5`` is not 9).
  A marker has a non-empty value if ``ANSWER_VALUE_RE`` = ``\banswer\s*:\s*[^\s.,;:!?]`` matches.
* Step marker ``ENUMERATOR_RE``:
  ``(?:^|[.;!?])\s*(?=(?:\d{1,2}[.)]|[a-j]\)|[-*])(?:\s|$))|\bstep\s*\d{1,2}\b``
  i.e. ``step N`` anywhere, or, at the start of the text or after a sentence end ``[.;!?]`` and
  optional spaces, ``N.`` / ``N)`` / ``a)``..``j)`` / a bullet ``-`` or ``*`` followed by whitespace
  or the end. In ``1. 7+5=12. 2. 12-3=9.`` only ``1.`` and ``2.`` count: ``12.`` follows ``=``,
  and the subtraction ``12-3`` is neither at a sentence start nor followed by a space.
* Ordinal words ``ORDINAL_RE``: ``\b(?:first|second|...|tenth|next|then)\b``.
* Clarity: a non-empty answer AND (>= 2 step markers OR >= 2 ordinal words), as in the paper.
"""

from __future__ import annotations

import re

_FLAGS = re.IGNORECASE | re.ASCII

ANSWER_MARKER_RE = re.compile(r"\banswer\s*:", _FLAGS)
ANSWER_VALUE_RE = re.compile(r"\banswer\s*:\s*[^\s.,;:!?]", _FLAGS)
_INTEGER_AFTER_MARKER_RE = re.compile(r"\s*(-?\d+)(?!\d|\.\d)", _FLAGS)
ENUMERATOR_RE = re.compile(
    r"(?:^|[.;!?])\s*(?=(?:\d{1,2}[.)]|[a-j]\)|[-*])(?:\s|$))|\bstep\s*\d{1,2}\b", _FLAGS)
ORDINAL_RE = re.compile(
    r"\b(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|next|then)\b", _FLAGS)


def parse_answer(completion: str) -> int | None:
    """The integer after the last answer marker, or None if there is no marker or no integer."""
    last = None
    for last in ANSWER_MARKER_RE.finditer(completion):
        pass
    if last is None:
        return None
    m = _INTEGER_AFTER_MARKER_RE.match(completion, last.end())
    return int(m.group(1)) if m else None


def has_answer_value(completion: str) -> bool:
    """True if some answer marker is followed by a non-empty value."""
    return ANSWER_VALUE_RE.search(completion) is not None


def count_step_markers(completion: str) -> int:
    """Number of enumerator / bullet / `step N` markers (see the module docstring)."""
    return sum(1 for _ in ENUMERATOR_RE.finditer(completion))


def count_ordinal_words(completion: str) -> int:
    """Number of ordinal words (first ... tenth, next, then)."""
    return sum(1 for _ in ORDINAL_RE.finditer(completion))


def is_clear(completion: str) -> bool:
    """The clarity rule: a non-empty answer and (>= 2 step markers or >= 2 ordinal words)."""
    return has_answer_value(completion) and (
        count_step_markers(completion) >= 2 or count_ordinal_words(completion) >= 2)
