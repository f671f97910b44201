"""The built-in arithmetic benchmark: a tiny policy, SFT warm start, GRPO on accuracy/conciseness/clarity.

    python -m morl_jax.main --config=configs/arith.py --workdir=runs/arith
    python -m morl_jax.main --config=configs/arith.py:algo=rloo,weights=efficiency --workdir=runs/rloo_eff
    python -m morl_jax.main --config=configs/arith.py:size=test --workdir=runs/t --config.rl.num_steps=3

`get_config(arg)` takes comma-separated `key=value` variants:
  algo     an advantage estimator (grpo, drgrpo, rloo, reinforce_pp, reinforce_pp_baseline, gdpo)
  weights  the paper's fixed weightings: accuracy [0.5, 0.25, 0.25], balanced [0.334, 0.333, 0.333],
           efficiency [0.25, 0.375, 0.375]
  weighting  a weight optimizer (fixed, saw, gradient, hypervolume_gradient, hypervolume; `weights` are the
           fixed weights, or the starting / base weights of the adaptive ones)
  size     cpu (default: `make demo`, ~10 minutes on 2 cores), ablation (the CPU-budget ablations: the demo's
           warm start, 40 RL steps of 8 prompts) or test (seconds; for the test suite)

Why these settings (measured; README "The built-in arithmetic benchmark" has the table): levels 1-2 and a
0.6 M-parameter model learn the task in 1500 SFT steps; the style mix makes the trade-offs (long and clear,
short and unclear, merged steps, mistakes) reachable by sampling; the paper's binary conciseness separates
the weightings where a linear one did not; T = 0.7 and lr 1e-4 keep RL from collapsing to one template.

The adaptive weightings' step sizes:
* gradient: lambda = 3e-4, so the effective step lr / lambda is 0.33. The paper's is 0.1 (lr 1e-6, lambda
  1e-5) over about 360 steps; a run here has 100, so the step is about 3.6x larger for a similar total
  movement of the log-weights. With the paper's lambda (lr / lambda = 10 at lr 1e-4) the weights collapsed onto
  conciseness (0.9999) within 8 steps: the tiny model's per-objective gradients have norms 0.2-0.7 and
  scores s_k of 0.05-0.4 per step, as large as a big model's clipped ones.
* hypervolume_gradient: a mirror step of at most 0.5 in log-weight per validation, validating every 5 steps
  (the paper's test interval), so 20 steps of adaptation over the run.
* hypervolume: the paper's meta-reward only rescales the rewards, which GRPO's std normalisation undoes, so the
  config refuses it with GRPO; use algo=rloo (or drgrpo), where it acts as a learning-rate multiplier.
"""

from morl_jax.experiment_config import base_config

WEIGHTS = {
    "accuracy": (0.5, 0.25, 0.25),
    "balanced": (0.334, 0.333, 0.333),
    "efficiency": (0.25, 0.375, 0.375),
}


def parse_arg(arg: str | None) -> dict[str, str]:
    """'a=1,b=x' -> {'a': '1', 'b': 'x'}; a bare word is taken as the size."""
    out = {}
    for part in filter(None, (arg or "").split(",")):
        key, sep, value = part.partition("=")
        out[key.strip() if sep else "size"] = value.strip() if sep else key.strip()
    return out


def get_config(arg: str | None = None):
    args = parse_arg(arg)
    unknown = set(args) - {"algo", "weights", "weighting", "size"}
    if unknown:
        raise ValueError(f"configs/arith.py: unknown variant key(s) {sorted(unknown)}; known: algo, weights, weighting, size")
    c = base_config()
    c.task.name = "arithmetic"
    c.model.preset = "arith-cpu"
    c.model.tokenizer = "char"
    max_len = 96
    c.task.kwargs = dict(train_size=4000, validation_size=100, test_size=100, difficulties=(1, 2),
                         max_completion_len=max_len)
    c.rl.max_new_tokens = max_len
    c.sft.steps = 1500
    c.sft.batch_size = 16
    c.sft.num_examples = 8000
    c.sft.learning_rate = 2e-3
    c.sft.style_mix = dict(terse=0.1, steps=0.45, verbose=0.1, mistake=0.1, skip=0.25)
    c.rl.num_steps = 100
    c.rl.prompts_per_step = 16
    c.rl.group_size = 8
    c.rl.temperature = 0.7
    c.optimizer.learning_rate = 1e-4
    c.eval.every = 10
    c.eval.num_prompts = 100
    c.eval.num_samples = 4
    c.checkpoint.every = 25

    size = args.get("size", "cpu")
    if size == "test":  # level-1 problems (two operations) in 40 characters: every style but the verbose one fits
        c.model.preset = "tiny"
        c.task.kwargs.update(train_size=200, validation_size=16, test_size=16, difficulties=(1,), max_completion_len=40)
        c.rl.max_new_tokens = 40
        c.sft.style_mix = dict(terse=0.1, steps=0.55, mistake=0.1, skip=0.25)
        c.sft.steps = 10
        c.sft.num_examples = 128
        c.sft.batch_size = 16
        c.rl.num_steps = 4
        c.rl.prompts_per_step = 4
        c.rl.group_size = 4
        c.eval.every = 2
        c.eval.num_prompts = 8
        c.eval.num_samples = 2
        c.checkpoint.every = 2
        c.log.console = False
        c.log.plots = False
    elif size == "ablation":  # the CPU-budget ablations: the demo's task and warm start, a shorter RL run
        c.rl.num_steps = 40
        c.rl.prompts_per_step = 8
        c.eval.every = 10
        c.eval.num_prompts = 50
        c.eval.num_samples = 2
        c.checkpoint.every = 10
    elif size != "cpu":
        raise ValueError(f"configs/arith.py: unknown size {size!r}; known: cpu, ablation, test")

    algo = args.get("algo", "grpo")
    c.rl.estimator = algo
    if algo == "gdpo":
        c.rl.level = "advantage"
    c.weighting.name = args.get("weighting", "fixed")
    if c.weighting.name == "gradient":
        c.weighting.kwargs = dict(reg=3e-4)
    elif c.weighting.name == "hypervolume_gradient":
        c.weighting.kwargs = dict(step_size=0.5)
        c.weighting.eval_every = 1 if size == "test" else 5
    weights = args.get("weights", "accuracy")
    if weights not in WEIGHTS:
        raise ValueError(f"configs/arith.py: unknown weights {weights!r}; known: {', '.join(WEIGHTS)}")
    c.weighting.weights = WEIGHTS[weights]
    return c
