"""Device mesh from the config: axes `data`, `fsdp`, `tensor` (automatic sharding, -1 = the rest, any of size 1).

`mesh.shape` is the mesh within one slice (ICI: the fast interconnect); `mesh.dcn` splits the axes further across
slices (DCN: the data-centre network between TPU slices, or between processes where the devices are all in one
slice or carry no slice index: GPU hosts, CPU processes), so
`make_mesh({"fsdp": -1}, dcn={"data": 2})` runs FSDP inside each slice and data parallelism across two slices.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import jax
import numpy as np
from jax.experimental import mesh_utils

MESH_AXES = ("data", "fsdp", "tensor")


def parse_mesh_spec(spec: Mapping[str, int] | str | None) -> dict[str, int]:
    """{axis: size} from a mapping (dict, ConfigDict) or a string like "data=2,fsdp=-1"; unset axes are 1."""
    if spec is None:
        spec = {"data": -1}
    if isinstance(spec, str):
        items = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, sep, size = part.partition("=")
            if not sep:
                raise ValueError(f"mesh spec {spec!r}: expected 'axis=size' items, got {part!r}")
            items[name.strip()] = int(size)
        spec = items
    unknown = sorted(set(spec) - set(MESH_AXES))
    if unknown:
        raise ValueError(f"mesh spec: unknown axes {unknown}; known: {list(MESH_AXES)}")
    return {axis: int(spec.get(axis, 1)) for axis in MESH_AXES}


def resolve_mesh_shape(spec: Mapping[str, int] | str | None, num_devices: int) -> dict[str, int]:
    """Axis sizes whose product is `num_devices`; at most one axis may be -1 (it takes the remaining devices)."""
    sizes = parse_mesh_spec(spec)
    rest = [axis for axis, size in sizes.items() if size == -1]
    if len(rest) > 1:
        raise ValueError(f"mesh spec {sizes}: at most one axis may be -1, got {rest}")
    bad = {axis: size for axis, size in sizes.items() if size == 0 or size < -1}
    if bad:
        raise ValueError(f"mesh spec {sizes}: sizes must be positive or -1, got {bad}")
    fixed = math.prod(size for size in sizes.values() if size != -1)
    if rest:
        if num_devices % fixed:
            raise ValueError(f"mesh spec {sizes}: {num_devices} devices are not divisible by {fixed}")
        sizes[rest[0]] = num_devices // fixed
    if math.prod(sizes.values()) != num_devices:
        raise ValueError(f"mesh spec {sizes} needs {math.prod(sizes.values())} devices, have {num_devices}")
    return sizes


def make_mesh(spec: Mapping[str, int] | str | None = None, *, dcn: Mapping[str, int] | str | None = None,
              devices: Sequence[Any] | None = None) -> jax.sharding.Mesh:
    """A (data, fsdp, tensor) mesh with `AxisType.Auto` axes over `devices` (default: all devices).

    `spec` is the per-slice shape; `dcn` (default: all 1) multiplies each axis by a number of slices. With DCN
    axes the devices are grouped by TPU slice, or by process where they are all in one slice or have no slice index
    (GPU hosts, CPU processes under jax.distributed, which all report one slice).
    """
    devices = list(jax.devices() if devices is None else devices)
    auto = (jax.sharding.AxisType.Auto,) * len(MESH_AXES)
    dcn_sizes = parse_mesh_spec(dcn or {})
    if any(size < 1 for size in dcn_sizes.values()):
        raise ValueError(f"mesh dcn {dcn_sizes}: sizes must be >= 1 (no -1 across slices)")
    slices = math.prod(dcn_sizes.values())
    if slices > 1:
        if len(devices) % slices:
            raise ValueError(f"mesh dcn {dcn_sizes} asks for {slices} slices; {len(devices)} devices do not divide")
        sizes = resolve_mesh_shape(spec, len(devices) // slices)
        by_process = len({getattr(d, "slice_index", 0) for d in devices}) == 1
        array = mesh_utils.create_hybrid_device_mesh([sizes[a] for a in MESH_AXES], [dcn_sizes[a] for a in MESH_AXES],
                                                     devices, process_is_granule=by_process)
        return jax.sharding.Mesh(array, MESH_AXES, axis_types=auto)
    sizes = resolve_mesh_shape(spec, len(devices))
    shape = tuple(sizes[axis] for axis in MESH_AXES)
    if len(devices) == len(jax.devices()):
        return jax.make_mesh(shape, MESH_AXES, axis_types=auto, devices=devices)
    return jax.sharding.Mesh(np.asarray(devices).reshape(shape), MESH_AXES, axis_types=auto)
