"""Quaternion and rotation helpers in NumPy, (w, x, y, z) order, broadcasting over leading axes.

The conventions match the HumanML3D processing code so that features computed here equal
the data set's: ``qrot(q, v)`` rotates v by q, ``qmul(q, r)`` is the Hamilton product q*r,
and the continuous 6-D rotation is the first two columns of the rotation matrix.
"""

from __future__ import annotations

import numpy as np


def qinv(q: np.ndarray) -> np.ndarray:
  return q * np.array([1.0, -1.0, -1.0, -1.0])


def qnormalize(q: np.ndarray) -> np.ndarray:
  return q / np.linalg.norm(q, axis=-1, keepdims=True)


def qmul(q: np.ndarray, r: np.ndarray) -> np.ndarray:
  w1, x1, y1, z1 = np.moveaxis(q, -1, 0)
  w2, x2, y2, z2 = np.moveaxis(r, -1, 0)
  return np.stack([
      w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
      w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
      w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
      w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
  ], axis=-1)


def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
  """Rotates vectors v [..., 3] by unit quaternions q [..., 4]."""
  qvec = q[..., 1:]
  uv = np.cross(qvec, v)
  uuv = np.cross(qvec, uv)
  return v + 2.0 * (q[..., :1] * uv + uuv)


def qbetween(v0: np.ndarray, v1: np.ndarray) -> np.ndarray:
  """The shortest-arc rotation taking direction v0 to direction v1."""
  v = np.cross(v0, v1)
  w = np.sqrt((v0**2).sum(-1, keepdims=True) * (v1**2).sum(-1, keepdims=True)) + (
      v0 * v1).sum(-1, keepdims=True)
  return qnormalize(np.concatenate([w, v], axis=-1))


def qfix(q: np.ndarray) -> np.ndarray:
  """Flips signs along time [T, J, 4] so consecutive quaternions have a positive dot."""
  flips = np.sum(q[1:] * q[:-1], axis=-1) < 0
  flips = (np.cumsum(flips, axis=0) % 2).astype(bool)
  out = q.copy()
  out[1:][flips] *= -1
  return out


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
  r, i, j, k = np.moveaxis(q, -1, 0)
  two_s = 2.0 / (q * q).sum(-1)
  m = np.stack([
      1 - two_s * (j * j + k * k), two_s * (i * j - k * r), two_s * (i * k + j * r),
      two_s * (i * j + k * r), 1 - two_s * (i * i + k * k), two_s * (j * k - i * r),
      two_s * (i * k - j * r), two_s * (j * k + i * r), 1 - two_s * (i * i + j * j),
  ], axis=-1)
  return m.reshape(q.shape[:-1] + (3, 3))


def quaternion_to_cont6d(q: np.ndarray) -> np.ndarray:
  m = quaternion_to_matrix(q)
  return np.concatenate([m[..., 0], m[..., 1]], axis=-1)


def cont6d_to_matrix(c: np.ndarray) -> np.ndarray:
  """Gram-Schmidt of the 6-D representation back to a rotation matrix (columns x, y, z)."""
  x = c[..., 0:3] / np.linalg.norm(c[..., 0:3], axis=-1, keepdims=True)
  z = np.cross(x, c[..., 3:6])
  z = z / np.linalg.norm(z, axis=-1, keepdims=True)
  y = np.cross(z, x)
  return np.stack([x, y, z], axis=-1)


def yaw_quaternion(angle: np.ndarray) -> np.ndarray:
  """Rotation by ``angle`` radians about +y."""
  angle = np.asarray(angle, dtype=np.float64)
  zeros = np.zeros_like(angle)
  return np.stack([np.cos(angle / 2), zeros, np.sin(angle / 2), zeros], axis=-1)
