"""Ablation runner: a sweep file's grid of cells (algorithm x weighting x ... x seed), one resumable run each,
then a results table with mean ± std over seeds and the plots.

    python -m morl_jax.ablate --config=configs/ablations/dynamic_weighting.py[:arg] --workdir=DIR \\
        [--config.rl.num_steps=50 ...] [--only TEXT] [--print_commands]

A sweep file defines `get_sweep(arg) -> Sweep`. Every cell is validated before any runs. Cells run one after
another in this process (compiled functions are shared), share one SFT warm start (`DIR/sft_cache`), and each
writes its own `DIR/<cell>`: a finished cell is skipped, an interrupted one resumes from its checkpoint, so
rerunning the command continues a killed sweep. `--print_commands` prints one `morl_jax.main` command per cell
instead (for a job array); the report is then written by rerunning this command once they have finished.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import itertools
import os
import shlex
import sys
import time
from collections.abc import Mapping, Sequence

import ml_collections

from morl_jax import ablation_report, experiment_config, train


@dataclasses.dataclass(frozen=True)
class Sweep:
    """An ablation: every combination of one label per axis, for every seed, plus `extra` cells.

    `axes` maps an axis name to {label: config overrides}; `extra` lists further cells as ({axis: label},
    overrides) (e.g. an estimator that only one weighting is run with); `common` overrides apply to every cell;
    `base` is the experiment config every cell starts from (a `experiment_config.load` spec).
    """

    base: str
    axes: Mapping[str, Mapping[str, Sequence[str]]]
    seeds: Sequence[int] = (0,)
    extra: Sequence[tuple[Mapping[str, str], Sequence[str]]] = ()
    common: Sequence[str] = ()


@dataclasses.dataclass(frozen=True)
class Cell:
    labels: dict[str, str]
    seed: int
    overrides: tuple[str, ...]

    @property
    def group(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.labels.items())

    @property
    def name(self) -> str:
        return f"{self.group},seed={self.seed}"

    @property
    def directory(self) -> str:
        return self.name.replace(",", "__").replace("=", "-")


def cells(sweep: Sweep) -> list[Cell]:
    """The grid's cells in order (axes as listed, seeds innermost), then the extra ones."""
    out = []
    for combo in itertools.product(*(list(labels.items()) for labels in sweep.axes.values())):
        labels = dict(zip(sweep.axes, (label for label, _ in combo)))
        overrides = tuple(o for _, group in combo for o in group)
        out += [Cell(labels, seed, overrides) for seed in sweep.seeds]
    for labels, overrides in sweep.extra:
        out += [Cell(dict(labels), seed, tuple(overrides)) for seed in sweep.seeds]
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise ValueError(f"the sweep has duplicate cells: {sorted(n for n in names if names.count(n) > 1)}")
    return out


def load_sweep(spec: str) -> Sweep:
    """`path.py[:arg]` -> its `get_sweep(arg)`."""
    path, _, arg = spec.partition(":")
    if not os.path.exists(path):
        raise FileNotFoundError(f"sweep file {path!r} not found")
    module_spec = importlib.util.spec_from_file_location(f"morl_jax_sweep_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.get_sweep(arg or None)


def cell_overrides(sweep: Sweep, cell: Cell, workdir: str, cli: Sequence[str]) -> list[str]:
    """Every override of a cell, in the order they apply (later ones win)."""
    return [*sweep.common, *cell.overrides, *cli, f"seed={cell.seed}",
            f"sft.cache_dir={os.path.join(os.path.abspath(workdir), 'sft_cache')}", "log.console=False"]


def configs(sweep: Sweep, workdir: str, cli: Sequence[str]) -> dict[str, ml_collections.ConfigDict]:
    """Every cell's validated config (a bad cell stops the sweep before anything runs)."""
    out = {}
    for cell in cells(sweep):
        try:
            out[cell.name] = experiment_config.load(sweep.base, cell_overrides(sweep, cell, workdir, cli))
        except (experiment_config.ConfigError, ValueError) as e:
            raise experiment_config.ConfigError(f"cell {cell.name}: {e}") from e
    return out


def commands(sweep: Sweep, workdir: str, cli: Sequence[str]) -> list[str]:
    """One `python -m morl_jax.main` command per cell."""
    return [shlex.join([sys.executable, "-m", "morl_jax.main", f"--config={sweep.base}",
                        f"--workdir={os.path.join(workdir, cell.directory)}",
                        *(f"--config.{o}" for o in cell_overrides(sweep, cell, workdir, cli))])
            for cell in cells(sweep)]


def run(sweep: Sweep, workdir: str, cli: Sequence[str] = (), only: str | None = None,
        log=print) -> list[ablation_report.Row]:
    """Run (or skip, or resume) every cell, then write the report; the report's rows."""
    os.makedirs(workdir, exist_ok=True)
    todo = [c for c in cells(sweep) if only is None or only in c.name]
    all_configs = configs(sweep, workdir, cli)
    started, done = time.time(), 0
    for i, cell in enumerate(todo, 1):
        directory = os.path.join(workdir, cell.directory)
        if os.path.exists(os.path.join(directory, "summary.json")):
            log(f"[{i:3d}/{len(todo)}] {cell.name}: finished before, skipped")
            continue
        t0 = time.time()
        train.run(all_configs[cell.name], directory)
        done += 1
        left = (time.time() - started) / done * sum(
            not os.path.exists(os.path.join(workdir, c.directory, "summary.json")) for c in todo[i:])
        log(f"[{i:3d}/{len(todo)}] {cell.name}: {time.time() - t0:.0f} s (about {left / 60:.0f} min left)")
    rows = [ablation_report.read_row(cell.labels, cell.seed, os.path.join(workdir, cell.directory))
            for cell in todo]
    ablation_report.write(rows, list(sweep.axes) + sorted({k for labels, _ in sweep.extra for k in labels}
                                                          - set(sweep.axes)), workdir)
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True, help="sweep file, optionally with an argument: path.py[:arg]")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--only", help="run only the cells whose name contains this text")
    ap.add_argument("--print_commands", action="store_true", help="print one morl_jax.main command per cell")
    args, rest = ap.parse_known_args(argv)
    bad = [a for a in rest if not a.startswith("--config.")]
    if bad:
        ap.error(f"unrecognised arguments: {' '.join(bad)}")
    cli = [a[len("--config."):] for a in rest]
    try:
        sweep = load_sweep(args.config)
        if args.print_commands:
            configs(sweep, args.workdir, cli)
            print("\n".join(commands(sweep, args.workdir, cli)))
            return
        run(sweep, args.workdir, cli, args.only)
    except (experiment_config.ConfigError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"\ntable: {os.path.join(args.workdir, ablation_report.TABLE)}")
    with open(os.path.join(args.workdir, ablation_report.TABLE)) as f:
        print(f.read())


if __name__ == "__main__":
    main()
