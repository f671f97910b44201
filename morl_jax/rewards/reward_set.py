"""RewardSet: K named reward functions evaluated together into a validated [N, K] array."""

from __future__ import annotations

import copy
import inspect
from typing import Any, Mapping, Sequence

import numpy as np

from morl_jax.rewards.registry import RewardFn

_SHOW = 200  # characters of a prompt / completion quoted in an error message


def _short(text: str) -> str:
    text = str(text)
    return repr(text if len(text) <= _SHOW else text[:_SHOW] + "...")


class RewardFunctionError(ValueError):
    """A reward function raised or returned bad values; names the function and the sample."""

    def __init__(self, message: str, function: str, index: int | None = None,
                 prompt: str | None = None, completion: str | None = None):
        super().__init__(message)
        self.function = function
        self.index = index
        self.prompt = prompt
        self.completion = completion


def _is_per_sample(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


def _take(columns: Mapping[str, Any], i: int) -> dict[str, Any]:
    """Sample i of every per-sample column, as length-1 columns; other values pass through."""
    out = {}
    for k, v in columns.items():
        if isinstance(v, np.ndarray):
            out[k] = v[i:i + 1]
        elif _is_per_sample(v):
            out[k] = type(v)(v[i:i + 1])
        else:
            out[k] = v
    return out


class RewardSet:
    """An ordered, named set of K reward functions: `rs(prompts, completions, **columns)` -> [N, K].

    Columns that are lists / tuples / arrays must have one entry per sample and are passed to
    every function (each takes what it needs and ignores the rest via **kwargs); other values
    pass through unchanged. Stateful functions (with `state_dict`) are collected by
    `state_dict()`; `train()` / `eval()` switch the functions that have a training mode (the
    conciseness running mean is updated by training batches only). On any error the stateful
    functions are rolled back to their state before the call.

    `maximise` (default: all True) says which rewards are to be maximised; RL always maximises, so the
    column of a reward to minimise is its function's value negated (`signs` holds the factors).
    """

    def __init__(self, fns: Mapping[str, RewardFn], maximise: Mapping[str, bool] | None = None):
        if not fns:
            raise ValueError("RewardSet needs at least one reward function")
        for name, fn in fns.items():
            if not isinstance(name, str) or not name:
                raise TypeError(f"reward names must be non-empty strings, got {name!r}")
            if not callable(fn):
                raise TypeError(f"reward {name!r} is not callable: {fn!r}")
        self._fns = dict(fns)
        maximise = dict(maximise or {})
        unknown = sorted(set(maximise) - set(self._fns))
        if unknown:
            raise KeyError(f"maximise names unknown reward(s) {unknown}; rewards: {list(self._fns)}")
        self.signs = np.array([1.0 if maximise.get(name, True) else -1.0 for name in self._fns])
        self._signatures = {name: inspect.signature(fn) for name, fn in self._fns.items()}
        self.train(True)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._fns)

    def __len__(self) -> int:
        return len(self._fns)

    def __getitem__(self, name: str) -> RewardFn:
        return self._fns[name]

    def __repr__(self) -> str:
        return f"RewardSet({list(self.names)}, training={self.training})"

    def train(self, mode: bool = True) -> "RewardSet":
        """Set training mode on the set and on every function that has `train`."""
        self.training = bool(mode)
        for fn in self._fns.values():
            if hasattr(fn, "train"):
                fn.train(self.training)
        return self

    def eval(self) -> "RewardSet":
        return self.train(False)

    def _stateful(self) -> dict[str, Any]:
        return {n: f for n, f in self._fns.items() if hasattr(f, "state_dict")}

    def state_dict(self) -> dict[str, Any]:
        """{name: state} of every stateful function (deep copies)."""
        return {n: copy.deepcopy(f.state_dict()) for n, f in self._stateful().items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        stateful = self._stateful()
        if set(state) != set(stateful):
            raise KeyError(f"RewardSet state has keys {sorted(state)}; "
                           f"the stateful functions are {sorted(stateful)}")
        for n, f in stateful.items():
            f.load_state_dict(copy.deepcopy(state[n]))

    def __call__(self, prompts: Sequence[str], completions: Sequence[str],
                 **columns: Any) -> np.ndarray:
        prompts, completions = list(prompts), list(completions)
        n = len(completions)
        if len(prompts) != n:
            raise ValueError(f"got {len(prompts)} prompts but {n} completions")
        for k, v in columns.items():
            if _is_per_sample(v) and len(v) != n:
                raise ValueError(f"column {k!r} has {len(v)} entries, expected {n} (one per sample)")
        snapshot = self.state_dict()
        try:
            out = np.empty((n, len(self._fns)), dtype=np.float32)
            for j, name in enumerate(self._fns):
                out[:, j] = self.signs[j] * self._call_one(name, prompts, completions, columns, snapshot)
            return out
        except BaseException:
            self.load_state_dict(snapshot)
            raise

    def _call_one(self, name: str, prompts: list[str], completions: list[str],
                  columns: Mapping[str, Any], snapshot: Mapping[str, Any]) -> np.ndarray:
        fn, n = self._fns[name], len(completions)
        try:
            self._signatures[name].bind(prompts, completions, **columns)
        except TypeError as e:
            raise RewardFunctionError(
                f"reward function {name!r} cannot be called with columns {sorted(columns)}: {e}",
                name) from e
        try:
            raw = fn(prompts, completions, **columns)
        except Exception as e:  # locate the sample, then re-raise with it named
            raise self._locate(name, prompts, completions, columns, snapshot, e) from e
        try:
            values = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise RewardFunctionError(
                f"reward function {name!r} returned values that are not numbers: {e}", name) from e
        if values.shape != (n,):
            raise RewardFunctionError(
                f"reward function {name!r} returned shape {values.shape}, expected ({n},) "
                f"(one value per completion)", name)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            i = int(bad[0])
            raise RewardFunctionError(
                f"reward function {name!r} returned {values[i]} for sample {i} "
                f"({bad.size} non-finite value(s) in total); prompt={_short(prompts[i])}, "
                f"completion={_short(completions[i])}", name, i, prompts[i], completions[i])
        return values

    def _locate(self, name: str, prompts: list[str], completions: list[str],
                columns: Mapping[str, Any], snapshot: Mapping[str, Any],
                error: Exception) -> RewardFunctionError:
        """Retry one sample at a time to find the first that raises (state restored after)."""
        fn = self._fns[name]
        try:
            for i in range(len(completions)):
                try:
                    fn([prompts[i]], [completions[i]], **_take(columns, i))
                except Exception as e:
                    return RewardFunctionError(
                        f"reward function {name!r} raised {type(e).__name__}: {e} on sample {i}; "
                        f"prompt={_short(prompts[i])}, completion={_short(completions[i])}",
                        name, i, prompts[i], completions[i])
        finally:
            self.load_state_dict(snapshot)
        return RewardFunctionError(
            f"reward function {name!r} raised {type(error).__name__}: {error} on the batch of "
            f"{len(completions)} samples, but on no single sample alone", name)
