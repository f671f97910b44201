"""Hypervolume speed: the jit'd exact `morl_jax.pareto.hypervolume` vs moocore (C) on the same fronts.

For each d and n: random points on the unit sphere's positive orthant (all non-dominated, the hardest case
for a fixed n), reference 0. Times are medians over repeats after compilation, with block_until_ready;
moocore and JAX calls alternate so machine load affects both alike. Shapes the exact jit method cannot
handle are printed as infeasible, with the polar estimator's time and error in their place.

    python -m morl_jax.benchmarks.pareto [--dims 2,3,4] [--sizes 100,1000] [--seconds 1.0] [--directions 4096]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import moocore
import numpy as np

from morl_jax import pareto
from morl_jax.pareto.exact import max_slicing_n


def front_on_sphere(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    points = np.abs(rng.normal(size=(n, d)))
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def interleaved_medians(fns, seconds: float, min_reps: int = 5) -> list[float]:
    """Median wall time of each callable, calling them in turn until `seconds` have passed."""
    times = [[] for _ in fns]
    deadline = time.perf_counter() + seconds
    while len(times[0]) < min_reps or time.perf_counter() < deadline:
        for fn, record in zip(fns, times):
            start = time.perf_counter()
            fn()
            record.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def format_time(seconds: float) -> str:
    return f"{seconds * 1e6:8.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:8.2f} ms"


def measure_exact(points: np.ndarray, dtype, seconds: float):
    """(compile s, run s, moocore s, relative error) for the exact jit path in `dtype`."""
    d = points.shape[1]
    ref = np.zeros(d)
    exact = moocore.hypervolume(points, ref=ref, maximise=True)
    x, r = jax.device_put(points.astype(dtype)), jax.device_put(ref.astype(dtype))
    fn = jax.jit(pareto.hypervolume)
    start = time.perf_counter()
    value = float(fn(x, r).block_until_ready())
    compile_s = time.perf_counter() - start
    run_s, moocore_s = interleaved_medians(
        [lambda: fn(x, r).block_until_ready(), lambda: moocore.hypervolume(points, ref=ref, maximise=True)], seconds
    )
    return compile_s, run_s, moocore_s, abs(value - exact) / exact


def measure_estimate(points: np.ndarray, directions: int, seconds: float):
    """(run s, relative error) of the polar estimator in float32."""
    d = points.shape[1]
    exact = moocore.hypervolume(points, ref=np.zeros(d), maximise=True)
    x = jax.device_put(points.astype(np.float32))
    key = jax.random.key(0)
    fn = jax.jit(pareto.hypervolume_estimate, static_argnames="num_directions")
    value = float(fn(x, 0.0, directions, key).block_until_ready())
    (run_s,) = interleaved_medians([lambda: fn(x, 0.0, directions, key).block_until_ready()], seconds)
    return run_s, abs(value - exact) / exact


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", default="2,3,4")
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--seconds", type=float, default=1.0, help="measuring time per row and dtype")
    parser.add_argument("--directions", type=int, default=4096, help="polar estimator directions for infeasible rows")
    args = parser.parse_args()
    dims = [int(v) for v in args.dims.split(",")]
    sizes = [int(v) for v in args.sizes.split(",")]

    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, moocore {moocore.__version__}")
    print(f"exact jit methods: {pareto.feasible_sizes()}")
    header = f"{'d':>2} {'n':>6} {'method':>9} {'dtype':>7} {'compile':>8} {'jax':>11} {'moocore':>11} {'ratio':>7} {'rel err':>8}"
    print(header)
    print("-" * len(header))
    for d in dims:
        for n in sizes:
            points = front_on_sphere(n, d)
            try:
                method = pareto.exact_method(n, d)
            except ValueError:
                run_s, err = measure_estimate(points, args.directions, args.seconds)
                print(
                    f"{d:>2} {n:>6} infeasible exact (d={d} needs n<={max_slicing_n(d)}); "
                    f"estimate with {args.directions} directions (float32): {format_time(run_s).strip()}, "
                    f"rel err {err:.1e}"
                )
                continue
            for dtype, name in ((np.float32, "float32"), (np.float64, "float64")):
                with jax.enable_x64(dtype == np.float64):
                    compile_s, run_s, moocore_s, err = measure_exact(points, dtype, args.seconds)
                print(
                    f"{d:>2} {n:>6} {method:>9} {name:>7} {compile_s:7.2f}s {format_time(run_s)} "
                    f"{format_time(moocore_s)} {run_s / moocore_s:6.1f}x {err:8.1e}"
                )


if __name__ == "__main__":
    main()
