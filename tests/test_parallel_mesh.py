"""Mesh specs, logical-axis rules and shardings on the in-process (one-device) platform."""

import jax
import numpy as np
import pytest
from flax import nnx
from jax.sharding import AbstractMesh, PartitionSpec as P

from morl_jax.models import Transformer, get_config
from morl_jax.parallel import (DEFAULT_RULES, batch_sharding, create_sharded_model, logical_axes_of, logical_to_spec,
                               make_mesh, parse_mesh_spec, resolve_mesh_shape, rules_from_config, shard_model,
                               state_shardings)

MESH_222 = AbstractMesh((2, 2, 2), ("data", "fsdp", "tensor"))


def test_parse_and_resolve_mesh_specs():
    assert parse_mesh_spec(None) == {"data": -1, "fsdp": 1, "tensor": 1}
    assert parse_mesh_spec("data=2, tensor=-1") == {"data": 2, "fsdp": 1, "tensor": -1}
    assert resolve_mesh_shape({"data": 2, "fsdp": -1, "tensor": 2}, 8) == {"data": 2, "fsdp": 2, "tensor": 2}
    assert resolve_mesh_shape("fsdp=-1", 4) == {"data": 1, "fsdp": 4, "tensor": 1}


@pytest.mark.parametrize("spec, message", [
    ({"data": -1, "fsdp": -1}, "at most one"), ({"pipeline": 2}, "unknown axes"), ({"data": 3}, "needs 3"),
    ({"data": 3, "fsdp": -1}, "not divisible"), ({"data": 0}, "positive"), ("data2", "axis=size"),
])
def test_bad_mesh_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        resolve_mesh_shape(spec, 8)


def test_one_device_mesh():
    mesh = make_mesh()
    assert mesh.axis_names == ("data", "fsdp", "tensor") and mesh.devices.size == jax.device_count()
    assert all(t == jax.sharding.AxisType.Auto for t in mesh.axis_types)


def test_default_rules_map_logical_axes():
    assert logical_to_spec(("batch", None), MESH_222) == P(("data", "fsdp"), None)
    assert logical_to_spec(("embed", "mlp"), MESH_222) == P("fsdp", "tensor")
    assert logical_to_spec(("vocab", "embed"), MESH_222) == P("tensor", "fsdp")
    assert logical_to_spec(("embed", "heads", "head_dim"), MESH_222) == P("fsdp", "tensor", None)
    assert logical_to_spec(("norm",), MESH_222) == P(None)


def test_mesh_axes_are_used_once_and_a_rule_that_does_not_divide_is_an_error():
    # heads and kv both map to "tensor": only the first gets it.
    assert logical_to_spec(("heads", "kv"), MESH_222) == P("tensor", None)
    # 3 KV heads cannot be split over tensor=2: an error naming the array, the rule and the sizes, not replication.
    with pytest.raises(ValueError, match=r"layers/0/attn/k of shape \(32, 3, 8\): dimension 1 \('kv', size 3\) "
                                         r"does not split over mesh axes \('tensor',\) of 2 devices.*mesh.rules.kv"):
        logical_to_spec(("embed", "kv", "head_dim"), MESH_222, shape=(32, 3, 8), name="layers/0/attn/k")
    with pytest.raises(ValueError, match=r"a batch of 2 rows.*over mesh axes \('data', 'fsdp'\) of 4 devices"):
        batch_sharding(MESH_222, batch_size=2)
    # Activation hints (not strict) drop the axes that do not divide instead.
    assert logical_to_spec(("batch",), MESH_222, shape=(2,), strict=False) == P("data")
    assert logical_to_spec(("embed", "kv", "head_dim"), MESH_222, rules=rules_from_config({"kv": None}),
                           shape=(32, 3, 8)) == P("fsdp", None, None)


def test_a_model_whose_heads_do_not_split_fails_before_compiling():
    mesh = jax.sharding.AbstractMesh((1, 1, 3), ("data", "fsdp", "tensor"))
    abstract = nnx.state(nnx.eval_shape(lambda: Transformer(get_config("tiny"), rngs=nnx.Rngs(0))))
    with pytest.raises(ValueError, match=r"parameter embed of shape \(64, 32\).*'vocab', size 64.*mesh.rules.vocab"):
        state_shardings(abstract, mesh)
    rules = rules_from_config({"vocab": None})
    with pytest.raises(ValueError, match=r"parameter layers/0/attn/k of shape \(32, 2, 8\).*'kv', size 2"):
        state_shardings(abstract, mesh, rules)


def test_rule_errors():
    with pytest.raises(KeyError, match="no sharding rule"):
        logical_to_spec(("experts",), MESH_222)
    with pytest.raises(ValueError, match="does not have"):
        logical_to_spec(("embed",), MESH_222, rules=rules_from_config({"embed": "pipeline"}))
    assert logical_to_spec(("embed",), MESH_222, rules=rules_from_config({"embed": None})) == P(None)
    assert dict(rules_from_config({"mlp": ["fsdp", "tensor"]}))["mlp"] == ("fsdp", "tensor")
    assert len(rules_from_config()) == len(DEFAULT_RULES)


def test_state_shardings_follow_the_parameters_logical_axes():
    abstract = nnx.eval_shape(lambda: Transformer(get_config("tiny"), rngs=nnx.Rngs(0)))
    state = nnx.state(abstract)
    mesh = make_mesh()
    shardings = state_shardings(state, mesh)
    flat = dict(nnx.to_flat_state(shardings))
    assert flat[("layers", 0, "mlp", "gate")].get_value().mesh.shape == mesh.shape
    axes = dict(nnx.to_flat_state(logical_axes_of(state)))
    assert axes[("layers", 1, "attn", "q")].get_value() == ("embed", "heads", "head_dim")


def test_create_and_shard_on_a_one_device_mesh_keep_the_values():
    cfg = get_config("tiny")
    mesh = make_mesh()
    reference = Transformer(cfg, rngs=nnx.Rngs(0))
    created = create_sharded_model(lambda: Transformer(cfg, rngs=nnx.Rngs(0)), mesh)
    sharded = shard_model(reference, mesh)
    for a, b, c in zip(*(jax.tree.leaves(nnx.state(m)) for m in (reference, created, sharded))):
        np.testing.assert_allclose(a, b, atol=1e-7)
        np.testing.assert_array_equal(a, c)
    assert batch_sharding(mesh, ndim=3).spec == P(None, None, None)
