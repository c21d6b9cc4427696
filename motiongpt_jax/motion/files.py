"""Motion files in and out: .npy features or joints in; .npy, BVH, GIF or MP4 out."""

from __future__ import annotations

import os

import numpy as np

from motiongpt_jax.data import humanml3d
from motiongpt_jax.motion import features as F
from motiongpt_jax.motion import bvh
from motiongpt_jax.motion import render
from motiongpt_jax.motion.skeleton import HUMANML3D

MOTION_OUTPUTS = (".gif", ".mp4", ".npy", ".bvh")
ONE_FILE_PER_MOTION = (".npy", ".bvh")  # the others draw all motions side by side


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
    raise ValueError(f"--out {out}: expected a .gif, .mp4 or .npy file, or a .bvh file")


def as_joints(motion: np.ndarray) -> np.ndarray:
  return motion if motion.ndim == 3 else F.features_to_joints(motion)


def write_motions(motions: list, out: str, titles: list[str]) -> list[str]:
  """Joints [T, J, 3] to .npy or .bvh files (one per motion: OUT, or OUT_0, OUT_1, ...) or
  one side-by-side .gif/.mp4; returns the paths written."""
  check_output(out)
  stem, ext = os.path.splitext(out)
  if ext in ONE_FILE_PER_MOTION:
    outs = [out] if len(motions) == 1 else [f"{stem}_{i}{ext}" for i in range(len(motions))]
    for path, joints in zip(outs, motions):
      if ext == ".bvh":
        bvh.save_joints(path, np.asarray(joints, np.float64))
      else:
        np.save(path, np.asarray(joints, np.float32))
    return outs
  render.render_animation(motions, out, titles, stride=2)
  return [out]


def export_bvh(path: str, out: str) -> dict:
  """A .npy motion (features [T, 263] or joints [T, 22, 3]) as a BVH file; returns facts
  about it (frames, fps, the largest joint error of the file's forward kinematics)."""
  if not out.endswith(".bvh"):
    raise ValueError(f"--out {out}: expected a .bvh file")
  motion = load_motion(path)
  if not ((motion.ndim == 2 and motion.shape[1] == HUMANML3D.feature_dim)
          or (motion.ndim == 3 and motion.shape[1:] == (HUMANML3D.num_joints, 3))):
    raise ValueError(f"{path}: array of shape {motion.shape}, expected HumanML3D features "
                     f"[T, 263] or joints [T, 22, 3]")
  if not np.isfinite(motion).all():
    raise ValueError(f"{path}: NaN or inf in the motion")
  joints = np.asarray(as_joints(np.asarray(motion, np.float64)), np.float64)
  written = bvh.save_joints(out, joints)
  return dict(path=out, frames=written.num_frames, fps=written.fps,
              max_error_mm=1000 * bvh.max_error(bvh.read_bvh(out), joints))


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
