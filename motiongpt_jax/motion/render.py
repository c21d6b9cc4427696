"""Stick-figure pictures of motions: animated GIF/MP4 and single PNG frames.

Each motion is drawn in its own 3-D panel with a floor grid, the root's ground trajectory
and a caption; several motions play side by side with shared timing, so a reconstruction
can be compared with its original frame by frame.
"""

from __future__ import annotations

import os
import textwrap
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from motiongpt_jax.motion.features import features_to_joints  # noqa: E402
from motiongpt_jax.motion.skeleton import HUMANML3D, KIT, Skeleton  # noqa: E402

# Limb colours: right leg, left leg, spine, right arm, left arm (in chain order).
_CHAIN_COLOURS = ("#d1495b", "#2e86ab", "#3c3c3c", "#edae49", "#66a182")


def as_joints(motion: np.ndarray, mean: np.ndarray | None = None,
              std: np.ndarray | None = None) -> tuple[np.ndarray, Skeleton]:
  """Joints [T, J, 3] from joints or features (de-normalised when mean/std are given)."""
  motion = np.asarray(motion, dtype=np.float64)
  if motion.ndim == 3 and motion.shape[-1] == 3:
    skel = HUMANML3D if motion.shape[1] == 22 else KIT if motion.shape[1] == 21 else None
    if skel is None:
      raise ValueError(f"joints must have 22 (HumanML3D) or 21 (KIT) joints, got {motion.shape}")
    return motion, skel
  if motion.ndim == 2 and motion.shape[-1] in (HUMANML3D.feature_dim, KIT.feature_dim):
    if mean is not None and std is not None:
      motion = motion * std + mean
    skel = HUMANML3D if motion.shape[-1] == HUMANML3D.feature_dim else KIT
    return features_to_joints(motion, skel.num_joints), skel
  raise ValueError(
      f"cannot draw an array of shape {motion.shape}: expected joints [T, 22|21, 3] or "
      f"features [T, {HUMANML3D.feature_dim}|{KIT.feature_dim}]")


def _set_panel(ax, joints: np.ndarray, title: str):
  # Data is y-up; matplotlib's 3-D axes are z-up, so draw (x, z, y).
  lo = joints.reshape(-1, 3).min(0)
  hi = joints.reshape(-1, 3).max(0)
  centre = (lo + hi) / 2
  radius = max(hi[0] - lo[0], hi[2] - lo[2], hi[1], 1.9) / 2 + 0.1
  ax.set_xlim(centre[0] - radius, centre[0] + radius)
  ax.set_ylim(centre[2] - radius, centre[2] + radius)
  top = max(hi[1], 1.8) + 0.1
  ax.set_zlim(0, top)
  # Equal scale on all axes, with a box no taller than the motion needs.
  ax.set_box_aspect((2 * radius, 2 * radius, top), zoom=1.25)
  ax.view_init(elev=18, azim=-62)
  ax.set_axis_off()
  ax.set_title("\n".join(textwrap.wrap(title, 38)), fontsize=9)
  # Floor grid.
  ticks = np.linspace(-radius, radius, 9)
  for v in ticks:
    ax.plot([centre[0] - radius, centre[0] + radius], [centre[2] + v] * 2, [0, 0],
            color="#c8c8c8", lw=0.6)
    ax.plot([centre[0] + v] * 2, [centre[2] - radius, centre[2] + radius], [0, 0],
            color="#c8c8c8", lw=0.6)


class _Panel:
  """One motion's artists, updated per frame."""

  def __init__(self, ax, joints: np.ndarray, skel: Skeleton, title: str):
    self.joints, self.skel = joints, skel
    _set_panel(ax, joints, title)
    root = joints[:, 0]
    ax.plot(root[:, 0], root[:, 2], np.zeros(len(root)), color="#9b5de5", lw=1.0, alpha=0.5)
    self.trail, = ax.plot([], [], [], color="#9b5de5", lw=2.0)
    self.lines = [ax.plot([], [], [], color=c, lw=2.6, solid_capstyle="round")[0]
                  for c in _CHAIN_COLOURS[:len(skel.kinematic_chain)]]
    self.shadow, = ax.plot([], [], [], "o", color="#888888", ms=2, alpha=0.5)
    self.counter = ax.text2D(0.02, 0.02, "", transform=ax.transAxes, fontsize=7, color="#555")

  def update(self, t: int):
    t = min(t, len(self.joints) - 1)
    frame = self.joints[t]
    for line, chain in zip(self.lines, self.skel.kinematic_chain):
      pts = frame[list(chain)]
      line.set_data_3d(pts[:, 0], pts[:, 2], pts[:, 1])
    self.trail.set_data_3d(self.joints[:t + 1, 0, 0], self.joints[:t + 1, 0, 2],
                           np.zeros(t + 1))
    self.shadow.set_data_3d(frame[:, 0], frame[:, 2], np.zeros(len(frame)))
    self.counter.set_text(f"frame {t + 1}/{len(self.joints)}  {t / self.skel.fps:.1f}s")


def _figure(motions: Sequence[np.ndarray], titles: Sequence[str], mean=None, std=None):
  drawn = [as_joints(m, mean, std) for m in motions]
  n = len(drawn)
  fig = plt.figure(figsize=(3.6 * n, 4.0), dpi=80)
  panels = []
  for i, ((joints, skel), title) in enumerate(zip(drawn, titles)):
    ax = fig.add_subplot(1, n, i + 1, projection="3d")
    panels.append(_Panel(ax, joints, skel, title))
  fig.subplots_adjust(left=0, right=1, bottom=0, top=0.88, wspace=0)
  length = max(len(j) for j, _ in drawn)
  return fig, panels, length, drawn[0][1].fps


def _titles(motions, titles):
  titles = list(titles) if titles else []
  return titles + [""] * (len(motions) - len(titles))


def render_frame(motions: Sequence[np.ndarray], out_path: str, frame: int | None = None,
                 titles: Sequence[str] = (), mean=None, std=None) -> str:
  """Writes one frame (default: the middle one) of the motions side by side as a PNG."""
  fig, panels, length, _ = _figure(motions, _titles(motions, titles), mean, std)
  for p in panels:
    p.update(length // 2 if frame is None else frame)
  fig.savefig(out_path)
  plt.close(fig)
  return out_path


def render_animation(motions: Sequence[np.ndarray], out_path: str, titles: Sequence[str] = (),
                     mean=None, std=None, fps: float | None = None, stride: int = 1) -> str:
  """Writes the motions side by side as an animated .gif or .mp4."""
  import imageio.v2 as imageio  # imported here: only rendering needs it

  ext = os.path.splitext(out_path)[1].lower()
  if ext not in (".gif", ".mp4"):
    raise ValueError(f"output must end in .gif or .mp4, got {out_path!r}")
  fig, panels, length, data_fps = _figure(motions, _titles(motions, titles), mean, std)
  fps = (fps or data_fps) / stride
  frames = []
  for t in range(0, length, stride):
    for p in panels:
      p.update(t)
    fig.canvas.draw()
    frames.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
  plt.close(fig)
  os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
  if ext == ".gif":
    imageio.mimsave(out_path, frames, duration=1000.0 / fps, loop=0)
  else:
    # libx264 needs even frame sizes.
    h, w = frames[0].shape[:2]
    frames = [f[:h - h % 2, :w - w % 2] for f in frames]
    imageio.mimsave(out_path, frames, fps=fps, codec="libx264", quality=7,
                    macro_block_size=1)
  return out_path
