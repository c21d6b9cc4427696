"""Pictures of motions."""

import os

import imageio.v2 as imageio
import numpy as np
import pytest

from motiongpt_jax import cli
from motiongpt_jax.motion import render


def test_gif_of_features_and_joints_side_by_side(sample_dir, tmp_path):
  vecs = np.load(os.path.join(sample_dir, "new_joint_vecs", "012314.npy"))
  joints = np.load(os.path.join(sample_dir, "new_joints", "012314.npy"))
  out = str(tmp_path / "pair.gif")
  render.render_animation([vecs, joints[:100]], out, ["features", "joints"], stride=4)
  frames = imageio.mimread(out)
  assert len(frames) == len(range(0, 170, 4))
  assert frames[0].shape[1] > frames[0].shape[0]  # two panels side by side
  # The figure is drawn: frames differ from one another and are not blank.
  assert np.abs(frames[0].astype(int) - frames[20].astype(int)).sum() > 0
  assert frames[0][..., :3].std() > 5


def test_png_and_mp4(sample_dir, tmp_path):
  joints = np.load(os.path.join(sample_dir, "new_joints", "012314.npy"))
  png = render.render_frame([joints], str(tmp_path / "f.png"), frame=10)
  assert imageio.imread(png).shape[0] > 100
  mp4 = render.render_animation([joints[:40]], str(tmp_path / "m.mp4"), stride=2)
  assert os.path.getsize(mp4) > 1000


def test_normalised_features_are_denormalised(sample_dir, tmp_path):
  vecs = np.load(os.path.join(sample_dir, "new_joint_vecs", "012314.npy"))
  mean = np.load(os.path.join(sample_dir, "Mean.npy"))
  std = np.load(os.path.join(sample_dir, "Std.npy"))
  joints, _ = render.as_joints((vecs - mean) / std, mean, std)
  expected, _ = render.as_joints(vecs)
  np.testing.assert_allclose(joints, expected, atol=1e-4)


def test_bad_shapes_get_a_clear_error(tmp_path, capsys):
  with pytest.raises(ValueError, match=r"expected joints \[T, 22\|21, 3\] or features"):
    render.as_joints(np.zeros((10, 100)))
  path = str(tmp_path / "bad.npy")
  np.save(path, np.zeros((5, 7)))
  assert cli.main(["render", path, "--out", str(tmp_path / "x.gif")]) == 2
  assert "cannot draw an array of shape (5, 7)" in capsys.readouterr().err
