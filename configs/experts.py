"""Experts for meta-policy MORL on the arithmetic benchmark: one policy per objective (or one per weight vector of a
grid), and the single-policy dynamic-weighting baseline, all from one SFT start, each saved in its own run
directory. A sweep file of `morl_jax.ablate` (which trains them, resumably, and reports them):

    python -m morl_jax.ablate --config=configs/experts.py --workdir=runs/experts
    python -m morl_jax.ablate --config=configs/experts.py:grid=2 --workdir=runs/experts_grid
    python -m morl_jax.aggregation.compare --workdir=runs/meta_policy     # trains them, then compares

`get_sweep(arg)` takes comma-separated `key=value` options:
  grid     D: one expert per weight vector of the simplex lattice with D divisions, GRPO on the weighted
           rewards; D = 1 (default) is one expert per reward, trained on that reward alone (accuracy,
           conciseness, clarity), D = 2 adds the three half-half vectors
  dynamic  the weight optimizer of the single-policy baseline: gradient (default; the dynamic-weighting
           paper's method B) or hypervolume_gradient, from balanced weights with configs/arith.py's step sizes
  seeds    how many RL seeds (default 1): seeds 0..N-1 of every expert, all from the seed-0 warm start
  size     cpu (default) or test (seconds; for the test suite)

Everything else is configs/arith.py (task, model, SFT, sampling, GRPO), so every expert starts from the same
cached warm start. What differs: 60 RL steps (arith.py: 100), so that three experts, the baseline and the
comparison fit in 30 minutes on two CPU cores (measured from scratch on two quiet cores: 16.5 min, of which SFT
2.5, RL 11.7 with the dynamic baseline 3.8, comparison 4.8; about 55 min on cores shared with other runs;
docs/results/meta_policy.md); validation
on 100 prompts x 2 samples (arith.py: x 4), the protocol the comparison evaluates every aggregate with, at the
start and the end for experts and every 10 steps for the dynamic baseline (the points of its checkpoints are what
it offers for each preference).
"""

from morl_jax.ablate import Sweep
from morl_jax.pareto import simplex_lattice

OPTIONS = ("grid", "dynamic", "seeds", "size")
REWARDS = ("accuracy", "conciseness", "clarity")  # the arithmetic task's rewards, in order
DYNAMIC = {
    "gradient": ["weighting.name=gradient", "weighting.kwargs.reg=3e-4"],
    "hypervolume_gradient": ["weighting.name=hypervolume_gradient", "weighting.kwargs.step_size=0.5",
                             "weighting.eval_every=5"],
}
BALANCED = "weighting.weights=(0.334, 0.333, 0.333)"


def parse_arg(arg: str | None) -> dict[str, str]:
    """'a=1,b=x' -> {'a': '1', 'b': 'x'}; an unknown option is an error naming the known ones."""
    out = {}
    for part in filter(None, (arg or "").split(",")):
        key, sep, value = part.partition("=")
        if not sep or key.strip() not in OPTIONS:
            raise ValueError(f"configs/experts.py: bad option {part!r}; known: {', '.join(OPTIONS)}")
        out[key.strip()] = value.strip()
    return out


def expert_label(weights) -> str:
    """A cell label: the reward's name for a one-hot vector, else the weights joined by '-' (e.g. 0.5-0-0.5)."""
    if sorted(weights) == [0.0] * (len(weights) - 1) + [1.0]:
        return REWARDS[list(weights).index(1.0)]
    return "-".join(f"{w:.3g}" for w in weights)


def experts(grid: int) -> dict[str, list[str]]:
    """The expert cells: label -> config overrides."""
    vectors = [tuple(float(x) for x in row) for row in simplex_lattice(len(REWARDS), grid).tolist()]
    return {expert_label(w): [f"weighting.weights={w}"] for w in vectors}


def get_sweep(arg=None) -> Sweep:
    args = parse_arg(arg)
    try:
        grid, seeds = int(args.get("grid", 1)), int(args.get("seeds", 1))
    except ValueError:
        raise ValueError(f"configs/experts.py: grid and seeds must be integers, got {arg!r}") from None
    if grid < 1 or seeds < 1:
        raise ValueError(f"configs/experts.py: need grid >= 1 and seeds >= 1, got grid={grid}, seeds={seeds}")
    dynamic, size = args.get("dynamic", "gradient"), args.get("size", "cpu")
    if dynamic not in DYNAMIC:
        raise ValueError(f"configs/experts.py: unknown dynamic weighting {dynamic!r}; known: {', '.join(DYNAMIC)}")
    if size == "cpu":
        common = ["rl.num_steps=60", "eval.num_samples=2", "eval.every=60", "checkpoint.every=60", "log.plots=False"]
        dynamic_evals = ["eval.every=10"]
    elif size == "test":
        common = ["rl.num_steps=3", "eval.every=3", "checkpoint.every=3"]
        dynamic_evals = ["eval.every=1"]
    else:
        raise ValueError(f"configs/experts.py: unknown size {size!r}; known: cpu, test")
    return Sweep(base=f"arith.py:size={size}", axes={"expert": experts(grid)}, seeds=tuple(range(seeds)),
                 extra=[({"expert": "dynamic"}, [*DYNAMIC[dynamic], BALANCED, *dynamic_evals])],
                 common=["sft.seed=0", *common])
