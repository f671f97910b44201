"""The dynamic-reward-weighting paper's comparison on the arithmetic benchmark: fixed weightings against the
hypervolume-guided and gradient-based methods (and hypervolume_gradient), per algorithm, plus SAW and GDPO rows.

    python -m morl_jax.ablate --config=configs/ablations/dynamic_weighting.py --workdir=runs/dynamic_weighting
    python -m morl_jax.ablate --config=configs/ablations/dynamic_weighting.py:full --workdir=runs/dw_full

`cpu` (default): GRPO with the three fixed weightings, `gradient` and `hypervolume_gradient`; RLOO with
accuracy-focused fixed weights and `hypervolume` (the meta-reward rescales the rewards, which only an estimator
that is not scale-invariant notices); SAW with GRPO; GDPO with balanced weights; 3 seeds of RL from one warm start,
40 RL steps (`arith.py:size=ablation`). Measured: 72 minutes of RL on 2 cores shared with other jobs, about 46
minutes at each cell's quietest time (docs/results/dynamic_weighting.md).
`full`: {grpo, rloo, reinforce_pp} x {3 fixed, hypervolume, hypervolume_gradient, gradient} x 3 seeds at the demo
size (100 steps), plus the SAW and GDPO rows; `hypervolume` under the scale-invariant GRPO and REINFORCE++ runs
with `weighting.allow_scale_only=True`, to show that it changes nothing there.
`test`: two cells x two seeds of the test size (for the test suite).
"""

from morl_jax.ablate import Sweep

FIXED = {
    "accuracy": ["weighting.weights=(0.5, 0.25, 0.25)"],
    "balanced": ["weighting.weights=(0.334, 0.333, 0.333)"],
    "efficiency": ["weighting.weights=(0.25, 0.375, 0.375)"],
}
ADAPTIVE = {
    "gradient": ["weighting.name=gradient", "weighting.kwargs.reg=3e-4", *FIXED["balanced"]],
    "hypervolume_gradient": ["weighting.name=hypervolume_gradient", "weighting.kwargs.step_size=0.5",
                             "weighting.eval_every=5", *FIXED["balanced"]],
}
HYPERVOLUME = ["weighting.name=hypervolume", *FIXED["accuracy"]]
EXTRA_ROWS = [
    ({"algo": "grpo", "weighting": "saw"}, ["weighting.name=saw", "weighting.kwargs.normalize=True"]),
    ({"algo": "gdpo", "weighting": "balanced"}, ["rl.estimator=gdpo", "rl.level=advantage", *FIXED["balanced"]]),
]


def get_sweep(arg=None):
    size = arg or "cpu"
    shared_start = ["sft.seed=0"]  # the seeds vary RL only: every cell starts from the same warm start
    if size == "cpu":
        return Sweep(
            base="arith.py:size=ablation",
            axes={"algo": {"grpo": []}, "weighting": {**FIXED, **ADAPTIVE}},
            seeds=(0, 1, 2),
            extra=[({"algo": "rloo", "weighting": "accuracy"}, ["rl.estimator=rloo", *FIXED["accuracy"]]),
                   ({"algo": "rloo", "weighting": "hypervolume"}, ["rl.estimator=rloo", *HYPERVOLUME]),
                   *EXTRA_ROWS],
            common=shared_start)
    if size == "full":
        return Sweep(
            base="arith.py",
            axes={"algo": {"grpo": [], "rloo": ["rl.estimator=rloo"], "reinforce_pp": ["rl.estimator=reinforce_pp"]},
                  "weighting": {**FIXED, **ADAPTIVE,
                                "hypervolume": [*HYPERVOLUME, "weighting.allow_scale_only=True"]}},
            seeds=(0, 1, 2), extra=EXTRA_ROWS, common=shared_start)
    if size == "test":
        return Sweep(base="arith.py:size=test", axes={"algo": {"grpo": []},
                                                      "weighting": {"accuracy": FIXED["accuracy"],
                                                                    "gradient": ADAPTIVE["gradient"]}},
                     seeds=(0, 1), common=["rl.num_steps=3", "sft.seed=0"])
    raise ValueError(f"dynamic_weighting: unknown size {size!r}; known: cpu, full, test")
