"""Orbax checkpoints of *all* training state, so a killed run resumes to the same numbers.

Two items per step: `state`, a pytree of device arrays (policy, optimiser, weight-optimiser state, PRNG key,
step), and `host`, a JSON document (data-iterator position, stateful reward functions, Pareto archive).
A state with a non-finite value is never written, so the last good checkpoint survives a diverged run.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp


class NonFiniteStateError(RuntimeError):
    """Raised instead of writing a checkpoint that holds NaN or inf."""


def nonfinite_leaves(tree: Any) -> list[str]:
    """Paths of floating-point leaves of `tree` that hold a NaN or inf."""
    bad = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        if jnp.issubdtype(jnp.result_type(leaf), jnp.floating) and not bool(jnp.all(jnp.isfinite(leaf))):
            bad.append(jax.tree_util.keystr(path))
    return bad


def abstract_like(tree: Any) -> Any:
    """ShapeDtypeStructs (with shardings) describing `tree`: the restore target."""

    def leaf(x):
        sharding = getattr(x, "sharding", None)
        return jax.ShapeDtypeStruct(np.shape(x), jnp.result_type(x), sharding=sharding)

    return jax.tree.map(leaf, tree)


class Checkpointer:
    """A thin wrapper of `ocp.CheckpointManager` that refuses non-finite states."""

    def __init__(self, directory: str, *, max_to_keep: int = 2):
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, enable_async_checkpointing=False
        )
        self._manager = ocp.CheckpointManager(os.path.abspath(directory), options=options,
                                              item_names=("state", "host"))

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def save(self, step: int, state: Any, host: dict[str, Any]) -> None:
        """Write `state` and `host` at `step`; raises NonFiniteStateError (writing nothing) on NaN/inf."""
        bad = nonfinite_leaves(state)
        if bad:
            raise NonFiniteStateError(
                f"refusing to checkpoint step {step}: non-finite values in {', '.join(bad[:5])}"
                + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            )
        self._manager.save(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardSave(state), host=ocp.args.JsonSave(host)),
            force=True,
        )
        self._manager.wait_until_finished()

    def restore(self, target: Any, step: int | None = None) -> tuple[int, Any, dict[str, Any]]:
        """Restore (step, state, host) into the structure, dtypes and shardings of `target`."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError("no checkpoint to restore")
        restored = self._manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_like(target)), host=ocp.args.JsonRestore()
            ),
        )
        # orbax returns containers of its own choosing (NamedTuples come back as tuples): rebuild the target's.
        state = jax.tree.unflatten(jax.tree.structure(target), jax.tree.leaves(restored["state"]))
        return step, state, dict(restored["host"])

    def close(self) -> None:
        self._manager.close()
