"""Every knob of an experiment with its default (`base_config`), the one config loader (`load`), `validate`
(run before anything compiles or writes) and the typed settings the loop builds from a config.

Config files in `configs/` start from `base_config()` and change values; a key that is not here is a typo,
and `validate` (or `override`, for `--config.a.b=value` strings) names it with the closest known key instead of
letting it be silently ignored.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import inspect
import os
from collections.abc import Iterator, Sequence
from typing import Any

import ml_collections

from morl_jax import models, parallel, tasks
from morl_jax.optimizers import SCHEDULES, OptimizerSettings
from morl_jax.rl import ADVANTAGE_ESTIMATORS, KL_ESTIMATORS, LOSS_AGGREGATIONS
from morl_jax.rl.losses import KL_LOSS_ESTIMATORS
from morl_jax.rl.step import ACCUMULABLE_AGGREGATIONS, WHITENING, UpdateSettings
from morl_jax.weighting import WEIGHT_OPTIMIZERS, WeightOptimizer, chain, get_weight_optimizer, parse_transform


class ConfigError(ValueError):
    """An invalid experiment configuration; the message names the offending key."""


def base_config() -> ml_collections.ConfigDict:
    """The full set of keys, with defaults that train the built-in arithmetic task on one CPU."""
    c = ml_collections.ConfigDict()
    c.seed = 0

    c.task = ml_collections.ConfigDict()
    c.task.name = "arithmetic"
    c.task.kwargs = ml_collections.ConfigDict()  # checked against the task constructor's signature
    c.task.rewards = ml_collections.ConfigDict()  # options of the task's reward set (e.g. conciseness mode)

    c.model = ml_collections.ConfigDict()
    c.model.preset = "arith-cpu"
    c.model.path = ""  # a Hugging Face model directory; overrides the preset when set
    c.model.tokenizer = "char"  # "char" or a directory holding tokenizer.json
    c.model.dtype = "float32"
    c.model.chat_template = False  # True: each prompt is a user turn of the tokenizer's chat template (if it has one)
    c.model.overrides = ml_collections.ConfigDict()  # ModelConfig fields to change on the preset
    # Memory levers: recompute each layer in the backward pass ("none", "full", "dots", "dots_no_batch": what a
    # layer keeps), one scanned layer stack instead of a loop of layers, LoRA adapters (rank 0 = train every weight;
    # > 0 trains and checkpoints only the adapters of `lora_targets`, scaled by lora_alpha / lora_rank).
    c.model.remat = "none"
    c.model.scan_layers = False
    c.model.lora_rank = 0
    c.model.lora_alpha = 16.0
    c.model.lora_targets = models.LORA_TARGETS

    c.sft = ml_collections.ConfigDict()
    c.sft.steps = 0  # 0 disables the supervised warm start
    c.sft.batch_size = 64
    c.sft.num_examples = 20_000
    c.sft.learning_rate = 3e-3
    c.sft.warmup_steps = 50
    c.sft.weight_decay = 0.0
    c.sft.style_mix = ml_collections.ConfigDict()  # task-specific solution styles -> probabilities
    c.sft.cache_dir = ""  # where the warm start is cached; "" = WORKDIR/sft (share it across runs of a sweep)
    c.sft.seed = -1  # seed of the initial policy and its warm start; -1: the run's seed

    c.rl = ml_collections.ConfigDict()
    c.rl.estimator = "grpo"
    c.rl.level = "reward"  # "reward": scalarise then estimate; "advantage": estimate per objective, combine
    c.rl.eps = 0.0  # the estimator's epsilon; 0 keeps its own default (1e-6 group std, 1e-8 whitening)
    c.rl.whitening = "sample"  # batch whitening (reinforce_pp*, gdpo) per "sample", or per "token" as verl does
    c.rl.num_steps = 100
    c.rl.shuffle_prompts = True  # False: the train split in file order (as the peer workload)
    c.rl.prompts_per_step = 16
    c.rl.group_size = 8
    c.rl.max_prompt_length = 0  # 0: the longest prompt of the task's splits
    c.rl.max_new_tokens = 128  # the generation limit; the arithmetic task's max_completion_len must match
    c.rl.temperature = 1.0
    c.rl.top_k = 0
    c.rl.top_p = 1.0
    c.rl.epochs = 1
    c.rl.minibatches = 1
    c.rl.micro_batches = 1  # gradient accumulation: each minibatch in this many micro-batches, one optimizer step
    c.rl.clip_low = 0.2
    c.rl.clip_high = 0.28
    c.rl.dual_clip = 0.0  # > 1 enables dual-clip with that constant
    c.rl.loss_aggregation = "token-mean"
    c.rl.kl_coef = 0.0
    c.rl.kl_estimator = "k3"  # k3 (verl low_var_kl) or k2 (verl mse); k1 has zero expected gradient

    c.optimizer = ml_collections.ConfigDict()
    c.optimizer.learning_rate = 1e-3
    c.optimizer.schedule = "constant"  # constant | linear | cosine
    c.optimizer.warmup_steps = 0
    c.optimizer.b1 = 0.9
    c.optimizer.b2 = 0.999
    c.optimizer.eps = 1e-8
    c.optimizer.weight_decay = 0.0
    c.optimizer.grad_clip = 1.0

    c.weighting = ml_collections.ConfigDict()
    c.weighting.name = "fixed"
    c.weighting.weights = (1 / 3, 1 / 3, 1 / 3)  # fixed / starting weights of optimizers that take them; None: task's
    c.weighting.kwargs = ml_collections.ConfigDict()  # checked against the optimizer's signature
    c.weighting.post = ()  # transforms after the optimizer, e.g. ("floor:0.05", "ema:0.9", "simplex")
    c.weighting.allow_scale_only = False  # allow a scale-only optimizer under a scale-invariant estimator (a no-op)
    # Validation signals (optimizers that read eval_point / hv_gain / ...): the validation split, every
    # `eval_every` steps (the paper: 1), decoded `eval_mode`, archive reference "initial" (the paper) or "worst".
    c.weighting.eval_every = 1
    c.weighting.eval_mode = "greedy"
    c.weighting.reference = "initial"
    # The Gram matrix signal (optimizers that read gram): transformer layers [start, stop) of the per-objective
    # gradients, () = every parameter; each gradient's global-norm clip (the paper: 1); reuse of the K
    # gradients for the update when its loss is linear in the advantages.
    c.weighting.gram_layers = ()
    c.weighting.gram_clip_norm = 1.0
    c.weighting.fused_update = True

    c.eval = ml_collections.ConfigDict()
    c.eval.every = 10
    c.eval.num_prompts = 64
    c.eval.num_samples = 4  # samples per prompt for the sampled validation point
    c.eval.split = "validation"  # selects checkpoints and feeds the weight optimizers
    c.eval.test_split = "test"  # reports them ("" = none)
    c.eval.reference = "worst"  # "worst" (the task's worst-case point) or "initial" (the initial model's)

    c.checkpoint = ml_collections.ConfigDict()
    c.checkpoint.every = 25
    c.checkpoint.max_to_keep = 2

    c.log = ml_collections.ConfigDict()
    c.log.console = True
    c.log.plots = True  # pareto_front.png and weights.png when the run ends

    # The device mesh: axis sizes within a slice (`shape`, -1: all remaining devices), a further split across slices
    # (`dcn`, multi-slice TPU or hosts: their product is the number of slices), and the logical-axis rules (MaxText
    # style): each logical name of a parameter or activation dimension -> a mesh axis, a tuple of them, or None
    # (replicated). A rule that does not divide a dimension is an error naming the parameter.
    c.mesh = ml_collections.ConfigDict()
    c.mesh.shape = ml_collections.ConfigDict(dict(data=-1, fsdp=1, tensor=1))
    c.mesh.dcn = ml_collections.ConfigDict(dict(data=1, fsdp=1, tensor=1))
    c.mesh.rules = ml_collections.ConfigDict(dict(parallel.DEFAULT_RULES), type_safe=False)
    return c


def _leaf_paths(cfg: ml_collections.ConfigDict, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in cfg.items():
        path = f"{prefix}{key}"
        if isinstance(value, ml_collections.ConfigDict):
            yield path, value
            yield from _leaf_paths(value, path + ".")
        else:
            yield path, value


_FREE_FORM = ("task.kwargs", "task.rewards", "model.overrides", "sft.style_mix", "weighting.kwargs")


def _check_keys(config: ml_collections.ConfigDict) -> None:
    known = dict(_leaf_paths(base_config()))
    for path, value in _leaf_paths(config):
        if any(path.startswith(f + ".") for f in _FREE_FORM):
            continue
        if path not in known:
            close = difflib.get_close_matches(path, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown config key '{path}'{hint}")
        default = known[path]
        if isinstance(default, ml_collections.ConfigDict) != isinstance(value, ml_collections.ConfigDict):
            raise ConfigError(f"config key '{path}' must be {'a section' if isinstance(default, ml_collections.ConfigDict) else 'a value'}")


def _require(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"config key '{key}': {message}")


def _check_kwargs(fn: Any, kwargs: dict[str, Any], key: str) -> None:
    params = inspect.signature(fn).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return
    for name in kwargs:
        if name not in params:
            raise ConfigError(f"unknown config key '{key}.{name}'; accepted: {', '.join(sorted(params))}")


def validate(config: ml_collections.ConfigDict) -> None:
    """Check the whole config; raise ConfigError naming the key. Cheap: builds nothing, compiles nothing."""
    _check_keys(config)
    c = config

    _require(c.task.name in tasks.task_names(), "task.name",
             f"unknown task '{c.task.name}'; known: {', '.join(tasks.task_names())}")
    _check_kwargs(tasks.task_factory(c.task.name), dict(c.task.kwargs), "task.kwargs")
    try:
        task = tasks.get_task(c.task.name, **dict(c.task.kwargs))
    except (TypeError, ValueError, KeyError) as e:
        raise ConfigError(f"config key 'task.kwargs': {e}") from e
    try:
        _check_kwargs(task.reward_set, dict(c.task.rewards), "task.rewards")
        num_rewards = len(task.reward_set(**dict(c.task.rewards)))
    except (TypeError, ValueError, KeyError) as e:
        raise ConfigError(f"config key 'task.rewards': {e}") from e
    limit = getattr(task, "max_completion_len", None)
    _require(limit is None or limit == c.rl.max_new_tokens, "rl.max_new_tokens",
             f"{c.rl.max_new_tokens} differs from the task's max_completion_len {limit} (set by task.kwargs): the "
             "length objective's worst point and the conciseness scale use the generation limit")

    if not c.model.path:
        _require(c.model.preset in models.config_names(), "model.preset",
                 f"unknown preset '{c.model.preset}'; known: {', '.join(models.config_names())}")
    _require(c.model.dtype in ("float32", "bfloat16", "float16"), "model.dtype", f"'{c.model.dtype}' is not one of float32, bfloat16, float16")

    r = c.rl
    _require(r.estimator in ADVANTAGE_ESTIMATORS, "rl.estimator",
             f"unknown estimator '{r.estimator}'; known: {', '.join(sorted(ADVANTAGE_ESTIMATORS))}")
    est = ADVANTAGE_ESTIMATORS[r.estimator]
    _require(r.level in ("reward", "advantage"), "rl.level", f"'{r.level}' is not 'reward' or 'advantage'")
    _require(r.level in est.levels, "rl.level",
             f"estimator '{r.estimator}' supports level {' or '.join(repr(x) for x in est.levels)}, not '{r.level}'")
    _require(r.whitening in WHITENING, "rl.whitening", f"'{r.whitening}' is not one of {', '.join(WHITENING)}")
    _require(r.whitening == "sample" or est.whitens_batch, "rl.whitening",
             f"estimator '{r.estimator}' does not whiten the batch, so token-weighted whitening means nothing")
    _require(r.num_steps >= 0, "rl.num_steps", "must be >= 0")
    _require(r.prompts_per_step >= 1, "rl.prompts_per_step", "must be >= 1")
    _require(r.group_size >= 1, "rl.group_size", "must be >= 1")
    if est.needs_groups:
        _require(r.group_size >= 2, "rl.group_size",
                 f"estimator '{r.estimator}' compares samples within a group, so it needs group_size >= 2 (got {r.group_size})")
    _require(r.max_new_tokens >= 1, "rl.max_new_tokens", "must be >= 1")
    _require(r.temperature > 0, "rl.temperature", "must be > 0")
    _require(0 < r.top_p <= 1, "rl.top_p", "must be in (0, 1]")
    _require(r.top_k >= 0, "rl.top_k", "must be >= 0 (0 disables top-k)")
    _require(r.epochs >= 1, "rl.epochs", "must be >= 1")
    n = r.prompts_per_step * r.group_size
    _require(r.minibatches >= 1 and n % r.minibatches == 0, "rl.minibatches",
             f"the rollout batch of prompts_per_step*group_size = {n} samples must split into {r.minibatches} equal minibatches")
    _require(r.clip_low >= 0 and r.clip_high >= 0, "rl.clip_low", "clip ranges must be >= 0")
    _require(r.dual_clip == 0 or r.dual_clip > 1, "rl.dual_clip", "must be 0 (off) or > 1")
    _require(r.loss_aggregation in LOSS_AGGREGATIONS, "rl.loss_aggregation",
             f"unknown aggregation '{r.loss_aggregation}'; known: {', '.join(sorted(LOSS_AGGREGATIONS))}")
    _require(r.kl_coef >= 0, "rl.kl_coef", "must be >= 0")
    _require(r.kl_estimator in KL_ESTIMATORS, "rl.kl_estimator",
             f"unknown KL estimator '{r.kl_estimator}'; known: {', '.join(sorted(KL_ESTIMATORS))}")
    _require(r.kl_coef == 0 or r.kl_estimator in KL_LOSS_ESTIMATORS, "rl.kl_estimator",
             f"'{r.kl_estimator}' cannot be a loss term (its expected gradient is zero); use one of "
             f"{', '.join(KL_LOSS_ESTIMATORS)}")

    o = c.optimizer
    _require(o.learning_rate > 0, "optimizer.learning_rate", "must be > 0")
    _require(o.schedule in SCHEDULES, "optimizer.schedule", f"'{o.schedule}' is not one of {', '.join(SCHEDULES)}")
    _require(o.grad_clip >= 0, "optimizer.grad_clip", "must be >= 0 (0 disables clipping)")

    s = c.sft
    _require(s.steps >= 0, "sft.steps", "must be >= 0")
    if s.steps:
        _require(s.batch_size >= 1, "sft.batch_size", "must be >= 1")
        _require(s.learning_rate > 0, "sft.learning_rate", "must be > 0")
        for style, p in s.style_mix.items():
            _require(p >= 0, f"sft.style_mix.{style}", "probabilities must be >= 0")

    _check_weighting(c, num_rewards)

    e = c.eval
    _require(e.every >= 0, "eval.every", "must be >= 0 (0 disables periodic validation)")
    _require(e.num_prompts >= 1, "eval.num_prompts", "must be >= 1")
    _require(e.num_samples >= 1, "eval.num_samples", "must be >= 1")
    _require(e.reference in ("worst", "initial"), "eval.reference", f"'{e.reference}' is not 'worst' or 'initial'")
    for key in ("split", "test_split"):
        _require(e[key] in task.split_names or (key == "test_split" and not e[key]), f"eval.{key}",
                 f"task '{c.task.name}' has no split '{e[key]}'; splits: {', '.join(task.split_names)}")
    _require(e.test_split != e.split, "eval.test_split",
             f"equals eval.split '{e.split}': checkpoints would be selected and reported on the same prompts")
    _require(c.checkpoint.every >= 0, "checkpoint.every", "must be >= 0")
    _require(c.checkpoint.max_to_keep >= 1, "checkpoint.max_to_keep", "must be >= 1")
    _check_mesh_and_memory(c)


def _check_mesh_and_memory(c: ml_collections.ConfigDict) -> None:
    for axis in parallel.MESH_AXES:
        size = c.mesh.shape[axis]
        _require(size == -1 or size >= 1, f"mesh.shape.{axis}", "must be -1 (the rest) or >= 1")
        _require(c.mesh.dcn[axis] >= 1, f"mesh.dcn.{axis}", "must be >= 1 (slices along this axis)")
    _require(sum(c.mesh.shape[a] == -1 for a in parallel.MESH_AXES) <= 1, "mesh.shape", "at most one axis may be -1")
    for name, axes in c.mesh.rules.items():
        try:
            rules = parallel.rules_from_config({name: axes})
        except ValueError as e:
            raise ConfigError(f"config key 'mesh.rules.{name}': {e}") from None
        value = dict(rules)[name]
        unknown = [a for a in ((value,) if isinstance(value, str) else value or ()) if a not in parallel.MESH_AXES]
        _require(not unknown, f"mesh.rules.{name}", f"names mesh axes {unknown}; the mesh has {list(parallel.MESH_AXES)}")
    m = c.model
    _require(m.remat in models.REMAT_POLICIES, "model.remat", f"'{m.remat}' is not one of {', '.join(models.REMAT_POLICIES)}")
    _require(m.lora_rank >= 0, "model.lora_rank", "must be >= 0 (0: no adapters, every weight trains)")
    unknown = sorted(set(m.lora_targets) - set(models.LORA_TARGETS))
    _require(not unknown and len(m.lora_targets) > 0, "model.lora_targets",
             f"must be a non-empty subset of {', '.join(models.LORA_TARGETS)}; unknown {unknown}")
    _require(not (m.scan_layers and tuple(c.weighting.gram_layers)), "weighting.gram_layers",
             "selects layers by index, which a scanned layer stack (model.scan_layers) does not have")
    r = c.rl
    _require(r.micro_batches >= 1, "rl.micro_batches", "must be >= 1")
    minibatch = r.prompts_per_step * r.group_size // r.minibatches
    _require(minibatch % r.micro_batches == 0, "rl.micro_batches",
             f"a minibatch of {minibatch} samples does not split into {r.micro_batches} micro-batches")
    _require(r.micro_batches == 1 or r.loss_aggregation in ACCUMULABLE_AGGREGATIONS, "rl.micro_batches",
             f"gradient accumulation needs a count-normalised loss aggregation ({', '.join(ACCUMULABLE_AGGREGATIONS)})")


def _check_weighting(c: ml_collections.ConfigDict, num_rewards: int) -> None:
    w = c.weighting
    _require(w.name in WEIGHT_OPTIMIZERS, "weighting.name",
             f"unknown weight optimizer '{w.name}'; known: {', '.join(sorted(WEIGHT_OPTIMIZERS))}")
    if w.weights is not None:
        _require(len(w.weights) == num_rewards, "weighting.weights",
                 f"{len(w.weights)} weights for the {num_rewards} rewards of task '{c.task.name}'")
    _check_kwargs(WEIGHT_OPTIMIZERS[w.name], dict(w.kwargs), "weighting.kwargs")
    try:
        optimizer = get_weight_optimizer(w.name, **_weight_kwargs(c, None))
        chain(optimizer, *(parse_transform(spec) for spec in w.post)).init(num_rewards)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"config key 'weighting': {e}") from e
    est = ADVANTAGE_ESTIMATORS[c.rl.estimator]
    _require(not (optimizer.scale_only and est.scale_invariant) or w.allow_scale_only, "weighting.name",
             f"'{w.name}' only rescales the weighted reward by a common factor, and estimator '{c.rl.estimator}' "
             f"is invariant to the reward scale, so it would change nothing (use rloo or drgrpo, or set "
             f"weighting.allow_scale_only=True to run it anyway)")
    _require(not optimizer.scalarizes or c.rl.level == "reward", "rl.level",
             f"'{w.name}' scalarises each sample's rewards non-linearly, which replaces the weighted sum at the "
             f"reward level; there are no per-objective advantages to combine (use rl.level='reward')")
    _require(w.eval_every >= 1, "weighting.eval_every", "must be >= 1")
    _require(w.eval_mode in ("greedy", "sampled"), "weighting.eval_mode", f"'{w.eval_mode}' is not greedy or sampled")
    _require(w.reference in ("worst", "initial"), "weighting.reference", f"'{w.reference}' is not worst or initial")
    layers = tuple(w.gram_layers)
    _require(layers == () or (len(layers) == 2 and 0 <= layers[0] < layers[1]), "weighting.gram_layers",
             f"must be () (every parameter) or (start, stop) with 0 <= start < stop, got {layers}")
    _require(w.gram_clip_norm >= 0, "weighting.gram_clip_norm", "must be >= 0 (0 disables clipping)")


# ------------------------------------------------------------------------------------------- loading
def load(spec: str, overrides: Sequence[str] = ()) -> ml_collections.ConfigDict:
    """`path.py[:arg]` -> its `get_config(arg)`, then each `a.b=value` override; validated.

    The one loader of `main`, `ablate`, the benchmarks, the tests and the notebooks. A relative path that does
    not exist is also looked up among the shipped configs: the copy an installed package carries
    (`morl_jax/configs`, see setup.py), then the checkout's `configs/` directory; so `arith.py:size=test` (or
    `configs/arith.py`) works from anywhere, with an editable checkout or an installed package.
    """
    path, _, arg = spec.partition(":")
    if not os.path.exists(path):
        package = os.path.dirname(os.path.abspath(__file__))
        name = path.removeprefix("configs/")
        shipped = [os.path.join(d, name) for d in (os.path.join(package, "configs"),
                                                    os.path.join(os.path.dirname(package), "configs"))]
        found = [p for p in shipped if os.path.exists(p)]
        if not found:
            raise FileNotFoundError(f"config file {path!r} not found (nor in the shipped configs: {shipped})")
        path = found[0]
    module_spec = importlib.util.spec_from_file_location(f"morl_jax_config_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    config = module.get_config(arg or None)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"config override {item!r}: expected KEY=VALUE")
        override(config, key.removeprefix("config."), text)
    validate(config)
    return config


def override(config: ml_collections.ConfigDict, dotted: str, text: str) -> None:
    """config.a.b = literal(text) (the text itself when it is not a Python literal); an unknown key raises
    ConfigError naming it (free-form sections such as task.kwargs accept new keys)."""
    *parents, leaf = dotted.split(".")
    node, path = config, ""
    for name in parents:
        path = f"{path}{name}"
        if name not in node or not isinstance(node[name], ml_collections.ConfigDict):
            _unknown_key(path)
        node, path = node[name], path + "."
    if leaf not in node and path.rstrip(".") not in _FREE_FORM:
        _unknown_key(path + leaf)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = text
    if isinstance(value, list):
        value = tuple(value)
    try:
        node[leaf] = value
    except TypeError as e:  # a locked field of another type
        raise ConfigError(f"config key '{dotted}': {e}") from None


def _unknown_key(path: str) -> None:
    close = difflib.get_close_matches(path, dict(_leaf_paths(base_config())), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ConfigError(f"unknown config key '{path}'{hint}")


# ------------------------------------------------------------------------------- typed settings
def model_config(c: ml_collections.ConfigDict) -> models.ModelConfig:
    """The policy's ModelConfig: the HF directory's when `model.path` is set, else the preset's."""
    m = c.model
    overrides = {"dtype": m.dtype, "remat": m.remat, "scan_layers": m.scan_layers, "lora_rank": m.lora_rank,
                 "lora_alpha": m.lora_alpha, "lora_targets": tuple(m.lora_targets),
                 "sharding_rules": sharding_rules(c), **dict(m.overrides)}
    if m.path:
        return models.load_config(m.path, **overrides)
    return models.get_config(m.preset, **overrides)


