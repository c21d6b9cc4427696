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


def shard_batch(mesh: Mesh, batch: dict, global_batch_size: int | None = None) -> dict:
  """Global arrays from this process's rows of a batch.

  A task may hand over either its process-local rows (SeqIO pipelines read one shard per
  process) or the whole global batch (``global_batch_size`` rows, the same on every
  process); in the latter case each process keeps its contiguous block of rows, which is
  the block ``make_array_from_process_local_data`` expects from it.
  """
  sharding = batch_sharding(mesh)
  count, index = jax.process_count(), jax.process_index()

  def local(x):
    x = np.asarray(x)
    if count > 1 and global_batch_size and len(x) == global_batch_size:
      rows = global_batch_size // count
      x = x[index * rows:(index + 1) * rows]
    return jax.make_array_from_process_local_data(sharding, x)
  return jax.tree_util.tree_map(local, batch)


def logical_specs(boxed_variables):
  """Logical PartitionSpecs of a Flax variable tree whose leaves carry axis names."""
  import flax.linen as nn
  return nn.get_partition_spec(boxed_variables)


def mesh_shardings(mesh: Mesh, specs, rules=LOGICAL_AXIS_RULES):
  """NamedShardings for a tree of logical PartitionSpecs."""
  import flax.linen as nn
  return nn.logical_to_mesh_sharding(specs, mesh, list(rules))


def axis_rules(rules=LOGICAL_AXIS_RULES):
  """Context in which ``nn.with_logical_constraint`` on activations takes effect."""
  import flax.linen as nn
  return nn.logical_axis_rules(list(rules))


def check_divisible(mesh: Mesh, abstract_params, logical, rules=LOGICAL_AXIS_RULES) -> None:
  """Raises MeshError naming the first parameter whose sharded dimension does not divide."""
  flat_params = jax.tree_util.tree_flatten_with_path(abstract_params)[0]
  flat_specs = jax.tree_util.tree_leaves(logical, is_leaf=lambda x: isinstance(x, P))
  for (path, leaf), spec in zip(flat_params, flat_specs):
    mesh_spec = logical_to_mesh_spec(tuple(spec), rules)
    for dim, (size, axis) in enumerate(zip(leaf.shape, mesh_spec)):
      if axis is not None and size % mesh.shape[axis]:
        name = "/".join(str(getattr(k, "key", k)) for k in path)
        raise MeshError(
            f"parameter {name} dimension {dim} ({spec[dim]!r}, size {size}) cannot be split "
            f"over the {mesh.shape[axis]} devices of mesh axis {axis!r}; choose a "
            f"'{axis}' axis size that divides {size}")
