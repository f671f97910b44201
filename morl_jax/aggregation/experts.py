"""The experts: K policies with one architecture, trained separately from a shared start, stacked for jit."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx


@dataclasses.dataclass(frozen=True)
class Experts:
    """`params`: the experts' parameters stacked along a leading axis of size K (one nnx.State whose leaves are
    [K, ...]); `start`: the shared start θ0 they were fine-tuned from (task vectors are `θ_k − θ0`); `names`:
    one per expert (e.g. the objective it was trained on)."""

    graphdef: nnx.GraphDef
    params: Any
    start: Any
    names: tuple[str, ...]

    @classmethod
    def stack(cls, graphdef: nnx.GraphDef, params: Sequence[Any], start: Any, names: Sequence[str]) -> Experts:
        """Stack K parameter trees of `graphdef`'s model; every tree (and the start) must have the same leaves."""
        if not params:
            raise ValueError("Experts.stack needs at least one expert")
        if len(names) != len(params) or len(set(names)) != len(names):
            raise ValueError(f"Experts.stack needs one distinct name per expert, got {list(names)} for "
                             f"{len(params)} experts")
        reference = jax.tree.structure(start)
        shapes = [(x.shape, x.dtype) for x in jax.tree.leaves(start)]
        for name, tree in zip(names, params):
            if jax.tree.structure(tree) != reference or [(x.shape, x.dtype) for x in jax.tree.leaves(tree)] != shapes:
                raise ValueError(f"expert {name!r} does not have the start's parameter structure, shapes and dtypes "
                                 "(experts must share one architecture)")
        stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *params)
        return cls(graphdef, stacked, start, tuple(str(n) for n in names))

    def __len__(self) -> int:
        return len(self.names)

    def expert(self, index: int) -> Any:
        """The parameters of expert `index` (unstacked)."""
        if not 0 <= index < len(self):
            raise IndexError(f"expert index {index} out of range for {len(self)} experts {list(self.names)}")
        return jax.tree.map(lambda x: x[index], self.params)
