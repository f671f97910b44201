"""Config validation: every mistake is caught before anything compiles, and the message names the key."""

import os
import subprocess
import sys

import ml_collections
import pytest

from morl_jax import experiment_config
from morl_jax.experiment_config import ConfigError, base_config, load, validate
from morl_jax.rl.losses import LOSS_AGGREGATIONS, register_aggregation

ROOT = os.path.join(os.path.dirname(__file__), "..")


@pytest.mark.parametrize("variant", ["", "size=test", "algo=rloo,weights=efficiency", "algo=gdpo",
                                     "weights=accuracy,weighting=saw", "algo=reinforce_pp",
                                     "weighting=gradient", "weighting=hypervolume_gradient",
                                     "weighting=hypervolume,algo=rloo"])
def test_shipped_configs_are_valid(variant):
    load(f"configs/arith.py:{variant}" if variant else "configs/arith.py")


def test_base_and_peer_configs_are_valid():
    validate(base_config())
    load("peer.py")


def _mutated(fn):
    """The test config changed by `fn` (or replaced by what `fn` returns)."""
    c = load("arith.py:size=test")
    return fn(c) or c


def _set(**values):
    """A mutation setting dotted keys: _set(**{"rl.epochs": 0}); called on a config it returns it."""
    def mutate(c):
        for dotted, value in values.items():
            *parents, leaf = dotted.split(".")
            node = c
            for name in parents:
                node = node[name]
            node[leaf] = value
        return c
    return mutate


def _custom_aggregation():
    """Register a loss aggregation that is not count-normalised (removed after the test by `_registry_restored`)."""
    if "custom-agg" not in LOSS_AGGREGATIONS:
        register_aggregation("custom-agg", lambda values, mask, max_length: (values * mask).max())


@pytest.fixture(autouse=True)
def _registry_restored():
    """Other tests read the aggregation registry's names: leave it as it was."""
    yield
    LOSS_AGGREGATIONS.pop("custom-agg", None)


