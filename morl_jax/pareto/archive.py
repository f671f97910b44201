"""Host-side Pareto archive of evaluated checkpoints (NumPy + moocore, exact for any d, not jit).

Each entry is an objective vector in the objectives' own units, the training step and a JSON-able
metadata dict. Objectives to be minimised (e.g. response length) are negated internally, so callers
never flip signs: `ref` and points are given and returned as measured.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Sequence

import moocore
import numpy as np

FORMAT_VERSION = 1


@dataclass(frozen=True)
class ArchiveEntry:
    """One evaluated checkpoint: objective vector (own units), training step, metadata."""

    point: np.ndarray
    step: int
    metadata: dict[str, Any] = field(default_factory=dict)


class ParetoArchive:
    """Archive of (objective vector, step, metadata) with exact hypervolume bookkeeping via moocore."""

    def __init__(self, ref: Sequence[float], names: Sequence[str] | None = None, maximise: Sequence[bool] | None = None):
        ref_arr = np.asarray(ref, dtype=np.float64)
        if ref_arr.ndim != 1 or ref_arr.size == 0:
            raise ValueError(f"ref must be a non-empty 1-D vector (one value per objective); got shape {ref_arr.shape}.")
        d = ref_arr.size
        self._names = [f"objective_{i}" for i in range(d)] if names is None else [str(n) for n in names]
        if len(self._names) != d:
            raise ValueError(f"names has {len(self._names)} entries but ref has {d} objectives.")
        if len(set(self._names)) != d:
            raise ValueError(f"objective names must be unique; got {self._names}.")
        if not np.all(np.isfinite(ref_arr)):
            raise ValueError(f"ref must be finite; got {self._describe(ref_arr)}.")
        maximise_list = [True] * d if maximise is None else list(maximise)
        if len(maximise_list) != d or not all(isinstance(m, (bool, np.bool_)) for m in maximise_list):
            raise ValueError(f"maximise must be {d} booleans (one per objective); got {maximise!r}.")
        self._maximise = np.asarray(maximise_list, dtype=bool)
        self._signs = np.where(self._maximise, 1.0, -1.0)
        self._ref = ref_arr
        self._entries: list[ArchiveEntry] = []
        self._internal = np.zeros((0, d))  # rows in maximisation form
        self._hypervolume = 0.0

    # ----------------------------------------------------------------------------------------- inputs

    def _describe(self, vector: np.ndarray) -> str:
        return "{" + ", ".join(f"{n}={v!r}" for n, v in zip(self._names, vector.tolist())) + "}"

    def _check_point(self, point: Sequence[float]) -> np.ndarray:
        arr = np.asarray(point, dtype=np.float64)
        if arr.shape != (self.num_objectives,):
            raise ValueError(
                f"point must have shape ({self.num_objectives},) for objectives {self._names}; got shape {arr.shape}."
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"point must be finite; got {self._describe(arr)}.")
        return arr

    def _hv_internal(self, rows: np.ndarray) -> float:
        if rows.shape[0] == 0:
            return 0.0
        return float(moocore.hypervolume(rows, ref=self._ref * self._signs, maximise=True))

    # ------------------------------------------------------------------------------------- queries

    @property
    def num_objectives(self) -> int:
        return self._ref.size

    @property
    def names(self) -> list[str]:
        return list(self._names)

    @property
    def maximise(self) -> list[bool]:
        return self._maximise.tolist()

    @property
    def ref(self) -> np.ndarray:
        return self._ref.copy()

    @property
    def points(self) -> np.ndarray:
        """(n, d) objective vectors in their own units, in insertion order."""
        return self._internal * self._signs

    @property
    def signed_points(self) -> np.ndarray:
        """(n, d) points in maximisation form (minimised objectives negated), in insertion order."""
        return self._internal.copy()

    @property
    def signed_ref(self) -> np.ndarray:
        """The reference in maximisation form."""
        return self._ref * self._signs

    @property
    def steps(self) -> np.ndarray:
        return np.asarray([e.step for e in self._entries], dtype=np.int64)

    @property
    def entries(self) -> list[ArchiveEntry]:
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def hypervolume(self) -> float:
        """Exact hypervolume of all entries w.r.t. ref (moocore; dominated entries add nothing)."""
        return self._hypervolume

    def gain(self, point: Sequence[float]) -> float:
        """Hypervolume the archive would gain by adding `point` (>= 0; the archive is unchanged)."""
        row = self._check_point(point) * self._signs
        after = self._hv_internal(np.vstack([self._internal, row]))
        return max(0.0, after - self._hypervolume)

    def pareto_mask(self, keep_duplicates: bool = False) -> np.ndarray:
        """Boolean (n,) mask of non-dominated entries (first copy of duplicates unless keep_duplicates)."""
        if len(self) == 0:
            return np.zeros((0,), dtype=bool)
        return np.asarray(moocore.is_nondominated(self._internal, maximise=True, keep_weakly=keep_duplicates))

    def pareto_entries(self, keep_duplicates: bool = False) -> list[ArchiveEntry]:
        """The non-dominated entries, in insertion order."""
        return [e for e, keep in zip(self._entries, self.pareto_mask(keep_duplicates)) if keep]

    # ------------------------------------------------------------------------------------- updates

    def add(self, point: Sequence[float], step: int, metadata: dict[str, Any] | None = None) -> float:
        """Adds an evaluated checkpoint; returns its hypervolume gain over the archive before it."""
        arr = self._check_point(point)
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
            raise ValueError(f"step must be an int; got {step!r}.")
        if metadata is not None and not isinstance(metadata, dict):
            raise ValueError(f"metadata must be a dict or None; got {type(metadata).__name__}.")
        try:  # a JSON round trip copies it and makes to_dict() -> from_dict() exact
            metadata = json.loads(json.dumps(metadata or {}, allow_nan=False))
        except (TypeError, ValueError) as err:
            raise ValueError(f"metadata must be JSON-serialisable (finite numbers, str keys): {err}") from err
        internal = np.vstack([self._internal, arr * self._signs])
        after = self._hv_internal(internal)
        gained = max(0.0, after - self._hypervolume)
        self._entries.append(ArchiveEntry(point=arr, step=int(step), metadata=metadata))
        self._internal = internal
        self._hypervolume = after
        return gained

    # ------------------------------------------------------------------------------- serialisation

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state (floats round-trip exactly through json)."""
        return {
            "version": FORMAT_VERSION,
            "ref": self._ref.tolist(),
            "names": list(self._names),
            "maximise": self._maximise.tolist(),
            "entries": [
                {"point": e.point.tolist(), "step": e.step, "metadata": e.metadata} for e in self._entries
            ],
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> "ParetoArchive":
        """Rebuilds an archive from `to_dict()` output."""
        missing = {"version", "ref", "names", "maximise", "entries"} - set(state)
        if missing:
            raise ValueError(f"not a ParetoArchive state: missing keys {sorted(missing)}.")
        if state["version"] != FORMAT_VERSION:
            raise ValueError(f"unsupported ParetoArchive format version {state['version']} (expected {FORMAT_VERSION}).")
        archive = cls(state["ref"], names=state["names"], maximise=state["maximise"])
        for entry in state["entries"]:
            archive.add(entry["point"], entry["step"], entry.get("metadata"))
        return archive

    def save(self, path: str | os.PathLike) -> None:
        """Writes to_dict() as JSON atomically (a crash never leaves a half-written file)."""
        path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(path))
        text = json.dumps(self.to_dict(), allow_nan=False, indent=1)
        with tempfile.NamedTemporaryFile("w", dir=directory, suffix=".tmp", delete=False) as tmp:
            tmp.write(text)
        os.replace(tmp.name, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ParetoArchive":
        """Reads a file written by save()."""
        with open(path) as f:
            return cls.from_dict(json.load(f))

    def __repr__(self) -> str:
        return (
            f"ParetoArchive(n={len(self)}, names={self._names}, maximise={self.maximise}, "
            f"hypervolume={self._hypervolume:.6g})"
        )
