"""Reading HumanML3D-format folders, and the errors a broken folder gets."""

import os
import shutil

import numpy as np
import pytest

from motiongpt_jax import cli
from motiongpt_jax.data import humanml3d
from motiongpt_jax.data.humanml3d import DataError


def test_read_split_normalises_and_keeps_captions(synth_dir):
  mean = np.load(os.path.join(synth_dir, "Mean.npy"))
  std = np.load(os.path.join(synth_dir, "Std.npy"))
  samples = humanml3d.read_split(synth_dir, "train")
  names = humanml3d.read_split_names(synth_dir, "train")
  whole = [s for s in samples if s.name in names]
  assert len(whole) == len(names)
  for s in whole[:10]:
    raw = np.load(os.path.join(synth_dir, "new_joint_vecs", s.name + ".npy"))
    np.testing.assert_allclose(s.motion * std + mean, raw, atol=1e-5)
    assert len(s.captions) == 3 and all(c.start == c.end == 0.0 for c in s.captions)


def test_time_tagged_captions_become_cropped_samples(synth_dir):
  samples = {s.name: s for s in humanml3d.read_split(synth_dir, "train", normalize=False)}
  spans = [s for s in samples.values() if "_" in s.name]
  assert spans, "the synthetic set has multi-action motions with per-action captions"
  for s in spans:
    base = s.name.split("_", 1)[1]
    raw = np.load(os.path.join(synth_dir, "new_joint_vecs", base + ".npy"))
    cap = s.captions[0]
    np.testing.assert_array_equal(s.motion, raw[int(cap.start * 20):int(cap.end * 20)])
    assert 40 <= s.length < 200


def test_length_rules_drop_short_motions(synth_dir):
  all_train = humanml3d.read_split(synth_dir, "train", min_length=0)
  long_only = humanml3d.read_split(synth_dir, "train", min_length=100)
  assert 0 < len(long_only) < len(all_train)
  assert all(s.length >= 100 for s in long_only)


def test_check_summarises_a_good_folder(synth_dir, capsys):
  report = humanml3d.check_folder(synth_dir)
  assert report.kind == "humanml3d"
  assert sum(report.split_sizes.values()) == 80
  assert report.captions >= 240
  assert cli.main(["data", "check", synth_dir]) == 0
  out = capsys.readouterr().out
  assert "OK" in out and "train" in out and "frames: min" in out


def _broken_copy(src, tmp_path):
  dst = str(tmp_path / "broken")
  shutil.copytree(src, dst)
  return dst


def _first_train(folder):
  return humanml3d.read_split_names(folder, "train")[0]


def _remove_mean(d):
  os.remove(os.path.join(d, "Mean.npy"))
  return "Mean.npy: missing"


def _wrong_dim(d):
  name = _first_train(d)
  path = os.path.join(d, "new_joint_vecs", name + ".npy")
  np.save(path, np.zeros((60, 250), np.float32))
  return f"{name}.npy: features of shape (60, 250), expected [frames, 263]"


def _nan(d):
  name = _first_train(d)
  path = os.path.join(d, "new_joint_vecs", name + ".npy")
  x = np.load(path)
  x[5, 7] = np.nan
  np.save(path, x)
  return f"{name}.npy: NaN or inf in frames [5]"


def _missing_file(d):
  with open(os.path.join(d, "test.txt"), "a") as f:
    f.write("999999\n")
  return "999999.npy: missing motion file"


def _bad_caption(d):
  name = _first_train(d)
  with open(os.path.join(d, "texts", name + ".txt"), "a") as f:
    f.write("a person walks without any tags\n")
  return f"texts/{name}.txt:"


def _bad_std(d):
  std = np.load(os.path.join(d, "Std.npy"))
  std[10] = 0
  np.save(os.path.join(d, "Std.npy"), std)
  return "Std.npy: 263 values, 1 is <= 0 (first at index 10); std must be positive"


def _wrong_mean_shape(d):
  np.save(os.path.join(d, "Std.npy"), np.ones(100, np.float32))
  return "Std.npy: shape (100,), expected (263,)"


def _nan_mean(d):
  mean = np.load(os.path.join(d, "Mean.npy"))
  mean[[3, 8]] = [np.nan, np.inf]
  np.save(os.path.join(d, "Mean.npy"), mean)
  return "Mean.npy: 263 values, 2 are NaN or inf (first at index 3); mean must be finite"


def _zero_std(d):
  np.save(os.path.join(d, "Std.npy"), np.zeros(263, np.float32))
  return "Std.npy: 263 values, 263 are <= 0 (first at index 0); std must be positive"


def _std_2d(d):
  np.save(os.path.join(d, "Std.npy"), np.ones((1, 263), np.float32))
  return "Std.npy: shape (1, 263), expected (263,)"


@pytest.mark.parametrize("corrupt", [_remove_mean, _wrong_dim, _nan, _missing_file,
                                     _bad_caption, _bad_std, _wrong_mean_shape, _nan_mean,
                                     _zero_std, _std_2d])
