"""Checkpoints that cannot lie: altered bytes and damaged steps are named on restore."""

import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motiongpt_jax.train import checkpoints as C
from motiongpt_jax.train import trainer

from test_trainer import ToyTask, flat, one_device, quiet
from test_vqvae import small_config


def saved(tmp_path, step=3):
  """A checkpoint with an incompressible array ``w`` (random bits: compression stores it
  raw, so a flipped byte still decodes, into other values)."""
  rng = np.random.default_rng(0)
  state = {"step": jnp.int32(step),
           "params": {"w": jnp.asarray(rng.integers(0, 2**32, (64, 64), dtype=np.uint32)),
                      "b": jnp.asarray(rng.normal(size=(16,)).astype(np.float32))},
           "extra": {}}
  checkpointer = C.Checkpointer(str(tmp_path), keep=2)
  checkpointer.save(step, state)
  checkpointer.close()
  return state, os.path.join(str(tmp_path), "checkpoints", str(step))


def restore(tmp_path, state, step=3):
  checkpointer = C.Checkpointer(str(tmp_path), read_only=True)
  try:
    return checkpointer.restore(step, C.abstract_like(state))
  finally:
    checkpointer.close()


def step_files(step_dir):
  return sorted(os.path.relpath(os.path.join(root, n), step_dir)
                for root, _, names in os.walk(step_dir) for n in names)


