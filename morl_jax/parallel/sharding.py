"""Logical-axis rules -> `NamedSharding`s for model state and batches, and creating or resharding models on a mesh.

Parameters carry `logical_axes` metadata (e.g. ("embed", "mlp")). A rules table (MaxText style, `mesh.rules` in the
config) maps each logical name to mesh axes; a mesh axis is used at most once per array. A rule whose mesh axes do
not divide a parameter's or a batch's dimension is an error naming the array, the logical axis and the sizes:
silently replicating a 7B model's weights because a head count is odd would show only as an out-of-memory later.
Activation constraints (`constrain`) are hints, not layouts the user asked for, so there an axis that does not
divide is dropped (the decoder halves its batch as rows finish, down to fewer rows than devices).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Mapping, Sequence

import jax
import numpy as np
import optax
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
    ("act_embed", None),  # the hidden dimension of activations (weights' `embed` is gathered, FSDP style)
)


def _as_tuple(axes: MeshAxes) -> tuple[str, ...]:
    if axes is None:
        return ()
    return (axes,) if isinstance(axes, str) else tuple(axes)


def logical_to_spec(logical_axes: Sequence[str | None], mesh: jax.sharding.Mesh | jax.sharding.AbstractMesh,
                    rules: Rules = DEFAULT_RULES, shape: Sequence[int] | None = None, *, strict: bool = True,
                    name: str = "an array") -> PartitionSpec:
    """PartitionSpec for an array whose dimensions have these logical names (None = replicated).

    With `shape`, a rule whose mesh axes (of size > 1) do not divide the dimension raises ValueError naming `name`
    (`strict`), or loses its trailing axes until they divide (not `strict`: activation hints).
    """
    table = dict(rules)
    mesh_sizes = dict(mesh.shape)
    used: set[str] = set()
    spec = []
    for dim, logical in enumerate(logical_axes):
        if logical is None:
            spec.append(None)
            continue
        if logical not in table:
            raise KeyError(f"logical axis {logical!r} has no sharding rule; rules cover {sorted(table)}")
        axes = [a for a in _as_tuple(table[logical]) if a not in used]
        missing = [a for a in axes if a not in mesh_sizes]
        if missing:
            raise ValueError(f"rule {logical!r} -> {table[logical]} names mesh axes {missing} that the mesh "
                             f"{tuple(mesh_sizes)} does not have")
        axes = [a for a in axes if mesh_sizes[a] > 1]
        if shape is not None:
            parts = math.prod(mesh_sizes[a] for a in axes)
            if strict and shape[dim] % parts:
                raise ValueError(
                    f"{name} of shape {tuple(shape)}: dimension {dim} ({logical!r}, size {shape[dim]}) does not split "
                    f"over mesh axes {tuple(axes)} of {parts} devices; change the rule mesh.rules.{logical} (None "
                    f"replicates it) or mesh.shape")
            while axes and shape[dim] % math.prod(mesh_sizes[a] for a in axes):
                axes.pop()
        used.update(axes)
        spec.append(None if not axes else axes[0] if len(axes) == 1 else tuple(axes))
    return PartitionSpec(*spec)


def _is_variable(x: Any) -> bool:
    return isinstance(x, nnx.Variable)


def state_shardings(state: Any, mesh: jax.sharding.Mesh, rules: Rules = DEFAULT_RULES) -> Any:
    """A tree shaped like `state` (nnx State, abstract or concrete) with a NamedSharding per array.

    Variables with `logical_axes` metadata are sharded by the rules (ValueError naming the parameter when a rule
    does not divide its dimension); everything else is replicated. The result can be passed as `in_shardings` /
    `out_shardings` of `jax.jit` or to `jax.device_put`.
    """

    def leaf_sharding(path: Any, leaf: Any) -> Any:
        if _is_variable(leaf):
            axes = leaf.get_metadata().get("logical_axes")
            value = leaf.get_value()
            if axes is None:
                return leaf.replace(NamedSharding(mesh, PartitionSpec()))
            where = "parameter " + "/".join(str(getattr(p, "key", getattr(p, "idx", p))) for p in path)
            if len(axes) != len(value.shape):
                raise ValueError(f"{where}: logical_axes {axes} do not match its shape {value.shape}")
            return leaf.replace(NamedSharding(mesh, logical_to_spec(axes, mesh, rules, value.shape, name=where)))
        return NamedSharding(mesh, PartitionSpec())

    return jax.tree_util.tree_map_with_path(leaf_sharding, state, is_leaf=_is_variable)


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
    graphdef, abstract = nnx.split(nnx.eval_shape(lambda: constructor(*args)))
    state_shardings(abstract, mesh, rules)  # a rule that does not divide a parameter fails here, before compiling
    with jax.set_mesh(mesh):
        state = _sharded_state(constructor, tuple(args), tuple(rules))
    return nnx.merge(graphdef, state)


def batch_shards(mesh: jax.sharding.Mesh | jax.sharding.AbstractMesh, rules: Rules = DEFAULT_RULES) -> int:
    """How many ways the `batch` rule splits a batch on `mesh` (a batch's row count must be a multiple)."""
    sizes = dict(mesh.shape)
    return math.prod(sizes[a] for a in _as_tuple(dict(rules)["batch"]) if a in sizes)


def batch_sharding(mesh: jax.sharding.Mesh, ndim: int = 2, rules: Rules = DEFAULT_RULES,
                   batch_size: int | None = None) -> NamedSharding:
    """Sharding for a batch-major array [B, ...]: rows over the `batch` rule's axes, the rest replicated
    (ValueError when `batch_size` does not split over them)."""
    shape = None if batch_size is None else (batch_size,)
    spec = logical_to_spec(("batch",), mesh, rules, shape, name=f"a batch of {batch_size} rows")
    return NamedSharding(mesh, PartitionSpec(*spec, *([None] * (ndim - 1))))


def put_batch(tree: Any, mesh: jax.sharding.Mesh, rules: Rules = DEFAULT_RULES) -> Any:
    """Batch-major arrays placed on `mesh`, rows split over the `batch` rule's axes.

    Host arrays must hold the same global batch on every process: each process transfers only the rows of its own
    devices (`jax.device_put` of a NumPy array to a multi-process sharding). Device arrays are resharded.
    """
    def put(x):
        x = np.asarray(x) if not isinstance(x, jax.Array) else x
        return jax.device_put(x, batch_sharding(mesh, x.ndim, rules, batch_size=x.shape[0]))

    return jax.tree.map(put, tree)


def constrain(x: jax.Array, logical_axes: Sequence[str | None], rules: Rules = DEFAULT_RULES) -> jax.Array:
    """`x` with an activation sharding constraint from the rules, under the mesh set by `jax.set_mesh`.

    A no-op without a mesh or on one device (the program is then the unsharded one, so single-device numbers stay
    exactly as they were); mesh axes that do not divide a dimension are left out of the hint.
    """
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or math.prod(mesh.shape.values()) == 1:
        return x
    spec = logical_to_spec(logical_axes, mesh, rules, x.shape, strict=False)
    return jax.lax.with_sharding_constraint(x, spec)


def rules_from_config(overrides: Mapping[str, MeshAxes | list[str]] | None = None,
                      base: Rules = DEFAULT_RULES) -> tuple[tuple[str, MeshAxes], ...]:
    """The base rules with some logical names remapped (e.g. {"embed": None} turns FSDP off); a value is a mesh
    axis name, a sequence of them, or None (replicated)."""
    table = dict(base)
    for name, value in (overrides or {}).items():
        if isinstance(value, (list, tuple)):
            value = tuple(value)
            if not all(isinstance(a, str) for a in value):
                raise ValueError(f"rule {name!r}: mesh axes must be names, got {value!r}")
        elif value is not None and not isinstance(value, str):
            raise ValueError(f"rule {name!r}: expected a mesh axis name, a sequence of them or None, got {value!r}")
        table[name] = value
    return tuple(table.items())


def optimizer_shardings(opt_state: Any, params: Any, param_shardings: Any, mesh: Any) -> Any:
    """Shardings of an optimizer state (arrays or shapes): a leaf whose tree path ends with a parameter's path and
    has its shape (Adam's moments, under any optax wrapper: chain, masked, multi_transform) is sharded like that
    parameter; counters and the rest are replicated."""
    replicated = NamedSharding(mesh, PartitionSpec())
    by_path = {tuple(path): (np.shape(x), sharding) for (path, x), sharding in
               zip(jax.tree_util.tree_leaves_with_path(params), jax.tree.leaves(param_shardings))}

    def leaf(path, x):
        for start in range(len(path)):
            shape, sharding = by_path.get(tuple(path[start:]), (None, None))
            if sharding is not None and shape == np.shape(x):
                return sharding
        return replicated

    return jax.tree_util.tree_map_with_path(leaf, opt_state)


def init_optimizer_state(tx: optax.GradientTransformation, params: Any, mesh: jax.sharding.Mesh) -> Any:
    """`tx.init(params)` in one jit: moments sharded like their parameters, counters replicated (an init outside
    jit would leave the counters on one device, which a multi-process step cannot take)."""
    shardings = optimizer_shardings(jax.eval_shape(tx.init, params), params,
                                    jax.tree.map(lambda x: x.sharding, params), mesh)
    return jax.jit(tx.init, out_shardings=shardings)(params)