def test_faults_name_the_file_and_the_fault(synth_dir, tmp_path, capsys, corrupt):
  folder = _broken_copy(synth_dir, tmp_path)
  expected = corrupt(folder)
  with pytest.raises(DataError) as err:
    humanml3d.check_folder(folder)
  assert expected in str(err.value)
  # The command prints one line, no traceback, and exits with 2.
  assert cli.main(["data", "check", folder]) == 2
  printed = capsys.readouterr().err.strip()
  assert printed.count("\n") == 0 and expected in printed and "Traceback" not in printed


def test_too_short_motion_is_a_warning_or_a_strict_error(synth_dir, tmp_path):
  folder = _broken_copy(synth_dir, tmp_path)
  name = _first_train(folder)
  path = os.path.join(folder, "new_joint_vecs", name + ".npy")
  np.save(path, np.load(path)[:30])
  report = humanml3d.check_folder(folder)
  assert any(name + ".npy: 30 frames, too short" in w for w in report.warnings)
  assert name not in [s.name for s in humanml3d.read_split(folder, "train")]
  with pytest.raises(DataError, match="30 frames, too short"):
    humanml3d.check_folder(folder, strict=True)


def test_a_kit_folder_is_recognised(tmp_path):
  folder = tmp_path / "kit"
  (folder / "new_joint_vecs").mkdir(parents=True)
  (folder / "texts").mkdir()
  rng = np.random.default_rng(0)
  np.save(folder / "Mean.npy", np.zeros(251, np.float32))
  np.save(folder / "Std.npy", np.ones(251, np.float32))
  for i, n in enumerate((30, 50)):
    np.save(folder / "new_joint_vecs" / f"{i:05d}.npy", rng.normal(size=(n, 251)).astype(np.float32))
    (folder / "texts" / f"{i:05d}.txt").write_text("a person walks.#a/DET person/NOUN walk/VERB#0.0#0.0\n")
  (folder / "train.txt").write_text("00000\n00001\n")
  (folder / "val.txt").write_text("")
  (folder / "test.txt").write_text("")
  assert humanml3d.detect_kind(str(folder)) == "kit"
  samples = humanml3d.read_split(str(folder), "train")
  assert [s.length for s in samples] == [30, 50]  # KIT keeps motions from 24 frames


def test_check_mean_std_names_the_fault():
  ok = humanml3d.check_mean_std(np.zeros(251), np.ones(251, np.float64), 251, ("m.npy", "s.npy"))
  assert ok[0].dtype == np.float32 and ok[1].shape == (251,)
  with pytest.raises(DataError, match=r"^s.npy: shape \(263,\), expected \(251,\)"):
    humanml3d.check_mean_std(np.zeros(251), np.ones(263), 251, ("m.npy", "s.npy"))
  std = np.ones(251)
  std[[4, 9, 200]] = [0.0, -1.0, 0.0]
  with pytest.raises(DataError, match=r"^s.npy: 251 values, 3 are <= 0 \(first at index 4\); "
                                      r"std must be positive$"):
    humanml3d.check_mean_std(np.zeros(251), std, 251, ("m.npy", "s.npy"))
  with pytest.raises(DataError, match="ckpt: mean of dtype <U1"):
    humanml3d.check_mean_std(np.array(["a"] * 4), np.ones(4), 4, "ckpt")
  # float64 values beyond float32 become inf: refused too
  with pytest.raises(DataError, match="m.npy: 4 values, 1 is NaN or inf"):
    humanml3d.check_mean_std(np.array([0, 0, 1e300, 0]), np.ones(4), 4, ("m.npy", "s.npy"))


def test_unreadable_mean_std_files(tmp_path):
  np.save(tmp_path / "mean.npy", np.zeros(4, np.float32))
  (tmp_path / "std.npy").write_bytes(b"\x93NUMPY cut short")
  with pytest.raises(DataError, match="std.npy: unreadable .npy file"):
    humanml3d.load_mean_std_files(str(tmp_path / "mean.npy"), str(tmp_path / "std.npy"), 4)
  with pytest.raises(DataError, match="other.npy: missing"):
    humanml3d.load_mean_std_files(str(tmp_path / "mean.npy"), str(tmp_path / "other.npy"), 4)


def test_check_counts_the_samples_the_reader_makes(synth_dir, tmp_path):
  """check_folder counts samples from one read of each file; the reader agrees, spans and
  length rules included."""
  folder = str(tmp_path / "d")
  shutil.copytree(synth_dir, folder)
  name = humanml3d.read_split_names(folder, "train")[0]
  with open(os.path.join(folder, "texts", name + ".txt"), "a") as f:
    f.write("a person waves.#a/DET person/NOUN wave/VERB#0.5#2.9\n")  # a 48-frame span
    f.write("a person waves.#a/DET person/NOUN wave/VERB#0.5#1.0\n")  # too short: skipped
  report = humanml3d.check_folder(folder)
  for split in humanml3d.SPLITS:
    assert report.samples[split] == len(humanml3d.read_split(folder, split))
