"""Animation clips: pose tracks that the procedural actions build and the composer joins.

A clip holds, per frame, local joint angles of the rig, the heading change, the lift above
the floor (flight) and the horizontal drift while airborne. Builders below make the common
shapes: key-framed poses with smooth easing, gait cycles, and envelopes.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from motiongpt_jax.motion import rig

J = rig.J


@dataclasses.dataclass
class Clip:
  angles: np.ndarray          # [T, J, 3]
  yaw_rate: np.ndarray        # [T] heading change per frame (radians, + = turn left)
  lift: np.ndarray            # [T] height above the grounded pose (m)
  drift: np.ndarray           # [T, 2] body-frame (sideways +left, forward) m/frame in flight

  @classmethod
  def still(cls, frames: int) -> "Clip":
    return cls(np.zeros((frames, J, 3)), np.zeros(frames), np.zeros(frames),
               np.zeros((frames, 2)))

  def __len__(self) -> int:
    return len(self.angles)

  @property
  def t(self) -> np.ndarray:
    return np.arange(len(self), dtype=np.float64)

  def add(self, joint: int, axis: int, values) -> "Clip":
    self.angles[:, joint, axis] += values
    return self


def concat(clips: list[Clip], blend: int = 6) -> Clip:
  """Joins clips, cross-fading the joint angles over ``blend`` frames at each seam."""
  out = clips[0]
  for nxt in clips[1:]:
    b = min(blend, len(out) // 2, len(nxt) // 2)
    w = smoothstep(np.linspace(0, 1, b + 2)[1:-1])[:, None, None]
    seam = (1 - w) * out.angles[len(out) - b:] + w * nxt.angles[:b]
    out = Clip(
        np.concatenate([out.angles[:len(out) - b], seam, nxt.angles[b:]]),
        np.concatenate([out.yaw_rate[:len(out) - b],
                        out.yaw_rate[len(out) - b:] + nxt.yaw_rate[:b], nxt.yaw_rate[b:]]),
        np.concatenate([out.lift[:len(out) - b],
                        np.maximum(out.lift[len(out) - b:], nxt.lift[:b]), nxt.lift[b:]]),
        np.concatenate([out.drift[:len(out) - b],
                        out.drift[len(out) - b:] + nxt.drift[:b], nxt.drift[b:]]),
    )
  return out


def smoothstep(x: np.ndarray) -> np.ndarray:
  x = np.clip(x, 0.0, 1.0)
  return x * x * (3 - 2 * x)


def keyframes(frames: int, keys: list[tuple[float, dict]]) -> np.ndarray:
  """Angles [T, J, 3] through key poses with smooth easing between them.

  keys: (frame, pose) pairs in time order; a pose maps (joint, axis) -> angle and leaves
  every other channel at 0. Before the first key and after the last, the pose holds.
  """
  angles = np.zeros((frames, J, 3))
  times = np.array([k[0] for k in keys], dtype=np.float64)
  channels = sorted({ch for _, pose in keys for ch in pose})
  t = np.arange(frames, dtype=np.float64)
  idx = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 1)
  nxt = np.minimum(idx + 1, len(times) - 1)
  span = np.maximum(times[nxt] - times[idx], 1e-9)
  w = smoothstep((t - times[idx]) / span)
  w = np.where(nxt == idx, 0.0, w)
  for joint, axis in channels:
    vals = np.array([pose.get((joint, axis), 0.0) for _, pose in keys])
    angles[:, joint, axis] = vals[idx] * (1 - w) + vals[nxt] * w
  return angles


def envelope(frames: int, ramp: int) -> np.ndarray:
  """1 in the middle, easing from and to 0 over ``ramp`` frames at each end."""
  t = np.arange(frames, dtype=np.float64)
  up = smoothstep(t / max(ramp, 1))
  down = smoothstep((frames - 1 - t) / max(ramp, 1))
  return np.minimum(up, down)


def flat_feet(angles: np.ndarray, weight: float | np.ndarray = 1.0,
              sides: tuple[str, ...] = ("left", "right")) -> np.ndarray:
  """Sets the ankles so each foot keeps its rest pitch (sole parallel to the floor).

  In the sagittal plane the pitches of pelvis, hip, knee and ankle add up, so the ankle
  cancels the sum above it.
  """
  w = np.broadcast_to(np.asarray(weight, dtype=np.float64), angles.shape[:1])
  legs = {"left": (rig.L_HIP, rig.L_KNEE, rig.L_ANKLE),
          "right": (rig.R_HIP, rig.R_KNEE, rig.R_ANKLE)}
  for hip, knee, ankle in (legs[s] for s in sides):
    pitch = angles[:, rig.PELVIS, 0] + angles[:, hip, 0] + angles[:, knee, 0]
    angles[:, ankle, 0] = -pitch * w + angles[:, ankle, 0] * (1 - w)
  return angles


def ballistic_lift(frames: int) -> np.ndarray:
  """Height profile (m) of a flight of ``frames`` frames under gravity at 20 fps."""
  g = 9.81 / 20.0**2  # m/frame^2
  t = np.arange(frames + 2, dtype=np.float64)[1:-1]
  return 0.5 * g * t * (frames + 1 - t)
