"""Device mesh (`data`, `fsdp`, `tensor`, with an ICI/DCN split), logical-axis sharding rules, sharded model
creation, and the multi-process helpers of multi-host runs.

    mesh = make_mesh({"data": -1, "tensor": 2})
    model = create_sharded_model(lambda: Transformer(cfg, rngs=nnx.Rngs(0)), mesh)
    with jax.set_mesh(mesh):
        ...  # jit'ted steps; shardings follow the state, `batch_sharding(mesh)` for inputs
"""

from morl_jax.parallel.distributed import (allgather_objects, assemble_rows, barrier, combine_means, gather, initialize,
                                           is_primary, rows_to_score)
from morl_jax.parallel.mesh import MESH_AXES, make_mesh, parse_mesh_spec, resolve_mesh_shape
from morl_jax.parallel.sharding import (DEFAULT_RULES, batch_shards, batch_sharding, constrain, create_sharded_model,
                                        init_optimizer_state, logical_axes_of, logical_to_spec, put_batch, rules_from_config, shard_model,
                                        shard_state, state_shardings)

__all__ = [
    "DEFAULT_RULES", "MESH_AXES", "allgather_objects", "assemble_rows", "barrier", "batch_shards", "batch_sharding", "combine_means",
    "constrain", "create_sharded_model", "gather", "init_optimizer_state", "initialize", "is_primary", "logical_axes_of", "logical_to_spec",
    "make_mesh", "parse_mesh_spec", "put_batch", "resolve_mesh_shape", "rows_to_score", "rules_from_config",
    "shard_model", "shard_state", "state_shardings",
]
