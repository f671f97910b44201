"""Reward functions named in a config: `{"name", "fn", "maximise", "kwargs", "worst"}` -> a RewardSet.

`fn` is either an import path `package.module:function` (any callable with TRL's signature
`fn(prompts, completions, **columns) -> list[float]`, or a class whose instances are such callables) or the
name of a registered reward function (`morl_jax.rewards.reward_fn_names()`). `kwargs` are bound to a function
(its keyword parameters) or passed to a class's constructor. `maximise=False` declares a reward to minimise
(RL then maximises its negation). `worst` is the reward's worst value, the hypervolume reference of its
validation objective (None: unknown).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
from typing import Any, Callable, Mapping, Sequence

from morl_jax.rewards.registry import RewardFn, get_reward_fn, reward_fn_names
from morl_jax.rewards.reward_set import RewardSet

SPEC_KEYS = ("name", "fn", "maximise", "kwargs", "worst")


@dataclasses.dataclass(frozen=True)
class RewardSpec:
    """One configured reward: its name, the function (import path or registered name), direction, options."""

    name: str
    fn: str
    maximise: bool = True
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    worst: float | None = None


def parse_specs(specs: Sequence[Mapping[str, Any] | RewardSpec], where: str = "rewards") -> tuple[RewardSpec, ...]:
    """Validated RewardSpecs from config dicts; errors name the entry (`rewards[1].fn`) and the problem."""
    if isinstance(specs, (str, bytes)) or not isinstance(specs, Sequence) or not specs:
        raise ValueError(f"{where} must be a non-empty list of reward specs "
                         f"{{'name', 'fn', 'maximise', 'kwargs', 'worst'}}, got {specs!r}")
    out = []
    for i, spec in enumerate(specs):
        at = f"{where}[{i}]"
        if isinstance(spec, RewardSpec):
            spec = dataclasses.asdict(spec)
        if not isinstance(spec, Mapping):
            raise ValueError(f"{at} must be a dict with keys {list(SPEC_KEYS)}, got {spec!r}")
        unknown = sorted(set(spec) - set(SPEC_KEYS))
        if unknown:
            raise ValueError(f"{at} has unknown key(s) {unknown}; known: {', '.join(SPEC_KEYS)}")
        for key in ("name", "fn"):
            if not isinstance(spec.get(key), str) or not spec.get(key):
                raise ValueError(f"{at}.{key} must be a non-empty string, got {spec.get(key)!r}")
        if not isinstance(spec.get("maximise", True), bool):
            raise ValueError(f"{at}.maximise must be True or False, got {spec['maximise']!r}")
        kwargs = spec.get("kwargs") or {}
        if not isinstance(kwargs, Mapping):
            raise ValueError(f"{at}.kwargs must be a dict, got {kwargs!r}")
        worst = spec.get("worst")
        if worst is not None and not isinstance(worst, (int, float)):
            raise ValueError(f"{at}.worst must be a number or None, got {worst!r}")
        out.append(RewardSpec(spec["name"], spec["fn"], spec.get("maximise", True), dict(kwargs),
                              None if worst is None else float(worst)))
    names = [s.name for s in out]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{where}: reward names must be unique, {repeated} repeat")
    return tuple(out)


def import_object(path: str) -> Any:
    """The object at `package.module:attribute` (the attribute may be dotted, e.g. `mod:Class.method`)."""
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"{path!r} is not an import path of the form 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"cannot import module {module_name!r} of {path!r}: {e}") from e
    obj = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"module {module_name!r} has no attribute {attribute!r} (from {path!r})")
        obj = getattr(obj, part)
    return obj


def build_fn(spec: RewardSpec) -> RewardFn:
    """The callable of one spec, options bound (a class is instantiated with them)."""
    kwargs = dict(spec.kwargs)
    if ":" not in spec.fn:
        if spec.fn not in reward_fn_names():
            raise ValueError(f"reward {spec.name!r}: {spec.fn!r} is neither an import path 'package.module:function' "
                             f"nor a registered reward function ({', '.join(reward_fn_names())})")
        try:
            return get_reward_fn(spec.fn, **kwargs)
        except TypeError as e:
            raise ValueError(f"reward {spec.name!r}: {e}") from e
    obj = import_object(spec.fn)
    if not callable(obj):
        raise ValueError(f"reward {spec.name!r}: {spec.fn!r} is not callable")
    if inspect.isclass(obj):
        try:
            return obj(**kwargs)
        except TypeError as e:
            raise ValueError(f"reward {spec.name!r}: {spec.fn}(**{kwargs}) failed: {e}") from e
    if not kwargs:
        return obj
    _check_options(obj, kwargs, spec)
    return functools.update_wrapper(functools.partial(obj, **kwargs), obj)


def _check_options(fn: Callable[..., Any], kwargs: Mapping[str, Any], spec: RewardSpec) -> None:
    """Options must be named parameters after (prompts, completions): **kwargs receives the data columns, so an
    option it would swallow is a typo."""
    reserved = sorted({"prompts", "completions"} & set(kwargs))
    if reserved:
        raise ValueError(f"reward {spec.name!r}: kwargs may not set {reserved} (the loop passes them)")
    params = inspect.signature(fn).parameters
    accepted = [n for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)][2:]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"reward {spec.name!r}: {spec.fn} has no option(s) {unknown}; options: {accepted}")


def build_reward_set(specs: Sequence[Mapping[str, Any] | RewardSpec]) -> RewardSet:
    """A RewardSet of the configured rewards, in order, with their directions."""
    parsed = parse_specs(specs)
    return RewardSet({s.name: build_fn(s) for s in parsed}, maximise={s.name: s.maximise for s in parsed})
