"""Multi-controller runs (one process per host, or per GPU): initialisation, and the few host-side exchanges the
loop needs between processes.

Every process runs the same program on the same global batch (the prompt iterator is deterministic), so host
values such as the prompt list are already equal everywhere; what differs is which rows each process samples and
scores. `rows_to_score` assigns every row of a batch to one process that holds it, `gather` brings device arrays
back to every host and `allgather_objects` exchanges small JSON-able results, so each host ends a step with the same
rewards, metrics and archives (and so writes the same checkpoint). With one process every helper is the identity.
"""

from __future__ import annotations

import json
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> None:
    """`jax.distributed.initialize`: arguments left None are detected from the cluster (TPU VM metadata, SLURM,
    Open MPI, Kubernetes) or read from JAX_COORDINATOR_ADDRESS. CPU processes exchange collectives over gloo."""
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                               process_id=process_id)


def is_primary() -> bool:
    """Process 0: the one that writes logs, plots, summaries, the config and caches' markers."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process got here (e.g. before reading what process 0 wrote)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)


def gather(tree: Any) -> Any:
    """Host NumPy copies of (possibly multi-process) device arrays, the whole global array on every process."""
    def one(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(jax.device_get(x))

    return jax.tree.map(one, tree)


def allgather_objects(obj: Any) -> list[Any]:
    """[obj of process 0, obj of process 1, ...] on every process, for small JSON-able values."""
    if jax.process_count() == 1:
        return [obj]
    data = np.frombuffer(json.dumps(obj).encode(), np.uint8)
    sizes = multihost_utils.process_allgather(np.array([data.size], np.int64)).reshape(-1)
    padded = np.zeros(int(sizes.max()), np.uint8)
    padded[:data.size] = data
    rows = multihost_utils.process_allgather(padded)
    return [json.loads(bytes(row[:n]).decode()) for row, n in zip(rows, sizes)]


def rows_to_score(sharding: jax.sharding.Sharding, num_rows: int) -> np.ndarray:
    """The rows of a [num_rows, ...] batch placed with `sharding` that this process scores, in order.

    Each row goes to one of the processes whose devices hold it: the only one when the batch is split over
    processes, else round-robin over the processes that share it (a replicated batch is scored in P equal parts).
    Every process computes the same assignment.
    """
    holders: list[set[int]] = [set() for _ in range(num_rows)]
    for device, index in sharding.devices_indices_map((num_rows,)).items():
        for row in range(num_rows)[index[0]]:
            holders[row].add(device.process_index)
    me = jax.process_index()
    return np.array([row for row, procs in enumerate(holders) if sorted(procs)[row % len(procs)] == me], np.int64)


def combine_means(results: list[tuple[int, dict[str, float]]]) -> dict[str, float]:
    """Per-process (sample count, {name: mean over its samples}) -> {name: mean over all samples}."""
    shares = [(n, r) for n, r in results if n]
    if len(shares) == 1:  # one process (or one share): its values as they are, not n * mean / n
        return dict(shares[0][1])
    total = sum(n for n, _ in shares)
    return {k: float(sum(n * r[k] for n, r in shares) / total) for k in shares[0][1]}


def assemble_rows(values: np.ndarray, rows: np.ndarray, num_rows: int) -> np.ndarray:
    """The global [num_rows, ...] array on every process from each process's `values` of its `rows`."""
    values = np.asarray(values)
    full = np.zeros((num_rows,) + values.shape[1:], values.dtype)
    full[rows] = values
    if jax.process_count() == 1:
        return full
    mine = np.zeros(num_rows, bool)
    mine[rows] = True
    owners = np.argmax(np.asarray(multihost_utils.process_allgather(mine)), axis=0)
    return np.asarray(multihost_utils.process_allgather(full))[owners, np.arange(num_rows)]
