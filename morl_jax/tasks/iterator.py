"""A resumable, deterministic batch iterator over a dataset's columns."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

import numpy as np


class PromptIterator:
    """Endless batches of `batch_size` rows; a fresh permutation every epoch.

    The order of epoch e is `default_rng([seed, e]).permutation(n)` (or file order if not
    `shuffle`), so `state()` = (epoch, position) fully determines the rest of the stream and a
    restored iterator yields exactly the batches the original would have. A partial batch at the
    end of an epoch is dropped (static batch shapes for jit).
    """

    def __init__(self, dataset_columns: Mapping[str, Any], batch_size: int, seed: int,
                 shuffle: bool = True):
        if not dataset_columns:
            raise ValueError("PromptIterator needs at least one column")
        self._columns = {k: np.asarray(v) for k, v in dataset_columns.items()}
        sizes = {k: len(v) for k, v in self._columns.items()}
        self.num_rows = next(iter(sizes.values()))
        if len(set(sizes.values())) != 1:
            raise ValueError(f"columns have different lengths: {sizes}")
        if not 1 <= batch_size <= self.num_rows:
            raise ValueError(f"batch_size must be in [1, {self.num_rows}] (the dataset size), "
                             f"got {batch_size}")
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.shuffle = bool(shuffle)
        self._epoch = 0
        self._position = 0
        self._order = self._epoch_order(0)

    @property
    def batches_per_epoch(self) -> int:
        return self.num_rows // self.batch_size

    def _epoch_order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.num_rows)
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_rows)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        if self._position + self.batch_size > self.num_rows:
            self._epoch += 1
            self._position = 0
            self._order = self._epoch_order(self._epoch)
        rows = self._order[self._position:self._position + self.batch_size]
        self._position += self.batch_size
        return {k: v[rows] for k, v in self._columns.items()}

    def state(self) -> dict[str, int]:
        """Where the stream is: {"epoch", "position"} (plain ints, JSON-friendly)."""
        return {"epoch": self._epoch, "position": self._position}

    def restore(self, state: Mapping[str, int]) -> None:
        if set(state) != {"epoch", "position"}:
            raise KeyError(f"iterator state needs keys ['epoch', 'position'], got {sorted(state)}")
        epoch, position = int(state["epoch"]), int(state["position"])
        if epoch < 0 or not 0 <= position <= self.num_rows:
            raise ValueError(f"invalid iterator state {dict(state)} for {self.num_rows} rows")
        self._epoch, self._position = epoch, position
        self._order = self._epoch_order(epoch)
