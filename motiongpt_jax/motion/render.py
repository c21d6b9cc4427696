"""Pictures of motions: animated GIF/MP4 and single PNG frames.

Each motion is drawn in its own 3-D panel (512 x 512 pixels): a shaded floor with a grid
every 0.5 m, the root's path on the floor (the part travelled drawn bold), the figure with
its limbs coloured by side (left blue and green, right red and yellow), a head, the figure's
shadow, the caption above and the time below. Panels side by side share one scale and
their timing, so a reconstruction can be compared with its original frame by frame. A
motion that stays within a 3.2 m square is framed whole; one that travels further is
followed by the camera (centred on its smoothed root path), at the same scale as the
others.
"""

from __future__ import annotations

import os
import textwrap
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from mpl_toolkits.mplot3d.art3d import Poly3DCollection  # noqa: E402
from scipy.ndimage import gaussian_filter1d  # noqa: E402

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


PANEL_PX = 512          # panel width and height in pixels
_DPI = 80
_GRID = 0.5             # floor grid spacing (m)
_MARGIN = 0.35          # floor beyond the figure (m)
_STATIC_RADIUS = 1.6    # half-width of the largest floor framed whole (m)
_HEAD_RADIUS = 0.1      # drawn head (m)
_FLOOR_COLOURS = ("#e8ecf1", "#d3dae3")


def _edges(lo: float, hi: float) -> np.ndarray:
  """Tile edges between lo and hi: the grid lines inside, and the two ends."""
  inner = np.arange(np.floor(lo / _GRID) + 1, np.ceil(hi / _GRID)) * _GRID
  return np.concatenate([[lo], inner[(inner > lo + 1e-9) & (inner < hi - 1e-9)], [hi]])


def _view(joints: np.ndarray) -> tuple[float, float, np.ndarray]:
  """(half-width needed to show the whole motion at once, half-width needed by a camera
  following it, the followed centre [T, 2] in x/z)."""
  xz = joints[..., [0, 2]]
  lo, hi = xz.reshape(-1, 2).min(0), xz.reshape(-1, 2).max(0)
  static = float((hi - lo).max()) / 2 + _MARGIN
  centre = gaussian_filter1d(joints[:, 0, [0, 2]], sigma=6, axis=0, mode="nearest")
  follow = float(np.abs(xz - centre[:, None]).max()) + _MARGIN
  return static, max(follow, 1.0), centre


def _layout(drawn):
  """One radius and height for all panels; per panel, the camera centre per frame."""
  views = [_view(j) for j, _ in drawn]
  follow_needed = [s > _STATIC_RADIUS for s, _, _ in views]
  radius = max(f if needs else s for (s, f, _), needs in zip(views, follow_needed))
  radius = max(radius, 1.0)
  top = max(max(float(j[..., 1].max()) + 0.15, 1.9) for j, _ in drawn)
  centres = []
  for (joints, _), (s, _, follow_centre) in zip(drawn, views):
    if s <= radius:  # fits: a still camera on the middle of the motion
      xz = joints[..., [0, 2]].reshape(-1, 2)
      mid = (xz.min(0) + xz.max(0)) / 2
      centres.append(np.broadcast_to(mid, (len(joints), 2)))
    else:
      centres.append(follow_centre)
  return radius, top, centres