# Every check of `validate`, each with a mutation that trips it and the message it must give (the test below
# fails when a check has no case here).
CASES = [
    (lambda c: c.rl.__setattr__("lerning_rate", 1.0), r"unknown config key 'rl.lerning_rate'"),
    (lambda c: c.__setattr__("optimiser", {"lr": 1}), r"unknown config key 'optimiser' \(did you mean 'optimizer'\?\)"),
    (lambda c: ml_collections.ConfigDict(dict(c.to_dict(), rl=3)), r"config key 'rl' must be a section"),
    (lambda c: ml_collections.ConfigDict(dict(c.to_dict(), seed={"value": 0})), r"config key 'seed' must be a value"),
    (lambda c: c.task.kwargs.__setattr__("train_sise", 10), r"'task.kwargs.train_sise'.*accepted: .*train_size"),
    (_set(**{"task.kwargs.difficulties": (9,)}), r"config key 'task.kwargs': .*difficult"),
    (lambda c: c.task.rewards.__setattr__("conciseness_mode", "cubic"), r"config key 'task.rewards': .*cubic"),
    (_set(**{"task.name": "gsm9k"}), r"'task.name': unknown task 'gsm9k'; known: .*arithmetic"),
    (_set(**{"rl.max_new_tokens": 32}), r"'rl.max_new_tokens': 32 differs from the task's max_completion_len \d+ \("
                                         r"set by task.kwargs\)"),
    (_set(**{"model.preset": "gpt5"}), r"'model.preset': unknown preset 'gpt5'"),
    (_set(**{"model.dtype": "int8"}), r"'model.dtype': 'int8' is not one of float32, bfloat16, float16"),
    (_set(**{"rl.estimator": "ppo2"}), r"'rl.estimator': unknown estimator 'ppo2'; known: .*grpo"),
    (_set(**{"rl.level": "token"}), r"'rl.level': 'token' is not 'reward' or 'advantage'"),
    (_set(**{"rl.estimator": "gdpo"}), r"'rl.level': estimator 'gdpo' supports level 'advantage', not 'reward'"),
    (_set(**{"rl.whitening": "tokens"}), r"'rl.whitening': 'tokens' is not one of sample, token"),
    (_set(**{"rl.whitening": "token"}), r"'rl.whitening': estimator 'grpo' does not whiten the batch"),
    (_set(**{"rl.num_steps": -1}), r"'rl.num_steps': must be >= 0"),
    (_set(**{"rl.prompts_per_step": 0}), r"'rl.prompts_per_step': must be >= 1"),
    (_set(**{"rl.group_size": 0, "rl.estimator": "reinforce_pp"}), r"'rl.group_size': must be >= 1"),
    (_set(**{"rl.group_size": 1}), r"'rl.group_size': estimator 'grpo' compares samples within a group, so it needs "
                                   r"group_size >= 2 \(got 1\)"),
    (lambda c: _set(**{"rl.max_new_tokens": 0, "task.kwargs.max_completion_len": None})(
        load("own_task.py:test")), r"'rl.max_new_tokens': must be >= 1"),
    (_set(**{"rl.temperature": 0.0}), r"'rl.temperature': must be > 0"),
    (_set(**{"rl.top_p": 1.5}), r"'rl.top_p': must be in \(0, 1\]"),
    (_set(**{"rl.top_k": -1}), r"'rl.top_k': must be >= 0 \(0 disables top-k\)"),
    (_set(**{"rl.epochs": 0}), r"'rl.epochs': must be >= 1"),
    (_set(**{"rl.minibatches": 3}), r"'rl.minibatches': the rollout batch of .* = 16 samples must split into 3"),
    (_set(**{"rl.clip_low": -0.1}), r"'rl.clip_low': clip ranges must be >= 0"),
    (_set(**{"rl.dual_clip": 0.5}), r"'rl.dual_clip': must be 0 \(off\) or > 1"),
    (_set(**{"rl.loss_aggregation": "mean"}), r"'rl.loss_aggregation': unknown aggregation 'mean'"),
    (_set(**{"rl.kl_coef": -0.1}), r"'rl.kl_coef': must be >= 0"),
    (_set(**{"rl.kl_estimator": "k9"}), r"'rl.kl_estimator': unknown KL estimator 'k9'; known: k1, k2, k3"),
    (_set(**{"rl.kl_coef": 0.001, "rl.kl_estimator": "k1"}),
     r"'rl.kl_estimator': 'k1' cannot be a loss term \(its expected gradient is zero\)"),
    (_set(**{"optimizer.learning_rate": 0.0}), r"'optimizer.learning_rate': must be > 0"),
    (_set(**{"optimizer.schedule": "step"}), r"'optimizer.schedule': 'step' is not one of constant, linear, cosine"),
    (_set(**{"optimizer.grad_clip": -1.0}), r"'optimizer.grad_clip': must be >= 0"),
    (_set(**{"sft.steps": -1}), r"'sft.steps': must be >= 0"),
    (_set(**{"sft.batch_size": 0}), r"'sft.batch_size': must be >= 1"),
    (_set(**{"sft.learning_rate": 0.0}), r"'sft.learning_rate': must be > 0"),
    (lambda c: c.sft.style_mix.__setattr__("terse", -0.5), r"'sft.style_mix.terse': probabilities must be >= 0"),
    (_set(**{"weighting.name": "magic"}), r"'weighting.name': unknown weight optimizer 'magic'"),
    (_set(**{"weighting.weights": (0.5, 0.5)}), r"'weighting.weights': 2 weights for the 3 rewards"),
    (lambda c: c.weighting.kwargs.__setattr__("lambda_", 1.0), r"'weighting.kwargs.lambda_'; accepted: .*weights"),
    (_set(**{"weighting.post": ("floor:0.5",)}), r"'weighting': floor: min_weight 0.5"),
    (_set(**{"weighting.post": ("smooth",)}), r"'weighting': unknown weight transform 'smooth'"),
    (_set(**{"weighting.name": "hypervolume"}),
     r"'weighting.name': 'hypervolume' only rescales .* estimator 'grpo' is invariant to the reward scale.*"
     r"allow_scale_only"),
    (_set(**{"weighting.name": "tchebycheff", "rl.level": "advantage"}),
     r"'rl.level': 'tchebycheff' scalarises each sample's rewards non-linearly"),
    (_set(**{"weighting.eval_every": 0}), r"'weighting.eval_every': must be >= 1"),
    (_set(**{"weighting.eval_mode": "beam"}), r"'weighting.eval_mode': 'beam' is not greedy or sampled"),
    (_set(**{"weighting.reference": "nadir"}), r"'weighting.reference': 'nadir' is not worst or initial"),
    (_set(**{"weighting.gram_layers": (3, 1)}), r"'weighting.gram_layers': must be \(\) .* got \(3, 1\)"),
    (_set(**{"weighting.gram_clip_norm": -1.0}), r"'weighting.gram_clip_norm': must be >= 0"),
    (_set(**{"eval.every": -1}), r"'eval.every': must be >= 0"),
    (_set(**{"eval.num_prompts": 0}), r"'eval.num_prompts': must be >= 1"),
    (_set(**{"eval.num_samples": 0}), r"'eval.num_samples': must be >= 1"),
    (_set(**{"eval.reference": "nadir"}), r"'eval.reference': 'nadir' is not 'worst' or 'initial'"),
    (_set(**{"eval.split": "dev"}), r"'eval.split': task 'arithmetic' has no split 'dev'"),
    (_set(**{"eval.test_split": "validation"}), r"'eval.test_split': equals eval.split"),
    (_set(**{"checkpoint.every": -1}), r"'checkpoint.every': must be >= 0"),
    (_set(**{"checkpoint.max_to_keep": 0}), r"'checkpoint.max_to_keep': must be >= 1"),
    (_set(**{"mesh.shape.data": 0}), r"'mesh.shape.data': must be -1 \(the rest\) or >= 1"),
    (_set(**{"mesh.dcn.data": 0}), r"'mesh.dcn.data': must be >= 1 \(slices along this axis\)"),
    (_set(**{"mesh.shape.fsdp": -1}), r"'mesh.shape': at most one axis may be -1"),
    (_set(**{"mesh.rules.embed": 3}), r"'mesh.rules.embed': rule 'embed': expected a mesh axis name"),
    (_set(**{"mesh.rules.mlp": ("tensor", "model")}), r"'mesh.rules.mlp': names mesh axes \['model'\]"),
    (lambda c: c.mesh.rules.__setattr__("experts", "tensor"), r"unknown config key 'mesh.rules.experts'"),
    (_set(**{"model.remat": "some"}), r"'model.remat': 'some' is not one of none, full, dots, dots_no_batch"),
    (_set(**{"model.lora_rank": -1}), r"'model.lora_rank': must be >= 0"),
    (_set(**{"model.lora_targets": ("q", "qkv")}), r"'model.lora_targets': must be a non-empty subset of .*\['qkv'\]"),
    (_set(**{"model.scan_layers": True, "weighting.gram_layers": (0, 1)}),
     r"'weighting.gram_layers': selects layers by index, which a scanned layer stack"),
    (_set(**{"rl.micro_batches": 0}), r"'rl.micro_batches': must be >= 1"),
    (_set(**{"rl.micro_batches": 3}), r"'rl.micro_batches': a minibatch of \d+ samples does not split into 3"),
    (lambda c: _custom_aggregation() or _set(**{"rl.micro_batches": 2, "rl.loss_aggregation": "custom-agg"})(c),
     r"'rl.micro_batches': gradient accumulation needs a count-normalised loss aggregation"),
]


