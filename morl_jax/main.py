"""Command line: flags -> distributed initialisation -> train.run.

    python -m morl_jax.main --config=configs/arith.py[:variant] --workdir=DIR [--config.a.b=value ...]

Rerunning with the same --workdir resumes from its newest checkpoint that restores. `--dry_run` validates the
config, builds the model shapes abstractly and the data pipeline, prints them and stops (nothing is written to the
workdir; a TFDS dataset is prepared where its task says). A bad config (unknown key, impossible value) stops with a
one-line message naming the key, before anything compiles or is written.

Multi-host (one process per host, or per GPU): run the same command on every process with --distributed. On TPU
VMs, under SLURM or Open MPI, jax.distributed finds the coordinator and the process ids itself; elsewhere give
--coordinator_address=HOST:PORT --num_processes=N --process_id=I (any of them implies --distributed), or set
JAX_COORDINATOR_ADDRESS. The workdir must be one directory every process sees (a shared file system or gs://).
Tested with several CPU processes on one machine (launch/multiprocess_cpu.sh), not on a real pod or cluster.
"""

from __future__ import annotations

import sys

from absl import app, flags, logging

_CONFIG = flags.DEFINE_string("config", None, "Experiment config file: configs/NAME.py[:variant].")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics, plots and the summary.")
_DISTRIBUTED = flags.DEFINE_bool("distributed", False,
                                 "Initialise jax.distributed (multi-host pods, SLURM and MPI allocations: detected "
                                 "from the environment).")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None,
                                   "HOST:PORT of process 0's coordinator (multi-process runs outside a detected "
                                   "cluster); implies --distributed.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Number of processes; implies --distributed.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's id in [0, num_processes); implies "
                                   "--distributed.")
_DRY_RUN = flags.DEFINE_bool("dry_run", False,
                             "Validate the config, build the model shapes (abstractly) and the data pipeline, print "
                             "them, and stop without training or writing anything.")
_STOP_AFTER = flags.DEFINE_integer("stop_after", None,
                                   "End the run after this RL step, as a preempted job would (a time-boxed allocation); "
                                   "rerunning the command resumes it.")
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
    from morl_jax import experiment_config, parallel  # noqa: PLC0415  (after flag parsing: importing jax is slow)

    explicit = (_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
    if not _DRY_RUN.value and (_DISTRIBUTED.value or any(v is not None for v in explicit)):
        parallel.initialize(*explicit)  # before anything touches a device (validation builds the task)
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

    from morl_jax import train  # noqa: PLC0415
    from morl_jax.paths import resolve  # noqa: PLC0415

    summary = train.run(config, _WORKDIR.value, stop_after=_STOP_AFTER.value)
    if jax.process_index() == 0:
        workdir = resolve(_WORKDIR.value)
        print(f"\nresults in {workdir}" + (f" ({jax.process_count()} processes, {jax.device_count()} devices)"
                                            if jax.process_count() > 1 else ""))
        for name, path in (summary.files.items() if summary else []):
            print(f"  {name + ':':14s}{path}")
        print(f"  {'tensorboard:':14s}tensorboard --logdir {workdir / 'tensorboard'}")
        if summary:
            split = summary.report_split
            for mode, point in summary.final[split].items():
                hv = summary.hypervolume[split][mode]
                print(f"  final {split} {mode:7s} " + ", ".join(f"{k}={v:.3g}" for k, v in point.items())
                      + f", hypervolume={hv:.4g}")


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
