"""Name -> reward function registry, so a config string picks a reward function."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import numpy as np

RewardFn = Callable[..., np.ndarray]
"""`fn(prompts, completions, **columns) -> float array [N]` (the TRL / Tunix convention)."""

_REGISTRY: dict[str, Callable[..., Any]] = {}


def register_reward_fn(name: str, fn: Callable[..., Any] | None = None):
    """Register a reward function or a class building one; usable as a decorator.

    A class is instantiated by `get_reward_fn(name, **kwargs)` (stateful rewards get a fresh
    instance each time); a plain function has its keyword options bound with `functools.partial`.
    """

    def _register(obj: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY and _REGISTRY[name] is not obj:
            raise ValueError(f"reward function {name!r} is already registered")
        _REGISTRY[name] = obj
        return obj

    return _register if fn is None else _register(fn)


def reward_fn_names() -> tuple[str, ...]:
    """The registered reward-function names, sorted."""
    return tuple(sorted(_REGISTRY))


def get_reward_fn(name: str, **kwargs: Any) -> RewardFn:
    """Build the reward function registered as `name`, with its keyword options `kwargs`."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown reward function {name!r}; known: {', '.join(reward_fn_names())}")
    obj = _REGISTRY[name]
    if inspect.isclass(obj):
        return obj(**kwargs)
    if not kwargs:
        return obj
    options = [p.name for p in inspect.signature(obj).parameters.values()
               if p.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        raise TypeError(f"reward function {name!r} has no option(s) {unknown}; options: {options}")
    return functools.update_wrapper(functools.partial(obj, **kwargs), obj)
