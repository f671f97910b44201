"""Logical-axis rules -> `NamedSharding`s for model state, and creating or resharding models on a mesh.

Parameters carry `logical_axes` metadata (e.g. ("embed", "mlp")). A rules table maps each logical name to mesh
axes; a mesh axis is used at most once per array, and an axis that does not divide the dimension is dropped
(that dimension is then replicated), so any model works on any mesh, including a one-device mesh.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Mapping, Sequence

import jax
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

MeshAxes = str | tuple[str, ...] | None
Rules = Sequence[tuple[str, MeshAxes]]

DEFAULT_RULES: tuple[tuple[str, MeshAxes], ...] = (
    ("batch", ("data", "fsdp")),
    ("embed", "fsdp"),
    ("heads", "tensor"),
    ("kv", "tensor"),
    ("mlp", "tensor"),
    ("vocab", "tensor"),
    ("head_dim", None),
    ("norm", None),
    ("length", None),
    ("layers", None),
    ("objectives", None),  # reward-head outputs: K is tiny
)


def _as_tuple(axes: MeshAxes) -> tuple[str, ...]:
    if axes is None:
        return ()
    return (axes,) if isinstance(axes, str) else tuple(axes)


def logical_to_spec(logical_axes: Sequence[str | None], mesh: jax.sharding.Mesh | jax.sharding.AbstractMesh,
                    rules: Rules = DEFAULT_RULES, shape: Sequence[int] | None = None) -> PartitionSpec:
    """PartitionSpec for an array whose dimensions have these logical names (None = replicated)."""
    table = dict(rules)
    mesh_sizes = dict(mesh.shape)
    used: set[str] = set()
    spec = []
    for dim, name in enumerate(logical_axes):
        if name is None:
            spec.append(None)
            continue
        if name not in table:
            raise KeyError(f"logical axis {name!r} has no sharding rule; rules cover {sorted(table)}")
        axes = [a for a in _as_tuple(table[name]) if a not in used]
        missing = [a for a in axes if a not in mesh_sizes]
        if missing:
            raise ValueError(f"rule {name!r} -> {table[name]} names mesh axes {missing} that the mesh "
                             f"{tuple(mesh_sizes)} does not have")
        axes = [a for a in axes if mesh_sizes[a] > 1]
        if shape is not None:
            while axes and shape[dim] % math.prod(mesh_sizes[a] for a in axes):
                axes.pop()
        used.update(axes)
        spec.append(None if not axes else axes[0] if len(axes) == 1 else tuple(axes))
    return PartitionSpec(*spec)


def _is_variable(x: Any) -> bool:
    return isinstance(x, nnx.Variable)


def state_shardings(state: Any, mesh: jax.sharding.Mesh, rules: Rules = DEFAULT_RULES) -> Any:
    """A tree shaped like `state` (nnx State, abstract or concrete) with a NamedSharding per array.

    Variables with `logical_axes` metadata are sharded by the rules; everything else is replicated. The result
    can be passed as `in_shardings` / `out_shardings` of `jax.jit` or to `jax.device_put`.
    """

    def leaf_sharding(leaf: Any) -> Any:
        if _is_variable(leaf):
            axes = leaf.get_metadata().get("logical_axes")
            value = leaf.get_value()
            if axes is None:
                return leaf.replace(NamedSharding(mesh, PartitionSpec()))
            if len(axes) != len(value.shape):
                raise ValueError(f"logical_axes {axes} do not match a parameter of shape {value.shape}")
            return leaf.replace(NamedSharding(mesh, logical_to_spec(axes, mesh, rules, value.shape)))
        return NamedSharding(mesh, PartitionSpec())

    return jax.tree.map(leaf_sharding, state, is_leaf=_is_variable)


def logical_axes_of(state: Any) -> Any:
    """The `logical_axes` metadata of every Variable (None where absent), shaped like `state`."""
    return jax.tree.map(lambda v: v.replace(v.get_metadata().get("logical_axes")) if _is_variable(v) else None,
                        state, is_leaf=_is_variable)


def shard_state(state: Any, mesh: jax.sharding.Mesh, rules: Rules = DEFAULT_RULES) -> Any:
    """`state` placed on the mesh according to the rules."""
    return jax.device_put(state, state_shardings(state, mesh, rules))


def shard_model(model: nnx.Module, mesh: jax.sharding.Mesh, rules: Rules = DEFAULT_RULES) -> nnx.Module:
    """A copy of `model` whose state is sharded over `mesh` (the input model is left as it was)."""
    graphdef, state = nnx.split(model)
    return nnx.merge(graphdef, shard_state(state, mesh, rules))


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _sharded_state(constructor: Callable[..., nnx.Module], args: tuple[Any, ...], rules: Rules) -> Any:
    state = nnx.split(constructor(*args))[1]
    return jax.lax.with_sharding_constraint(state, state_shardings(state, jax.sharding.get_abstract_mesh(), rules))


def create_sharded_model(constructor: Callable[..., nnx.Module], mesh: jax.sharding.Mesh, *args: Any,
                         rules: Rules = DEFAULT_RULES) -> nnx.Module:
    """Build `constructor(*args)` with every parameter created directly in its sharded layout (one jit, no full
    replica on any device). `constructor` and `args` are static (hashable): with a module-level constructor
    the initialisation compiles once per process for each set of arguments and mesh."""
    graphdef = nnx.graphdef(nnx.eval_shape(lambda: constructor(*args)))
    with jax.set_mesh(mesh):
        state = _sharded_state(constructor, tuple(args), tuple(rules))
    return nnx.merge(graphdef, state)


def batch_sharding(mesh: jax.sharding.Mesh, ndim: int = 2, rules: Rules = DEFAULT_RULES,
                   batch_size: int | None = None) -> NamedSharding:
    """Sharding for a batch-major array [B, ...] (batch over the `batch` rule's axes, the rest replicated)."""
    shape = None if batch_size is None else (batch_size,)
    spec = logical_to_spec(("batch",), mesh, rules, shape)
    return NamedSharding(mesh, PartitionSpec(*spec, *([None] * (ndim - 1))))


def put_batch(tree: Any, mesh: jax.sharding.Mesh, rules: Rules = DEFAULT_RULES) -> Any:
    """Batch-major host arrays placed on `mesh`, split over the `batch` rule's axes where the size divides."""
    def put(x):
        x = np.asarray(x) if not isinstance(x, jax.Array) else x
        return jax.device_put(x, batch_sharding(mesh, x.ndim, rules, batch_size=x.shape[0]))

    return jax.tree.map(put, tree)


def rules_from_config(overrides: Mapping[str, MeshAxes] | None = None,
                      base: Rules = DEFAULT_RULES) -> tuple[tuple[str, MeshAxes], ...]:
    """The base rules with some logical names remapped (e.g. {"embed": None} turns FSDP off)."""
    table = dict(base)
    table.update({k: (tuple(v) if isinstance(v, list) else v) for k, v in (overrides or {}).items()})
    return tuple(table.items())
