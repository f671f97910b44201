"""Device mesh (`data`, `fsdp`, `tensor`), logical-axis sharding rules, and sharded model creation.

    mesh = make_mesh({"data": -1, "tensor": 2})
    model = create_sharded_model(lambda: Transformer(cfg, rngs=nnx.Rngs(0)), mesh)
    with jax.set_mesh(mesh):
        ...  # jit'ted steps; shardings follow the state, `batch_sharding(mesh)` for inputs
"""

from morl_jax.parallel.mesh import MESH_AXES, make_mesh, parse_mesh_spec, resolve_mesh_shape
from morl_jax.parallel.sharding import (DEFAULT_RULES, batch_sharding, create_sharded_model, logical_axes_of,
                                        logical_to_spec, put_batch, rules_from_config, shard_model, shard_state,
                                        state_shardings)

__all__ = [
    "DEFAULT_RULES", "MESH_AXES", "batch_sharding", "create_sharded_model", "logical_axes_of", "logical_to_spec",
    "make_mesh", "parse_mesh_spec", "put_batch", "resolve_mesh_shape", "rules_from_config", "shard_model", "shard_state",
    "state_shardings",
]
