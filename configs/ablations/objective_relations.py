"""Does the weighting matter the same way for objectives that help, hurt or ignore each other?

Two-objective sets of the arithmetic task, each paired with accuracy: clarity (aligned: a solution written in
steps is right more often), conciseness (conflicting: the shortest solutions drop steps and get them wrong), and
parity (independent: an even number of tokens, which no quality bears on). Each set is trained with fixed equal
weights and with the gradient-based method; the report puts the correlation of the two rewards under the
starting policy (first step's samples) beside each result, so the relation is measured, not assumed.

    python -m morl_jax.ablate --config=configs/ablations/objective_relations.py --workdir=runs/objective_relations

`cpu` (default): 3 sets x 2 weightings x 3 seeds at `arith.py:size=ablation` (measured: 34 minutes on 2 cores
shared with other jobs, docs/results/objective_relations.md); `test`: a tiny variant.
"""

from morl_jax.ablate import Sweep

SETS = {
    "aligned": ["task.rewards.include=('accuracy', 'clarity')"],
    "conflicting": ["task.rewards.include=('accuracy', 'conciseness')"],
    "independent": ["task.rewards.include=('accuracy', 'parity')"],
}
WEIGHTINGS = {
    "fixed": ["weighting.weights=(0.5, 0.5)"],
    "gradient": ["weighting.name=gradient", "weighting.kwargs.reg=3e-4", "weighting.weights=(0.5, 0.5)"],
}


def get_sweep(arg=None):
    size = arg or "cpu"
    if size == "cpu":
        return Sweep(base="arith.py:size=ablation", axes={"objectives": SETS, "weighting": WEIGHTINGS},
                     seeds=(0, 1, 2), common=["sft.seed=0"])
    if size == "test":
        return Sweep(base="arith.py:size=test", axes={"objectives": {k: SETS[k] for k in ("aligned", "independent")},
                                                      "weighting": {"fixed": WEIGHTINGS["fixed"]}},
                     seeds=(0,), common=["rl.num_steps=2", "sft.seed=0"])
    raise ValueError(f"objective_relations: unknown size {size!r}; known: cpu, test")
