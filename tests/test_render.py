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


def test_gif_frames_keep_their_colours_timing_and_count(tmp_path):
  from PIL import Image
  rng = np.random.default_rng(0)
  # flat-coloured frames with an anti-aliased-like gradient, as the renders are
  frames = []
  for k in range(5):
    f = np.full((64, 96, 3), 240, np.uint8)
    f[10:30, 10 + 5 * k:40 + 5 * k] = (200, 60, 80)
    f[40:60, :] = np.linspace(0, 255, 96, dtype=np.uint8)[None, :, None]
    f[0:5, 0:5] = rng.integers(0, 256, (5, 5, 3))
    frames.append(f)
  out = render.write_gif(str(tmp_path / "g.gif"), frames, 50.0)
  with Image.open(out) as gif:
    assert gif.n_frames == 5 and gif.info["loop"] == 0 and gif.info["duration"] == 50
    for k, want in enumerate(frames):
      gif.seek(k)
      got = np.asarray(gif.convert("RGB")).astype(int)
      assert np.abs(got - want).mean() < 2.0  # of 255
      np.testing.assert_array_equal(got[20, 20 + 5 * k], (200, 60, 80))


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


HEAD_RGB = np.array([0xf4, 0xd8, 0xc0])


def _head_pixels(image: np.ndarray) -> np.ndarray:
  """(row, column) of the pixels painted in the head's colour."""
  return np.argwhere((np.abs(image[..., :3].astype(int) - HEAD_RGB) <= 6).all(-1))


def test_panels_are_large_with_a_head_a_floor_and_one_scale(sample_dir, tmp_path):
  joints = np.load(os.path.join(sample_dir, "new_joints", "012314.npy"))
  still = np.repeat(joints[:1], 60, axis=0)  # a standing pose: travels nowhere
  png = render.render_frame([joints, still], str(tmp_path / "two.png"), frame=30,
                            titles=["a person walks in a circle", "stands"])
  image = imageio.imread(png)
  assert image.shape[0] >= 480 and image.shape[1] >= 2 * 480
  width = image.shape[1] // 2
  for panel in (image[:, :width], image[:, width:]):
    head = _head_pixels(panel)
    assert len(head) > 150  # a filled disc of about 0.2 m, not a dot
    floor = (np.abs(panel[..., :3].astype(int) - [0xd3, 0xda, 0xe3]) <= 3).all(-1)
    assert floor.sum() > 5000  # the chequered floor's darker tiles
  # Both panels at one scale: the same floor size, and the same head size.
  fig, panels, _, _ = render._figure([joints, still], ["a", "b"])
  render.plt.close(fig)
  assert panels[0].radius == panels[1].radius
  sizes = [len(_head_pixels(image[:, :width])), len(_head_pixels(image[:, width:]))]
  assert abs(sizes[0] - sizes[1]) < 0.15 * max(sizes)


def test_camera_follows_a_figure_that_walks_away(sample_dir, tmp_path):
  pose = np.load(os.path.join(sample_dir, "new_joints", "012314.npy"))[:1]
  walk = pose + np.linspace(0, 8, 60)[:, None, None] * np.array([0.3, 0, 1.0])  # glides 8 m
  out = str(tmp_path / "walk.gif")
  render.render_animation([walk], out, ["walks eight metres"], stride=20)
  frames = imageio.mimread(out)
  assert len(frames) == 3
  columns = [_head_pixels(f)[:, 1].mean() for f in frames]
  rows = [_head_pixels(f)[:, 0].mean() for f in frames]
  # The head stays near the middle of the picture while the root moves 8 m.
  width = frames[0].shape[1]
  assert all(0.3 * width < c < 0.7 * width for c in columns)
  assert np.ptp(rows) < 40
  # A caption in a readable size.
  fig, panels, _, _ = render._figure([walk], ["walks eight metres"])
  assert panels[0].ax.title.get_fontsize() >= 12
  render.plt.close(fig)
