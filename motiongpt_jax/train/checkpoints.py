"""Orbax checkpoints of a training state: atomic, keep-last-N, resume, shape checks.

Orbax writes each step into a temporary directory and renames it when complete, so a run
killed mid-save leaves the previous checkpoints intact and no half-written step behind.

Integrity: after a save, ``<step>/digests.json`` records the size of every file of the step
and the sha256 of every array's bytes. It lives inside the step folder, written after
Orbax's atomic rename (by a rename of its own), so keep-last-N deletes it with its step and
a crash between the two leaves a step that restores unverified, like steps saved before
digests existed. A restore first checks the files (a missing or truncated one is named:
``CheckpointIncompleteError``), turns Orbax's own read errors into the same error, and
compares the restored arrays with their digests (``CheckpointCorruptError`` naming them).
Digests assume one process: in a multi-process run none are written (the arrays are not
all addressable from process 0) and restores there skip the arrays they cannot see.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os

import jax
import numpy as np
import orbax.checkpoint as ocp


class CheckpointMismatchError(ValueError):
  """A checkpoint's arrays do not fit the model built from the config."""


class CheckpointCorruptError(ValueError):
  """A checkpoint's bytes differ from those written (the message names the step and the
  arrays)."""


class CheckpointIncompleteError(CheckpointCorruptError):
  """A checkpoint step misses files or has files cut short (or Orbax cannot read it)."""


DIGESTS = "digests.json"
_DELETE_HINT = "delete that step folder to resume from the previous one"


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


def _array_digest(x) -> str:
  return hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()


def _step_files(step_dir: str) -> dict[str, int]:
  """Size of every file under ``step_dir`` (but the digests), by path relative to it."""
  files = {}
  for root, _, names in os.walk(step_dir):
    for name in names:
      path = os.path.join(root, name)
      rel = os.path.relpath(path, step_dir).replace(os.sep, "/")
      if rel != DIGESTS and not rel.startswith(DIGESTS + "."):
        files[rel] = os.path.getsize(path)
  return files


def write_digests(step_dir: str, state) -> None:
  """Writes ``step_dir/digests.json``: file sizes and per-array sha256 (atomic rename).

  Single-process only (see the module docstring): elsewhere it writes nothing.
  """
  if jax.process_count() > 1:
    return
  arrays = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
    host = np.asarray(jax.device_get(leaf))
    arrays[_path_name(path)] = {"dtype": str(host.dtype), "shape": list(host.shape),
                                "sha256": _array_digest(host)}
  record = {"format": 1, "files": _step_files(step_dir), "arrays": arrays}
  tmp = os.path.join(step_dir, f"{DIGESTS}.{os.getpid()}.tmp")
  with open(tmp, "w") as f:
    json.dump(record, f, indent=0, sort_keys=True)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, os.path.join(step_dir, DIGESTS))


def _read_digests(step: int, step_dir: str) -> dict | None:
  path = os.path.join(step_dir, DIGESTS)
  if not os.path.exists(path):
    return None  # saved before digests existed, or killed between the save and its digests
  try:
    with open(path) as f:
      record = json.load(f)
    record["files"], record["arrays"]  # noqa: B018 (the keys must be there)
  except (ValueError, KeyError, TypeError) as e:
    raise CheckpointIncompleteError(
        f"checkpoint step {step} in {os.path.dirname(step_dir)} is incomplete or damaged: "
        f"{DIGESTS} unreadable ({e}); {_DELETE_HINT}") from None
  return record


def check_step_files(step: int, step_dir: str, digests: dict | None) -> None:
  """Raises CheckpointIncompleteError naming files missing or cut short in a step folder."""
  where = os.path.dirname(step_dir)
  if not os.path.isdir(step_dir):
    raise CheckpointIncompleteError(f"checkpoint step {step} in {where} is incomplete or "
                                    f"damaged: the folder {step_dir} is missing")
  if digests is None:  # no record of the files: check what every step has
    expected = {"default/_METADATA": None}
  else:
    expected = digests["files"]
  problems = []
  for rel, size in sorted(expected.items()):
    path = os.path.join(step_dir, rel)
    if not os.path.exists(path):
      problems.append(f"{rel} missing")
    elif size is not None and os.path.getsize(path) != size:
      found = os.path.getsize(path)
      problems.append(f"{rel} {'truncated' if found < size else 'altered'} ({found} bytes, "
                      f"{size} written)")
  if problems:
    more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
    raise CheckpointIncompleteError(
        f"checkpoint step {step} in {where} is incomplete or damaged: "
        f"{', '.join(problems[:3])}{more}; {_DELETE_HINT}")


