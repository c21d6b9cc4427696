"""Orbax checkpoints of a training state: atomic, keep-last-N, resume, shape checks.

Orbax writes each step into a temporary directory and renames it when complete, so a run
killed mid-save leaves the previous checkpoints intact and no half-written step behind.
"""

from __future__ import annotations

import logging
import os

import jax
import numpy as np
import orbax.checkpoint as ocp


class CheckpointMismatchError(ValueError):
  """A checkpoint's arrays do not fit the model built from the config."""


def _path_name(path) -> str:
  parts = []
  for key in path:
    if isinstance(key, jax.tree_util.DictKey):
      parts.append(str(key.key))
    elif isinstance(key, jax.tree_util.GetAttrKey):
      parts.append(key.name)
    elif isinstance(key, jax.tree_util.SequenceKey):
      parts.append(str(key.idx))
    else:
      parts.append(str(key))
  return "/".join(parts)


def shapes_by_name(tree) -> dict[str, tuple]:
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {_path_name(p): tuple(getattr(v, "shape", ())) for p, v in leaves}


def compare_shapes(expected: dict[str, tuple], found: dict[str, tuple], where: str) -> None:
  """Raises CheckpointMismatchError naming the first differences."""
  problems = []
  # Parameters first: they say what differs; optimizer moments only repeat it.
  order = {"params": 0, "extra": 1, "step": 2}
  for name in sorted(set(expected) | set(found),
                     key=lambda n: (order.get(n.split("/")[0], 3), n)):
    if name not in found:
      problems.append(f"{name}: missing from the checkpoint (config expects {expected[name]})")
    elif name not in expected:
      problems.append(f"{name}: in the checkpoint {found[name]} but not in the model")
    elif tuple(expected[name]) != tuple(found[name]):
      problems.append(f"{name}: checkpoint has shape {tuple(found[name])}, "
                      f"config expects {tuple(expected[name])}")
  if problems:
    shown = "\n  ".join(problems[:8])
    more = f"\n  ... and {len(problems) - 8} more" if len(problems) > 8 else ""
    raise CheckpointMismatchError(
        f"checkpoint {where} does not match the config:\n  {shown}{more}")


class Checkpointer:
  """A CheckpointManager under ``workdir/checkpoints`` holding one pytree per step."""

  def __init__(self, workdir: str, keep: int = 3, read_only: bool = False):
    self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
    if read_only:
      options = ocp.CheckpointManagerOptions(read_only=True, create=False, max_to_keep=None,
                                             save_interval_steps=0,
                                             enable_async_checkpointing=False)
    else:
      options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                             enable_async_checkpointing=False)
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    if read_only:  # Orbax warns that a read-only directory is read-only
      absl_logger.setLevel(logging.ERROR)
    try:
      self.manager = ocp.CheckpointManager(self.directory, options=options,
                                           item_handlers=ocp.StandardCheckpointHandler())
    finally:
      absl_logger.setLevel(level)

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self.manager.all_steps())

  def save(self, step: int, state) -> None:
    self.manager.save(step, args=ocp.args.StandardSave(state), force=True)
    self.manager.wait_until_finished()

  def restore(self, step: int, abstract_state):
    """Restores ``step`` into the structure, shapes and shardings of ``abstract_state``."""
    where = os.path.join(self.directory, str(step))
    metadata = self.manager.item_metadata(step)
    found = shapes_by_name(metadata)
    compare_shapes(shapes_by_name(abstract_state), found, where)
    # Leaves without a sharding land on this process's first device, so a checkpoint
    # written by a pod (or another mesh) restores on one machine.
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract_state = jax.tree_util.tree_map(
        lambda x: x if getattr(x, "sharding", None) is not None else
        jax.ShapeDtypeStruct(np.shape(x), x.dtype, sharding=device), abstract_state)
    return self.manager.restore(step, args=ocp.args.StandardRestore(abstract_state))

  def close(self) -> None:
    self.manager.close()


def abstract_like(tree, shardings=None):
  """ShapeDtypeStructs (with shardings) to restore into."""
  if shardings is None:
    return jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(np.shape(x), x.dtype), tree)
  return jax.tree_util.tree_map(
      lambda x, s: jax.ShapeDtypeStruct(np.shape(x), x.dtype, sharding=s), tree, shardings)