@pytest.mark.parametrize("mutate, pattern", CASES)
def test_invalid_configs_name_the_key(mutate, pattern):
    with pytest.raises(ConfigError, match=pattern):
        validate(_mutated(mutate))


def _raising_line(error: BaseException) -> int:
    """The line of experiment_config.py that raised: the caller of `_require`, or the `raise` itself."""
    frames = [(tb.tb_frame, tb.tb_lineno) for tb in _walk(error.__traceback__)
              if tb.tb_frame.f_code.co_filename == experiment_config.__file__]
    frame, line = frames[-1]
    return frames[-2][1] if frame.f_code.co_name == "_require" else line


def _walk(tb):
    while tb is not None:
        yield tb
        tb = tb.tb_next


def _check_sites() -> set[int]:
    """Lines of validate's checks: every `_require(...)` call and every `raise ConfigError` reached from it."""
    import ast  # noqa: PLC0415

    tree = ast.parse(open(experiment_config.__file__).read())
    checkers = {"validate", "_check_keys", "_check_kwargs", "_check_weighting"}
    sites = set()
    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in checkers):
        for node in ast.walk(fn):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_require":
                sites.add(node.lineno)
            if isinstance(node, ast.Raise) and "ConfigError" in ast.unparse(node):
                sites.add(node.lineno)
    return sites