class _Panel:
  """One motion's artists, updated per frame."""

  def __init__(self, ax, joints: np.ndarray, skel: Skeleton, title: str, radius: float,
               top: float, centre: np.ndarray):
    self.ax, self.joints, self.skel = ax, joints, skel
    self.radius, self.centre = radius, centre
    self.moving = bool(np.ptp(centre, axis=0).max() > 1e-9)
    names = skel.joint_names
    self.head, self.neck = names.index("head"), names.index("neck")
    ax.computed_zorder = False  # draw in zorder: floor, path, shadow, figure
    ax.set_box_aspect((2 * radius, 2 * radius, top), zoom=1.15)
    ax.set_zlim(0, top)
    ax.view_init(elev=20, azim=-60)
    ax.set_axis_off()
    # A fixed title position: matplotlib places a free one anew at every frame, which
    # measured 16% of a GIF's time.
    ax.set_title("\n".join(textwrap.wrap(title, 44)[:3]), fontsize=13, pad=2, y=1.0)
    self.floor = Poly3DCollection([], edgecolor="none", zorder=0)
    ax.add_collection3d(self.floor)
    self.border = Poly3DCollection([], facecolor="none", edgecolor="#aab4c0", linewidth=1.0,
                                   zorder=1)
    ax.add_collection3d(self.border)
    self.path, = ax.plot([], [], [], color="#9b5de5", lw=1.2, alpha=0.45, zorder=2)
    self.trail, = ax.plot([], [], [], color="#7b2cbf", lw=2.4, zorder=2)
    chains = skel.kinematic_chain
    self.shadows = [ax.plot([], [], [], color="#9aa3ad", lw=3.0, alpha=0.55,
                            solid_capstyle="round", zorder=3)[0] for _ in chains]
    self.lines = [ax.plot([], [], [], color=c, lw=3.4, solid_capstyle="round", zorder=5)[0]
                  for c in _CHAIN_COLOURS[:len(chains)]]
    self.dots, = ax.plot([], [], [], "o", color="#333333", ms=2.5, zorder=6)
    # Head: a disc of _HEAD_RADIUS at the panel's scale (a floor edge spans about 0.63 of
    # the panel's width at this zoom and view).
    px_per_m = 0.63 * PANEL_PX / (2 * radius)
    self.head_dot, = ax.plot([], [], [], "o", ms=2 * _HEAD_RADIUS * px_per_m * 72 / _DPI,
                             markerfacecolor="#f4d8c0", markeredgecolor="#3c3c3c",
                             markeredgewidth=1.6, zorder=7)
    self.counter = ax.text2D(0.03, 0.03, "", transform=ax.transAxes, fontsize=11,
                             color="#444444")
    self._place_floor(0)

  def _place_floor(self, t: int):
    cx, cz = self.centre[t]
    r = self.radius
    self.ax.set_xlim(cx - r, cx + r)
    self.ax.set_ylim(cz - r, cz + r)
    # A chequered floor of _GRID tiles anchored to the world, cut to the square shown.
    xs = _edges(cx - r, cx + r)
    zs = _edges(cz - r, cz + r)
    tiles, colours = [], []
    for x0, x1 in zip(xs[:-1], xs[1:]):
      for z0, z1 in zip(zs[:-1], zs[1:]):
        tiles.append([(x0, z0, 0), (x1, z0, 0), (x1, z1, 0), (x0, z1, 0)])
        odd = (np.floor((x0 + x1) / 2 / _GRID) + np.floor((z0 + z1) / 2 / _GRID)) % 2
        colours.append(_FLOOR_COLOURS[int(odd)])
    self.floor.set_verts(tiles)
    self.floor.set_facecolor(colours)
    self.border.set_verts([[(cx - r, cz - r, 0), (cx + r, cz - r, 0), (cx + r, cz + r, 0),
                            (cx - r, cz + r, 0)]])
    # The root's path, cut where it leaves the floor shown.
    path = self.joints[:, 0].copy()
    out = (np.abs(path[:, 0] - cx) > r) | (np.abs(path[:, 2] - cz) > r)
    path[out] = np.nan
    self.visible_path = path
    self.path.set_data_3d(path[:, 0], path[:, 2], np.zeros(len(path)))

  def update(self, t: int):
    t = min(t, len(self.joints) - 1)
    if self.moving:
      self._place_floor(t)
    frame = self.joints[t]
    for line, shadow, chain in zip(self.lines, self.shadows, self.skel.kinematic_chain):
      pts = frame[list(chain)]
      line.set_data_3d(pts[:, 0], pts[:, 2], pts[:, 1])
      shadow.set_data_3d(pts[:, 0], pts[:, 2], np.full(len(pts), 0.002))
    self.dots.set_data_3d(frame[:, 0], frame[:, 2], frame[:, 1])
    up = frame[self.head] - frame[self.neck]
    centre = frame[self.head] + 0.6 * _HEAD_RADIUS * up / max(np.linalg.norm(up), 1e-9)
    self.head_dot.set_data_3d([centre[0]], [centre[2]], [centre[1]])
    trail = self.visible_path[:t + 1]
    self.trail.set_data_3d(trail[:, 0], trail[:, 2], np.full(len(trail), 0.003))
    self.counter.set_text(f"frame {t + 1}/{len(self.joints)}   {t / self.skel.fps:.1f} s")


def _figure(motions: Sequence[np.ndarray], titles: Sequence[str], mean=None, std=None):
  drawn = [as_joints(m, mean, std) for m in motions]
  n = len(drawn)
  radius, top, centres = _layout(drawn)
  size = PANEL_PX / _DPI
  fig = plt.figure(figsize=(size * n, size), dpi=_DPI)
  panels = []
  for i, ((joints, skel), title, centre) in enumerate(zip(drawn, titles, centres)):
    ax = fig.add_subplot(1, n, i + 1, projection="3d")
    panels.append(_Panel(ax, joints, skel, title, radius, top, centre))
  fig.subplots_adjust(left=0, right=1, bottom=0, top=0.9, wspace=0)
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


def write_gif(path: str, frames: Sequence[np.ndarray], frame_ms: float) -> str:
  """RGB frames [H, W, 3] as a looping GIF, each frame on its own 256-colour palette from
  PIL's fast octree quantiser (PIL's default, median cut, took a third of a render's time;
  our flat-coloured drawings lose nothing visible)."""
  from PIL import Image
  images = [Image.fromarray(np.ascontiguousarray(f)).quantize(
      256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE) for f in frames]
  images[0].save(path, save_all=True, append_images=images[1:], duration=frame_ms, loop=0)
  return path


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
    write_gif(out_path, frames, 1000.0 / fps)
  else:
    # libx264 needs even frame sizes.
    h, w = frames[0].shape[:2]
    frames = [f[:h - h % 2, :w - w % 2] for f in frames]
    imageio.mimsave(out_path, frames, fps=fps, codec="libx264", quality=7,
                    macro_block_size=1)
  return out_path
