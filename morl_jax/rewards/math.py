r"""The dynamic-reward-weighting paper's math rewards (Lu et al. 2025, arXiv 2509.11452), on real model text.

* **accuracy** (`math_accuracy`): 1 if the answer in the completion's LAST `\boxed{...}` (or, with
  `answer_format="gsm8k"`, after its last `####`) is equivalent to the gold answer, else 0. Equivalence is
  math-verify's (symbolic, so `\frac12`, `0.5` and `1/2` agree); both sides are parsed as `$...$` LaTeX.
* **clarity** (`math_clarity`): 1 iff the completion has a non-empty `\boxed{...}` and looks step by step:
  at least two enumerators (`1.`, `a)`, `iv:`, `step 2-`, bullets `- * •`) or at least two ordinal words
  (first ... tenth, next, then). The patterns are the paper's (`math_format.py` of its code), verbatim.
* **conciseness** is `morl_jax.rewards.Conciseness` (policy tokens against the running mean).

`last_boxed` follows the extraction of the paper's code (verl's `last_boxed_only_string`): the last `\boxed`
(or `\fbox`), its braces matched with nesting; the `\boxed 5` form without braces runs to the next `$`.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Sequence

import numpy as np

from morl_jax.rewards.registry import register_reward_fn

ANSWER_FORMATS = ("boxed", "gsm8k")

# The paper's clarity patterns (math_format.py), unchanged.
BOXED_RE = re.compile(r"\\boxed\{\s*[^}\s][^}]*\}", re.S)
ENUMERATOR_RE = re.compile(
    r"""
        (?:                                     # numbered / lettered / roman
            (?:^|\s|\()                         # left boundary
            (?:\bstep\s*)?                      # optional "step"
            (?:\d+|[a-z]|[ivxlcdm]+)            # token
            [\)\.\:\-]                          # closing punctuation
        )
        |                                       # bullets
        (?:^|\s)[-*•]\s+                        # boundary + bullet + space
    """,
    re.I | re.X | re.M,
)
ORDINAL_RE = re.compile(r"\b(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|next|then)\b", re.I)


def last_boxed(text: str) -> str | None:
    r"""The content of the last `\boxed{...}` / `\fbox{...}` of `text` (nested braces matched), the text after
    the last `\boxed ` up to the next `$`, or None (no box, or its braces never close)."""
    if "\\boxed " in text:
        return text.split("\\boxed ")[-1].split("$")[0].strip()
    start = text.rfind("\\boxed")
    name = "\\boxed"
    if start < 0:
        start, name = text.rfind("\\fbox"), "\\fbox"
        if start < 0:
            return None
    depth, open_at = 0, None
    for i in range(start + len(name), len(text)):
        if text[i] == "{":
            depth += 1
            if open_at is None:
                open_at = i
        elif text[i] == "}":
            depth -= 1
            if depth == 0 and open_at is not None:
                return text[open_at + 1:i]
    return None


def last_hash_answer(text: str) -> str | None:
    """The text after the last `####` (GSM8K's answer marker) up to the end of its line, without thousands
    separators; None without a marker."""
    if "####" not in text:
        return None
    return text.rsplit("####", 1)[1].split("\n", 1)[0].strip().replace(",", "")


def _timeouts() -> dict[str, Any]:
    """math-verify's timeouts use SIGALRM, which works only in the main thread; elsewhere they must be off."""
    if threading.current_thread() is threading.main_thread():
        return {}
    return {"parsing_timeout": None}


def equivalent(answer: str, gold: str) -> bool:
    """math-verify equivalence of a predicted answer and a gold answer, both LaTeX without `$` delimiters."""
    import math_verify  # noqa: PLC0415  (sympy and its LaTeX parser: 0.3 s of start-up for runs that never call it)

    timeouts = _timeouts()
    gold_parsed = math_verify.parse(f"${gold}$", **timeouts)
    answer_parsed = math_verify.parse(f"${answer}$", **timeouts)
    if not gold_parsed or not answer_parsed:
        return False
    verify_timeout = {} if not timeouts else {"timeout_seconds": None}
    return bool(math_verify.verify(gold_parsed, answer_parsed, **verify_timeout))


def extract_answer(completion: str, answer_format: str = "boxed") -> str | None:
    r"""The graded answer of a completion: its last `\boxed{}` content ("boxed") or its last `####` ("gsm8k")."""
    if answer_format == "boxed":
        return last_boxed(completion)
    if answer_format == "gsm8k":
        return last_hash_answer(completion)
    raise ValueError(f"unknown answer_format {answer_format!r}; known: {', '.join(ANSWER_FORMATS)}")


@register_reward_fn("math_accuracy")
def math_accuracy(prompts: Sequence[str], completions: Sequence[str], *, answer: Sequence[Any],
                  answer_format: str = "boxed", **_: Any) -> np.ndarray:
    r"""1.0 if the completion's answer (last `\boxed{}`, or last `####` with `answer_format="gsm8k"`) is
    math-verify-equivalent to the gold `answer`, else 0.0 (also when it has no answer or it is empty)."""
    del prompts
    if answer_format not in ANSWER_FORMATS:
        raise ValueError(f"unknown answer_format {answer_format!r}; known: {', '.join(ANSWER_FORMATS)}")
    if len(answer) != len(completions):
        raise ValueError(f"answer has {len(answer)} entries for {len(completions)} completions")
    out = []
    for completion, gold in zip(completions, answer):
        predicted = extract_answer(completion, answer_format)
        out.append(1.0 if predicted and predicted.strip() and equivalent(predicted, str(gold)) else 0.0)
    return np.array(out, dtype=np.float64)


def is_step_by_step(text: str) -> bool:
    """At least two enumerators or at least two ordinal words (the paper's rule)."""
    return len(ENUMERATOR_RE.findall(text)) >= 2 or len(ORDINAL_RE.findall(text)) >= 2


@register_reward_fn("math_clarity")
def math_clarity(prompts: Sequence[str], completions: Sequence[str], **_: Any) -> np.ndarray:
    r"""1.0 iff a non-empty `\boxed{...}` is present and the completion is step by step, else 0.0."""
    del prompts
    return np.array([1.0 if BOXED_RE.search(c) and is_step_by_step(c) else 0.0 for c in completions],
                    dtype=np.float64)
