"""Motion files in and out: .npy features or joints in; .npy, GIF or MP4 out."""

from __future__ import annotations

import os

import numpy as np

from motiongpt_jax.data import humanml3d
from motiongpt_jax.motion import features as F
from motiongpt_jax.motion import render

MOTION_OUTPUTS = (".gif", ".mp4", ".npy")


def load_motion(path: str) -> np.ndarray:
  """A .npy file of features [T, D] or joints [T, J, 3] (never unpickles)."""
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path}: no such file")
  if not path.endswith(".npy"):
    raise ValueError(f"{path}: expected a .npy file of joints [T, 22, 3] or features [T, 263]")
  try:
    return np.load(path, allow_pickle=False)
  except (ValueError, OSError, EOFError) as e:
    raise ValueError(f"{path}: not a readable .npy array ({e})") from None


def check_output(out: str | None) -> None:
  if out and os.path.splitext(out)[1] not in MOTION_OUTPUTS:
    raise ValueError(f"--out {out}: expected a .gif, .mp4 or .npy file")


def as_joints(motion: np.ndarray) -> np.ndarray:
  return motion if motion.ndim == 3 else F.features_to_joints(motion)


def write_motions(motions: list, out: str, titles: list[str]) -> list[str]:
  """Joints [T, J, 3] to .npy files (one per motion) or one side-by-side .gif/.mp4; returns
  the paths written."""
  check_output(out)
  stem, ext = os.path.splitext(out)
  if ext == ".npy":
    outs = [out] if len(motions) == 1 else [f"{stem}_{i}.npy" for i in range(len(motions))]
    for path, joints in zip(outs, motions):
      np.save(path, np.asarray(joints, np.float32))
    return outs
  render.render_animation(motions, out, titles, stride=2)
  return [out]


def render_files(paths: list[str], out: str, titles: list[str] | None = None,
                 normalized_by: str | None = None, frame: int | None = None,
                 stride: int = 1) -> str:
  """Draws .npy motions side by side into a GIF/MP4, or one frame into a PNG;
  ``normalized_by``: the data folder whose Mean/Std de-normalise the features."""
  motions = [load_motion(p) for p in paths]
  mean = std = None
  if normalized_by:
    spec = humanml3d.SPECS[humanml3d.detect_kind(normalized_by)]
    mean, std = humanml3d.load_mean_std(normalized_by, spec)
  titles = titles or [os.path.basename(p) for p in paths]
  if out.endswith(".png"):
    render.render_frame(motions, out, frame, titles, mean, std)
  else:
    render.render_animation(motions, out, titles, mean, std, stride=stride)
  return out
