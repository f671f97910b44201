"""Orbax checkpoints of *all* training state, so a killed run resumes to the same numbers.

Two items per step: `state`, a pytree of device arrays (policy, optimiser, weight-optimiser state, PRNG key,
step), and `host`, a JSON document (data-iterator position, stateful reward functions, Pareto archive).
A state with a non-finite value is never written, so the last good checkpoint survives a diverged run.

Every process of a multi-host run calls `save` and `restore` (orbax writes each array's shards from the process
that holds them, the JSON item from process 0). A newest checkpoint that does not restore (files truncated by a
preemption, a lost object) does not end the run: `restore_latest` falls back to the newest one that restores,
says in one line which step it skipped and why, and moves the unreadable one aside (never deletes it) so the
resumed run can write that step again.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from etils import epath

from morl_jax import parallel
from morl_jax.paths import resolve

UNREADABLE_SUFFIX = ".unreadable"


class NonFiniteStateError(RuntimeError):
    """Raised instead of writing a checkpoint that holds NaN or inf."""


@jax.jit
def _all_finite(leaves: list[Any]) -> jax.Array:
    return jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])


def nonfinite_leaves(tree: Any) -> list[str]:
    """Paths of floating-point leaves of `tree` that hold a NaN or inf (one program and one transfer for them all)."""
    floats = [(path, leaf) for path, leaf in jax.tree_util.tree_leaves_with_path(tree)
              if jnp.issubdtype(jnp.result_type(leaf), jnp.floating)]
    if not floats:
        return []
    finite = np.asarray(_all_finite([leaf for _, leaf in floats]))
    return [jax.tree_util.keystr(path) for (path, _), ok in zip(floats, finite) if not ok]


def abstract_like(tree: Any) -> Any:
    """ShapeDtypeStructs (with shardings) describing `tree`: the restore target."""

    def leaf(x):
        sharding = getattr(x, "sharding", None)
        return jax.ShapeDtypeStruct(np.shape(x), jnp.result_type(x), sharding=sharding)

    return jax.tree.map(leaf, tree)


class Checkpointer:
    """A thin wrapper of `ocp.CheckpointManager` that refuses non-finite states."""

    def __init__(self, directory: epath.PathLike, *, max_to_keep: int = 2):
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, enable_async_checkpointing=False
        )
        self.directory = resolve(directory)
        self._manager = ocp.CheckpointManager(self.directory, options=options, item_names=("state", "host"))

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

    def restore_latest(self, target: Any, message: Callable[[str], None]) -> tuple[int, Any, dict[str, Any]] | None:
        """Restore the newest checkpoint that restores (None when there is none at all).

        Each newer one that fails (on any process) is reported through `message` in one line and moved into
        `<directory>.unreadable/`; when every checkpoint fails the error of the newest is raised.
        """
        failures: list[tuple[int, Exception]] = []
        for step in sorted(self.all_steps(), reverse=True):
            error = None
            try:
                result = self.restore(target, step)
            except Exception as e:  # noqa: BLE001 (orbax/tensorstore raise many types for damaged files)
                error = e
            if all(parallel.allgather_objects(error is None)):
                for bad, err in failures:
                    message(f"checkpoint step {bad} does not restore ({_one_line(err)}): kept as "
                            f"{self._set_aside(bad)}, resuming from step {step}")
                self._manager.reload()
                return result
            failures.append((step, error or RuntimeError("it failed to restore on another process")))
        if failures:
            step, error = failures[0]
            raise RuntimeError(f"no checkpoint in {self.directory} restores; the newest, step {step}: "
                               f"{_one_line(error)}") from error
        return None

    def _set_aside(self, step: int) -> epath.Path:
        """Move step `step`'s directory into `<directory>.unreadable/` (process 0; the others wait)."""
        aside = self.directory.parent / (self.directory.name + UNREADABLE_SUFFIX)
        target = aside / str(step)
        copy = 1
        while target.exists():
            target, copy = aside / f"{step}.{copy}", copy + 1
        if parallel.is_primary():
            aside.mkdir(parents=True, exist_ok=True)
            (self.directory / str(step)).rename(target)
        parallel.barrier(f"checkpoint_set_aside_{step}")
        return target

    def close(self) -> None:
        self._manager.close()


def _one_line(error: BaseException) -> str:
    """`Type: first line of the message`, at most 200 characters (tensorstore errors run to pages)."""
    text = str(error).split("\n", 1)[0].split(" [tensorstore_spec", 1)[0]
    return f"{type(error).__name__}: {text[:200] + ('...' if len(text) > 200 else '')}"