def flip_inside(step_dir, array):
  """Flips one byte in the middle of ``array``'s data, wherever Orbax stored it."""
  raw = np.asarray(array).tobytes()
  probe = raw[len(raw) // 2:len(raw) // 2 + 32]
  for rel in step_files(step_dir):
    path = os.path.join(step_dir, rel)
    data = bytearray(open(path, "rb").read())
    at = data.find(probe)
    if at >= 0:
      data[at + 5] ^= 0x40
      open(path, "wb").write(bytes(data))
      return rel
  raise AssertionError("the array's bytes are not stored raw in any file")


def test_digests_are_written_and_a_clean_restore_passes(tmp_path):
  state, step_dir = saved(tmp_path)
  with open(os.path.join(step_dir, C.DIGESTS)) as f:
    record = json.load(f)
  assert set(record["arrays"]) == {"step", "params/w", "params/b"}
  assert set(record["files"]) == set(step_files(step_dir)) - {C.DIGESTS}
  for a, b in zip(flat(state), flat(restore(tmp_path, state))):
    np.testing.assert_array_equal(a, b)


def test_altered_array_bytes_are_detected_and_named(tmp_path):
  state, step_dir = saved(tmp_path)
  rel = flip_inside(step_dir, state["params"]["w"])
  assert rel.startswith("default/")  # an Orbax data file: same size, silently other values
  with pytest.raises(C.CheckpointCorruptError,
                     match=r"^checkpoint step 3 in .*checkpoints is corrupt: the bytes of "
                           r"params/w differ from those written \(sha256 mismatch\); delete "
                           r"that step folder to resume from the previous one$"):
    restore(tmp_path, state)
  assert issubclass(C.CheckpointCorruptError, ValueError)


def test_a_deleted_file_is_named_not_a_config_mismatch(tmp_path):
  state, step_dir = saved(tmp_path)
  os.remove(os.path.join(step_dir, "default", "_METADATA"))  # once "does not match the config"
  with pytest.raises(C.CheckpointIncompleteError,
                     match=r"^checkpoint step 3 in .*checkpoints is incomplete or damaged: "
                           r"default/_METADATA missing; delete that step folder to resume "
                           r"from the previous one$"):
    restore(tmp_path, state)


def test_a_truncated_data_file_is_named(tmp_path):
  state, step_dir = saved(tmp_path)
  data = [r for r in step_files(step_dir) if "/d/" in r]
  biggest = max(data, key=lambda r: os.path.getsize(os.path.join(step_dir, r)))
  path = os.path.join(step_dir, biggest)
  size = os.path.getsize(path)
  with open(path, "r+b") as f:
    f.truncate(size // 2)
  with pytest.raises(C.CheckpointIncompleteError,
                     match=rf"{biggest} truncated \({size // 2} bytes, {size} written\)"):
    restore(tmp_path, state)


def test_without_digests_orbax_errors_are_still_named(tmp_path):
  # a step saved before digests existed (or killed between the save and its digests)
  state, step_dir = saved(tmp_path)
  os.remove(os.path.join(step_dir, C.DIGESTS))
  for a, b in zip(flat(state), flat(restore(tmp_path, state))):  # restores, unverified
    np.testing.assert_array_equal(a, b)
  for rel in step_files(step_dir):
    if "/d/" in rel:
      os.remove(os.path.join(step_dir, rel))
  with pytest.raises(C.CheckpointIncompleteError,
                     match=r"^checkpoint step 3 in .* is incomplete or damaged: Orbax cannot "
                           r"read it \(.*\); delete that step folder"):
    restore(tmp_path, state)


def test_subtree_restore_is_verified_too(tmp_path):
  state, step_dir = saved(tmp_path)
  flip_inside(step_dir, state["params"]["w"])
  checkpointer = C.Checkpointer(str(tmp_path), read_only=True)
  try:
    with pytest.raises(C.CheckpointCorruptError, match="the bytes of params/w differ"):
      checkpointer.restore_subtree(3, C.abstract_like({"params": state["params"],
                                                       "extra": {}}))
  finally:
    checkpointer.close()


def test_resume_names_a_damaged_step_and_resumes_once_it_is_deleted(tmp_path):
  config = small_config(steps=12, checkpoint_every=4, keep_checkpoints=2, log_every=4)
  full = trainer.train(ToyTask(), config.train, str(tmp_path / "full"), mesh=one_device(),
                       log=quiet)
  workdir = str(tmp_path / "damaged")
  trainer.train(ToyTask(), config.train, workdir, mesh=one_device(), log=quiet, stop_after=9)
  checkpoints = os.path.join(workdir, "checkpoints")
  assert sorted(os.listdir(checkpoints), key=int) == ["4", "8"]
  # keep-last-N removed step 0's folder with its digests; each kept step has its own
  assert all(os.path.exists(os.path.join(checkpoints, s, C.DIGESTS)) for s in ("4", "8"))
  os.remove(os.path.join(checkpoints, "8", "_CHECKPOINT_METADATA"))
  with pytest.raises(C.CheckpointIncompleteError,
                     match=r"checkpoint step 8 in .* is incomplete or damaged: "
                           r"_CHECKPOINT_METADATA missing; delete that step folder"):
    trainer.train(ToyTask(), config.train, workdir, mesh=one_device(), log=quiet)
  shutil.rmtree(os.path.join(checkpoints, "8"))
  resumed = trainer.train(ToyTask(), config.train, workdir, mesh=one_device(), log=quiet)
  assert resumed.resumed_from == 4 and resumed.step == 12
  for a, b in zip(flat(full.state), flat(resumed.state)):
    np.testing.assert_array_equal(a, b)


def test_digests_of_sharded_state_on_8_devices(tmp_path):
  # arrays sharded over this process's devices are gathered for the digest
  mesh = jax.sharding.Mesh(np.array(jax.devices()), ("data",))
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
  w = jax.device_put(np.arange(64, dtype=np.float32).reshape(16, 4), sharding)
  state = {"step": jnp.int32(5), "params": {"w": w}, "extra": {}}
  checkpointer = C.Checkpointer(str(tmp_path))
  checkpointer.save(5, state)
  target = {"step": jax.ShapeDtypeStruct((), jnp.int32), "extra": {},
            "params": {"w": jax.ShapeDtypeStruct((16, 4), jnp.float32, sharding=sharding)}}
  restored = checkpointer.restore(5, target)
  checkpointer.close()
  assert restored["params"]["w"].sharding == sharding
  np.testing.assert_array_equal(np.asarray(restored["params"]["w"]), np.asarray(w))