def test_every_check_of_validate_has_a_case():
    triggered = set()
    for mutate, _ in CASES:
        try:
            validate(_mutated(mutate))
        except ConfigError as e:
            triggered.add(_raising_line(e))
    missing = sorted(_check_sites() - triggered)
    assert not missing, f"checks of experiment_config.py without a case in CASES, at lines {missing}"


def test_the_runs_own_checks(tmp_path):
    from morl_jax import train  # noqa: PLC0415

    with pytest.raises(ConfigError, match=r"'model': vocab_size 32 is smaller than the tokenizer's 64"):
        train.Experiment(load("arith.py:size=test", ["model.overrides={'vocab_size': 32}"]), str(tmp_path))
    assert not os.listdir(tmp_path)


def test_a_scale_only_optimizer_runs_under_grpo_only_when_asked():
    def both(c):
        c.weighting.name = "hypervolume"
        c.weighting.allow_scale_only = True

    validate(_mutated(both))
    validate(_mutated(lambda c: c.weighting.__setattr__("name", "hypervolume") or c.rl.__setattr__("estimator",
                                                                                                    "rloo")))


def test_config_file_variants_reject_unknown_names():
    with pytest.raises(ValueError, match="unknown weights 'fast'"):
        load("arith.py:weights=fast")
    with pytest.raises(ValueError, match="unknown variant key"):
        load("arith.py:algorithm=grpo")
    with pytest.raises(FileNotFoundError, match="'nope.py' not found"):
        load("nope.py")


def test_overrides_are_parsed_and_unknown_keys_named():
    c = load("arith.py:size=test", ["rl.kl_coef=0.001", "config.weighting.post=['floor:0.05']",
                                    "task.kwargs.train_size=300", "rl.estimator=rloo"])
    assert c.rl.kl_coef == 0.001 and c.weighting.post == ("floor:0.05",) and c.rl.estimator == "rloo"
    assert c.task.kwargs.train_size == 300  # free-form sections accept their own keys
    for override, pattern in (("rl.lerning_rate=1", r"unknown config key 'rl.lerning_rate'"),
                              ("optimiser.learning_rate=1", r"unknown config key 'optimiser' \(did you mean"),
                              ("rl.group_size", r"expected KEY=VALUE"),
                              ("rl.group_size=1", r"'rl.group_size': estimator 'grpo' compares")):
        with pytest.raises(ConfigError, match=pattern):
            load("arith.py:size=test", [override])


def test_cli_rejects_a_bad_override_before_writing_anything(tmp_path):
    workdir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "morl_jax.main", "--config=configs/arith.py:size=test", f"--workdir={workdir}",
         "--config.rl.group_size=1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "config key 'rl.group_size'" in proc.stderr
    assert not workdir.exists()
    proc = subprocess.run(
        [sys.executable, "-m", "morl_jax.main", "--config=configs/arith.py:size=test", f"--workdir={workdir}",
         "--config.rl.groupsize=4"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == ("error: unknown config key 'rl.groupsize' "
                                                    "(did you mean 'rl.group_size'?)")
    assert not workdir.exists()
