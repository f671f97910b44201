"""Command line: flags -> distributed initialisation -> train.run.

    python -m morl_jax.main --config=configs/arith.py[:variant] --workdir=DIR [--config.a.b=value ...]

Rerunning with the same --workdir resumes from its latest checkpoint. On a multi-host pod or SLURM allocation
the same command with --distributed is meant to run on every host (jax.distributed picks up the cluster from
the environment); that path is not yet tested on real multi-host hardware.
"""

from __future__ import annotations

import os

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file (configs/*.py[:variant]).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics, plots and the summary.")
_DISTRIBUTED = flags.DEFINE_bool("distributed", False,
                                 "Call jax.distributed.initialize() (multi-host pods and SLURM allocations).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not flags.FLAGS["verbosity"].present:  # orbax logs every checkpoint step at INFO; keep the console readable
        logging.set_verbosity(logging.WARNING)
    import jax

    if _DISTRIBUTED.value:
        jax.distributed.initialize()
    from morl_jax import train

    summary = train.run(_CONFIG.value, _WORKDIR.value)
    if jax.process_index() == 0:
        workdir = os.path.abspath(_WORKDIR.value)
        print(f"\nresults in {workdir}")
        print(f"  summary:     {os.path.join(workdir, 'summary.json')}")
        print(f"  Pareto plot: {os.path.join(workdir, 'pareto_front.png')}")
        print(f"  metrics:     {os.path.join(workdir, 'metrics.jsonl')} "
              f"(tensorboard --logdir {os.path.join(workdir, 'tensorboard')})")
        for mode, point in summary.get("final", {}).items():
            hv = summary["hypervolume"][mode]
            print(f"  final {mode:7s} " + ", ".join(f"{k}={v:.3g}" for k, v in point.items()) + f", hypervolume={hv:.4g}")


if __name__ == "__main__":
    app.run(main)