def verify_digests(step: int, step_dir: str, digests: dict | None, restored) -> None:
  """Raises CheckpointCorruptError naming the restored arrays whose bytes differ from the
  digests written with the step (arrays not addressable from this process are skipped)."""
  if digests is None:
    return
  bad = []
  for path, leaf in jax.tree_util.tree_flatten_with_path(restored)[0]:
    name = _path_name(path)
    record = digests["arrays"].get(name)
    if record is None or not getattr(leaf, "is_fully_addressable", True):
      continue
    host = np.asarray(jax.device_get(leaf))
    if str(host.dtype) != record["dtype"]:  # restored into another dtype: compare as saved
      host = host.astype(record["dtype"])
    if list(host.shape) != record["shape"] or _array_digest(host) != record["sha256"]:
      bad.append(name)
  if bad:
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    raise CheckpointCorruptError(
        f"checkpoint step {step} in {os.path.dirname(step_dir)} is corrupt: the bytes of "
        f"{', '.join(bad[:5])}{more} differ from those written (sha256 mismatch); "
        f"{_DELETE_HINT}")


def _orbax_message(e: Exception) -> str:
  """The first informative line of an Orbax / TensorStore error, without the spec dump."""
  text = str(e) or type(e).__name__
  for cut in (" [tensorstore_spec", "See full TensorStore details", "\n"):
    text = text.split(cut)[0]
  text = text.strip().splitlines()[0] if text.strip() else type(e).__name__
  return text[:400]


class _NamesDamage:
  """Turns Orbax's errors while reading a step into CheckpointIncompleteError."""

  def __init__(self, step: int, step_dir: str):
    self.step, self.step_dir = step, step_dir

  def __enter__(self):
    return self

  def __exit__(self, kind, error, tb):
    if error is None or isinstance(error, (CheckpointMismatchError, CheckpointCorruptError)) \
        or not isinstance(error, Exception):
      return False
    raise CheckpointIncompleteError(
        f"checkpoint step {self.step} in {os.path.dirname(self.step_dir)} is incomplete or "
        f"damaged: Orbax cannot read it ({type(error).__name__}: {_orbax_message(error)}); "
        f"{_DELETE_HINT}") from error


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
    """Saves ``state`` as ``step`` and writes its digests (process 0 only)."""
    self.manager.save(step, args=ocp.args.StandardSave(state), force=True)
    self.manager.wait_until_finished()
    if jax.process_index() == 0:
      write_digests(os.path.join(self.directory, str(step)), state)

  def _check(self, step: int) -> tuple[str, dict | None]:
    """(step folder, digests) after checking that the step's files are all there."""
    step_dir = os.path.join(self.directory, str(step))
    digests = _read_digests(step, step_dir) if os.path.isdir(step_dir) else None
    check_step_files(step, step_dir, digests)
    return step_dir, digests

  def restore(self, step: int, abstract_state):
    """Restores ``step`` into the structure, shapes and shardings of ``abstract_state``."""
    where, digests = self._check(step)
    with _NamesDamage(step, where):
      metadata = self.manager.item_metadata(step)
    found = shapes_by_name(metadata)
    compare_shapes(shapes_by_name(abstract_state), found, where)
    # Leaves without a sharding land on this process's first device, so a checkpoint
    # written by a pod (or another mesh) restores on one machine.
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract_state = jax.tree_util.tree_map(
        lambda x: x if getattr(x, "sharding", None) is not None else
        jax.ShapeDtypeStruct(np.shape(x), x.dtype, sharding=device), abstract_state)
    with _NamesDamage(step, where):
      restored = self.manager.restore(step, args=ocp.args.StandardRestore(abstract_state))
    verify_digests(step, where, digests, restored)
    return restored

  def restore_subtree(self, step: int, abstract_subtree: dict):
    """Restores only the top-level entries of ``abstract_subtree`` (e.g. params and extra,
    not the optimizer state) of ``step``; nothing else is read from disk."""
    where, digests = self._check(step)
    with _NamesDamage(step, where):
      found = shapes_by_name(self.manager.item_metadata(step))
    wanted = shapes_by_name(abstract_subtree)
    compare_shapes(wanted, {k: v for k, v in found.items() if k.split("/")[0] in
                            abstract_subtree}, where)
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    target = jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(np.shape(x), x.dtype, sharding=device),
        abstract_subtree)
    reader = ocp.PyTreeCheckpointer()
    try:
      with _NamesDamage(step, where):
        restored = reader.restore(
            os.path.join(where, "default"),
            args=ocp.args.PyTreeRestore(
                item=target, restore_args=ocp.checkpoint_utils.construct_restore_args(target),
                partial_restore=True))
    finally:
      reader.close()
    verify_digests(step, where, digests, restored)
    return restored

  def close(self) -> None:
    self.manager.close()


def abstract_like(tree, shardings=None):
  """ShapeDtypeStructs (with shardings) to restore into."""
  if shardings is None:
    return jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(np.shape(x), x.dtype), tree)
  return jax.tree_util.tree_map(
      lambda x, s: jax.ShapeDtypeStruct(np.shape(x), x.dtype, sharding=s), tree, shardings)