def sharding_rules(c: ml_collections.ConfigDict) -> tuple[tuple[str, Any], ...]:
    """The logical-axis rules table of `mesh.rules` (the defaults with the config's changes)."""
    return parallel.rules_from_config(dict(c.mesh.rules))


def _weight_kwargs(c: ml_collections.ConfigDict, task: tasks.Task | None) -> dict[str, Any]:
    """The optimizer's kwargs, plus `weighting.weights` (or the task's default weights) if it takes weights and
    the policy's hidden size if it reads hidden states."""
    kwargs = dict(c.weighting.kwargs)
    parameters = inspect.signature(WEIGHT_OPTIMIZERS[c.weighting.name]).parameters
    if "hidden_size" in parameters:
        kwargs.setdefault("hidden_size", model_config(c).hidden_size)
    if "weights" in parameters:
        weights = c.weighting.weights
        if weights is None and task is not None:
            weights = task.default_weights
        kwargs.setdefault("weights", None if weights is None else tuple(weights))
    return kwargs


def weight_optimizer(c: ml_collections.ConfigDict, task: tasks.Task) -> WeightOptimizer:
    """The configured weight optimizer chained with its post-processing transforms."""
    optimizer = get_weight_optimizer(c.weighting.name, **_weight_kwargs(c, task))
    return chain(optimizer, *(parse_transform(spec) for spec in c.weighting.post))


def update_settings(c: ml_collections.ConfigDict) -> UpdateSettings:
    """The RL update's static settings (optimizer included)."""
    r, o = c.rl, c.optimizer
    optimizer = OptimizerSettings(
        learning_rate=o.learning_rate, schedule=o.schedule, warmup_steps=o.warmup_steps,
        total_steps=max(1, r.num_steps * r.epochs * r.minibatches), b1=o.b1, b2=o.b2, eps=o.eps,
        weight_decay=o.weight_decay, grad_clip=o.grad_clip, adapters_only=bool(c.model.lora_rank))
    return UpdateSettings(
        optimizer=optimizer, estimator=r.estimator, level=r.level, eps=r.eps or None, whitening=r.whitening,
        group_size=r.group_size, epochs=r.epochs, minibatches=r.minibatches, clip_low=r.clip_low,
        clip_high=r.clip_high, dual_clip=r.dual_clip or None, aggregation=r.loss_aggregation, kl_coef=r.kl_coef,
        kl_estimator=r.kl_estimator, temperature=r.temperature, max_length=float(r.max_new_tokens),
        micro_batches=r.micro_batches)
