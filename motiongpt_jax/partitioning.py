"""Device mesh and sharding rules: one program for one CPU, one GPU or a TPU pod.

The mesh has two axes, ('data', 'model'). Batches are split on 'data'. Parameters are
annotated with T5X's logical axis names (batch, vocab, embed, mlp, heads, kv, joined_kv,
length, ...) and mapped onto the mesh by ``LOGICAL_AXIS_RULES`` -- the same mapping as
T5X's ``standard_logical_axis_rules`` (1-D model parallelism, activations partitioned like
parameters). Models without annotations (the VQ-VAE) are replicated.
"""

from __future__ import annotations

import numpy as np
import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA, MODEL = "data", "model"

# Logical axis -> mesh axis (or None: replicated along that dimension).
LOGICAL_AXIS_RULES: tuple[tuple[str, str | None], ...] = (
    ("batch", DATA),
    ("vocab", MODEL),
    ("mlp", MODEL),
    ("heads", MODEL),
    ("joined_kv", MODEL),
    ("kv", None),
    ("embed", None),
    ("length", None),
    ("relpos_buckets", None),
    ("abspos_buckets", None),
    ("layers", None),
    ("stack", None),
)


class MeshError(ValueError):
  """The requested mesh does not fit the devices or the batch."""


def make_mesh(model_parallel: int = 1, devices=None) -> Mesh:
  """A ('data', 'model') mesh over all devices; 'model' has ``model_parallel`` devices."""
  devices = list(jax.devices() if devices is None else devices)
  if model_parallel < 1 or len(devices) % model_parallel:
    raise MeshError(f"cannot split {len(devices)} devices into a 'model' axis of "
                    f"{model_parallel}: it must divide the device count")
  grid = np.array(devices).reshape(len(devices) // model_parallel, model_parallel)
  return Mesh(grid, (DATA, MODEL))


def data_parallel_size(mesh: Mesh) -> int:
  return mesh.shape[DATA]


def check_batch(mesh: Mesh, batch_size: int) -> None:
  n = data_parallel_size(mesh)
  if batch_size % n:
    raise MeshError(f"batch size {batch_size} is not divisible by the {n} devices of the "
                    f"'data' mesh axis; choose a multiple of {n}")


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) dimension split over 'data'."""
  return NamedSharding(mesh, P(DATA))


def logical_to_mesh_spec(logical_axes, rules=LOGICAL_AXIS_RULES) -> P:
  """('embed', 'mlp') -> PartitionSpec(None, 'model'); a mesh axis is used at most once."""
  table = dict(rules)
  used, spec = set(), []
  for name in logical_axes or ():
    axis = table.get(name) if name is not None else None
    if axis is not None and axis in used:
      axis = None
    if axis is not None:
      used.add(axis)
    spec.append(axis)
  return P(*spec)


def shard_batch(mesh: Mesh, batch: dict) -> dict:
  """Global arrays from this process's rows of a batch (the whole batch on one host)."""
  sharding = batch_sharding(mesh)
  return jax.tree_util.tree_map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), batch)
