"""Command line: flags -> distributed initialisation -> train.run.

    python -m morl_jax.main --config=configs/arith.py[:variant] --workdir=DIR [--config.a.b=value ...]

Rerunning with the same --workdir resumes from its latest checkpoint. `--dry_run` validates the config, builds
the model shapes abstractly and the data pipeline, prints them and stops (nothing is written to the workdir; a
TFDS dataset is prepared where its task says). A bad config (unknown key, impossible value) stops with a one-line
message naming the key, before anything compiles or is written. On a multi-host pod or SLURM allocation the same
command with --distributed is meant to run on every host (jax.distributed picks up the cluster from the
environment); that path is not yet tested on real multi-host hardware.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags, logging

_CONFIG = flags.DEFINE_string("config", None, "Experiment config file: configs/NAME.py[:variant].")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics, plots and the summary.")
_DISTRIBUTED = flags.DEFINE_bool("distributed", False,
                                 "Call jax.distributed.initialize() (multi-host pods and SLURM allocations).")
_DRY_RUN = flags.DEFINE_bool("dry_run", False,
                             "Validate the config, build the model shapes (abstractly) and the data pipeline, print "
                             "them, and stop without training or writing anything.")
flags.mark_flags_as_required(["config", "workdir"])

_overrides: list[str] = []


def parse_flags(argv: list[str]) -> list[str]:
    """absl flags, with every `--config.a.b=value` set aside for `experiment_config.load` to apply and check."""
    rest = []
    for arg in argv:
        if arg.startswith("--config."):
            _overrides.append(arg[len("--"):])
        else:
            rest.append(arg)
    return flags.FLAGS(rest)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not flags.FLAGS["verbosity"].present:  # orbax logs every checkpoint step at INFO; keep the console readable
        logging.set_verbosity(logging.WARNING)
    from morl_jax import experiment_config  # noqa: PLC0415  (after flag parsing: importing jax is slow)

    try:
        config = experiment_config.load(_CONFIG.value, _overrides)
    except (experiment_config.ConfigError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    if _DRY_RUN.value:
        from morl_jax.dry_run import dry_run  # noqa: PLC0415

        try:
            dry_run(config)
        except (FileNotFoundError, ValueError, KeyError) as e:  # missing data files, a reward failing on its data
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
        return
    import jax  # noqa: PLC0415

    if _DISTRIBUTED.value:
        jax.distributed.initialize()
    from morl_jax import train  # noqa: PLC0415

    summary = train.run(config, _WORKDIR.value)
    if jax.process_index() == 0:
        workdir = os.path.abspath(_WORKDIR.value)
        print(f"\nresults in {workdir}")
        for name, path in (summary.files.items() if summary else []):
            print(f"  {name + ':':14s}{path}")
        print(f"  {'tensorboard:':14s}tensorboard --logdir {os.path.join(workdir, 'tensorboard')}")
        if summary:
            split = summary.report_split
            for mode, point in summary.final[split].items():
                hv = summary.hypervolume[split][mode]
                print(f"  final {split} {mode:7s} " + ", ".join(f"{k}={v:.3g}" for k, v in point.items())
                      + f", hypervolume={hv:.4g}")


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
