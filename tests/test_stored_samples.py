"""Training sets that leave their motions on disk give the batches in-memory ones gave."""

import numpy as np
import pytest

from motiongpt_jax.data import humanml3d
from motiongpt_jax.evaluation import evaluator_task
from motiongpt_jax.evaluation import words as W
from motiongpt_jax.pipeline import vqvae as vqvae_pipeline
from motiongpt_jax.pipeline.report import Reporter
from motiongpt_jax.vqvae.vq_task import MotionWindows


@pytest.mark.parametrize("normalize,include_spans", [(True, True), (False, True), (True, False)])
@pytest.mark.parametrize("validate", [True, False])
def test_index_samples_equals_read_split(synth_dir, normalize, include_spans, validate):
  held = humanml3d.read_split(synth_dir, "train", normalize=normalize,
                              include_spans=include_spans)
  stored = humanml3d.index_samples(synth_dir, "train", normalize=normalize,
                                   include_spans=include_spans, validate=validate)
  assert [s.name for s in stored] == [s.name for s in held]
  assert any("_" in s.name for s in stored) == include_spans
  for a, b in zip(held, stored):
    assert a.captions == b.captions and a.length == b.length == len(b)
    np.testing.assert_array_equal(b.motion, a.motion)
    assert b.motion.dtype == a.motion.dtype == np.float32
    np.testing.assert_array_equal(b[3:17], a.motion[3:17])
    np.testing.assert_array_equal(b[len(b) - 5:], a.motion[len(a.motion) - 5:])


def test_stored_sample_reports_a_changed_file(synth_dir, tmp_path):
  import shutil
  folder = str(tmp_path / "data")
  shutil.copytree(synth_dir, folder)
  sample = humanml3d.index_samples(folder, "train")[0]
  np.save(sample.path, np.zeros((3, 263), np.float32))
  with pytest.raises(humanml3d.DataError, match="changed since"):
    sample.motion


def test_evaluator_batches_are_those_of_in_memory_samples(synth_dir):
  held = humanml3d.read_split(synth_dir, "train")
  train, _, _, _ = evaluator_task.load_training_samples(synth_dir)
  assert all(isinstance(s, humanml3d.StoredSample) for s in train)
  vocab = W.WordVocabulary.from_captions((c.tokens for s in held for c in s.captions), 1)
  a = evaluator_task.CaptionedMotions(held, vocab, 16, 196, seed=3)
  b = evaluator_task.CaptionedMotions(train, vocab, 16, 196, seed=3)
  assert len(a.samples) == len(b.samples) and a.feature_dim == b.feature_dim
  for step in (0, 1, 7, 40):
    x, y = a.batch(step), b.batch(step)
    assert x.keys() == y.keys()
    for key in x:
      np.testing.assert_array_equal(x[key], y[key])


def test_vqvae_windows_are_those_of_in_memory_motions(synth_dir):
  _, _, _, train, _ = vqvae_pipeline.load_training_data(synth_dir, Reporter(write=None))
  assert all(isinstance(s, humanml3d.StoredSample) for s in train)
  held = [s.motion for s in humanml3d.iter_samples(synth_dir, "train", include_spans=False)]
  a, b = MotionWindows(held, 32, 8, seed=5), MotionWindows(train, 32, 8, seed=5)
  assert len(a.motions) == len(b.motions)
  for step in (0, 3, 11, 50):
    np.testing.assert_array_equal(a.batch(step)["motion"], b.batch(step)["motion"])


@pytest.mark.parametrize("array", [
    np.arange(12, dtype=np.float32).reshape(3, 4), np.ones((0, 263), np.float32),
    np.arange(6, dtype=np.float64).reshape(2, 3), np.arange(6, dtype=np.int16).reshape(3, 2),
    np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
    np.arange(5, dtype=np.float32), np.zeros((2, 3, 4), np.float32),
    np.arange(6, dtype=">f4").reshape(2, 3)])
def test_read_npy_equals_np_load(tmp_path, array):
  path = str(tmp_path / "x.npy")
  np.save(path, array)
  got = humanml3d.read_npy(path)
  assert got.dtype == array.dtype and got.shape == array.shape and got.flags.writeable
  np.testing.assert_array_equal(got, np.load(path))
  assert humanml3d.npy_shape(path) == array.shape


def test_read_npy_refuses_truncated_and_padded_files_as_np_load_does(tmp_path):
  path = str(tmp_path / "x.npy")
  np.save(path, np.ones((10, 263), np.float32))
  data = open(path, "rb").read()
  open(path, "wb").write(data[:-4])
  with pytest.raises(ValueError):
    humanml3d.read_npy(path)
  with pytest.raises(ValueError):
    humanml3d.npy_shape(path)
  open(path, "wb").write(data + b"\0" * 4)  # trailing bytes: as np.load, which ignores them
  np.testing.assert_array_equal(humanml3d.read_npy(path), np.load(path))


def test_header_only_check_reports_what_the_full_check_reports(synth_dir):
  full = humanml3d.check_folder(synth_dir)
  quick = humanml3d.check_folder(synth_dir, read_motions=False)
  assert full == quick
