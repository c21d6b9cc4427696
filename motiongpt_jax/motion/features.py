"""HumanML3D motion representation: joint positions <-> 263-dim features.

A re-implementation of the representation defined by HumanML3D's
``motion_representation.ipynb`` (Guo et al. 2022), with its conventions kept exactly so
that features computed here equal those of the released data set:

* retarget to the data set's target skeleton (inverse kinematics against the raw offsets,
  forward kinematics with the target bone lengths, root scaled by the leg-length ratio);
* floor at y=0 (the lowest joint over the whole clip), root of frame 0 at the xz origin,
  frame 0 facing +z (hips and shoulders);
* per frame, a root rotation about y from the (Gaussian-smoothed, sigma 20 frames) facing
  direction, set to identity at frame 0;
* features, for T input frames, T-1 rows of
  ``[rot_vel_y (1), lin_vel_xz (2), root_y (1), ric (J-1)*3, rot6d (J-1)*6,
  local_vel J*3, foot_contact 4]``.

Two quirks of the reference are reproduced on purpose because the data set carries them:
the inverse kinematics measures the facing from ``(left_hip - right_hip) +
(right_shoulder - left_shoulder)`` (the hip term has the opposite sign to the one used for
the initial facing), and the chains that start at spine3 take the root rotation, not the
spine's, as their parent rotation. The root "angular velocity" is the half angle
``arcsin(q_y)`` of the frame-to-frame rotation, as in the data set.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from motiongpt_jax.motion import quaternion as Q
from motiongpt_jax.motion.skeleton import HUMANML3D, Skeleton, skeleton_for_feature_dim

_UP = np.array([0.0, 1.0, 0.0])
_FORWARD = np.array([0.0, 0.0, 1.0])


def feature_slices(num_joints: int) -> dict[str, slice]:
  """Where each part of the representation lives in a feature vector."""
  j = num_joints
  ric = 4 + (j - 1) * 3
  rot = ric + (j - 1) * 6
  vel = rot + j * 3
  return {
      "root_rot_velocity": slice(0, 1),
      "root_linear_velocity": slice(1, 3),
      "root_y": slice(3, 4),
      "ric": slice(4, ric),
      "rot6d": slice(ric, rot),
      "local_velocity": slice(rot, vel),
      "foot_contact": slice(vel, vel + 4),
  }


def _facing_from_across(across: np.ndarray) -> np.ndarray:
  across = across / np.linalg.norm(across, axis=-1, keepdims=True)
  forward = np.cross(_UP, across)
  return forward


def _qmul(q: np.ndarray, r: np.ndarray) -> np.ndarray:
  """``quaternion.qmul`` with the same arithmetic (so the same bits), less call overhead."""
  w1, x1, y1, z1 = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
  w2, x2, y2, z2 = r[..., 0], r[..., 1], r[..., 2], r[..., 3]
  out = np.empty(np.broadcast_shapes(q.shape, r.shape))
  out[..., 0] = w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2
  out[..., 1] = w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2
  out[..., 2] = w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2
  out[..., 3] = w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2
  return out


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """``np.cross`` of 3-vectors with the same arithmetic (so the same bits), less overhead."""
  a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
  b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
  out = np.empty(np.broadcast_shapes(a.shape, b.shape))
  out[..., 0] = a1 * b2 - a2 * b1
  out[..., 1] = a2 * b0 - a0 * b2
  out[..., 2] = a0 * b1 - a1 * b0
  return out


def _qrot_np(q: np.ndarray, v: np.ndarray) -> np.ndarray:
  """``quaternion.qrot`` with the same arithmetic, less call overhead."""
  qvec = q[..., 1:]
  uv = _cross(qvec, v)
  uuv = _cross(qvec, uv)
  return v + 2.0 * (q[..., :1] * uv + uuv)


def _qbetween(v0: np.ndarray, v1: np.ndarray) -> np.ndarray:
  """``quaternion.qbetween`` with the same arithmetic, less call overhead."""
  v = _cross(v0, v1)
  w = np.sqrt((v0**2).sum(-1, keepdims=True) * (v1**2).sum(-1, keepdims=True)) + (
      v0 * v1).sum(-1, keepdims=True)
  return Q.qnormalize(np.concatenate([w, v], axis=-1))


def _chain_levels(skel: Skeleton) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]:
  """The kinematic chains walked all at once: per depth, the (chains, parents, children)
  that have a bone at that depth."""
  levels = []
  depth = 0
  while True:
    rows = [(c, chain[depth], chain[depth + 1]) for c, chain in enumerate(skel.kinematic_chain)
            if len(chain) > depth + 1]
    if not rows:
      return tuple(levels)
    levels.append(tuple(np.array(col, dtype=np.int64) for col in zip(*rows)))
    depth += 1


_LEVELS: dict[str, tuple] = {}


def _levels(skel: Skeleton):
  if skel.name not in _LEVELS:
    _LEVELS[skel.name] = _chain_levels(skel)
  return _LEVELS[skel.name]


def inverse_kinematics(joints: np.ndarray, skel: Skeleton, smooth_forward: bool) -> np.ndarray:
  """Local joint rotations [T, J, 4] that take the raw offsets to the bones of ``joints``.

  Every chain's parent rotation starts at the root's (see module doc), so the chains are
  walked together, one depth at a time: the same arithmetic per joint as a joint-by-joint
  walk, in a few array operations.
  """
  # The reference unpacks face_joints as (l_hip, r_hip, sdr_r, sdr_l) here (see module doc).
  a, b, sdr_r, sdr_l = skel.face_joints
  across = (joints[:, b] - joints[:, a]) + (joints[:, sdr_r] - joints[:, sdr_l])
  forward = _facing_from_across(across)
  if smooth_forward:
    forward = gaussian_filter1d(forward, 20, axis=0, mode="nearest")
  forward = forward / np.linalg.norm(forward, axis=-1, keepdims=True)
  root_quat = _qbetween(forward, np.broadcast_to(_FORWARD, forward.shape))
  root_quat[0] = [1.0, 0.0, 0.0, 0.0]

  parents = skel.parents
  bones = np.flatnonzero(parents >= 0)
  # Shortest-arc rotation of every bone from its raw offset (independent of the chain).
  v = joints[:, bones] - joints[:, parents[bones]]
  v = v / np.linalg.norm(v, axis=-1, keepdims=True)
  between = np.zeros(joints.shape[:-1] + (4,))
  between[:, bones] = _qbetween(np.broadcast_to(skel.raw_offsets[bones], v.shape), v)

  quats = np.zeros(joints.shape[:-1] + (4,))
  quats[:, 0] = root_quat
  parent_rot = np.repeat(root_quat[:, None], len(skel.kinematic_chain), axis=1)
  for chains, _, children in _levels(skel):
    rot = parent_rot[:, chains]
    local = _qmul(Q.qinv(rot), between[:, children])
    quats[:, children] = local
    parent_rot[:, chains] = _qmul(rot, local)
  return quats


def forward_kinematics(quats: np.ndarray, root_pos: np.ndarray, offsets: np.ndarray,
                       skel: Skeleton) -> np.ndarray:
  """Joint positions [T, J, 3] from local rotations [T, J, 4] and bone vectors [J, 3].

  Rotations and bone vectors of all chains are computed one depth at a time; positions
  are then summed down each chain in order (each chain's parent rotation starts at the
  root's, see module doc).
  """
  t_len = len(quats)
  joints = np.zeros(quats.shape[:-1] + (3,))
  joints[:, 0] = root_pos
  bone = np.zeros(quats.shape[:-1] + (3,))
  rot = np.repeat(quats[:, :1], len(skel.kinematic_chain), axis=1)
  for chains, _, children in _levels(skel):
    r = _qmul(rot[:, chains], quats[:, children])
    rot[:, chains] = r
    bone[:, children] = _qrot_np(r, np.broadcast_to(offsets[children], (t_len, len(children), 3)))
  for chain in skel.kinematic_chain:
    for parent, child in zip(chain[:-1], chain[1:]):
      joints[:, child] = bone[:, child] + joints[:, parent]
  return joints


def retarget(joints: np.ndarray, skel: Skeleton = HUMANML3D) -> np.ndarray:
  """Moves a motion onto the data set's target skeleton (HumanML3D's uniform_skeleton)."""
  if np.isnan(skel.bone_lengths).any():
    raise ValueError(f"the {skel.name} target skeleton's bone lengths are not known here")
  parents = skel.parents
  src_len = np.linalg.norm(joints[0, 1:] - joints[0, parents[1:]], axis=-1)
  src_offsets = np.concatenate([[[0.0, 0.0, 0.0]], skel.raw_offsets[1:] * src_len[:, None]])
  tgt_offsets = skel.target_offsets
  l1, l2 = skel.leg_joints
  src_leg = np.abs(src_offsets[l1]).max() + np.abs(src_offsets[l2]).max()
  tgt_leg = np.abs(tgt_offsets[l1]).max() + np.abs(tgt_offsets[l2]).max()
  quats = inverse_kinematics(joints, skel, smooth_forward=False)
  return forward_kinematics(quats, joints[:, 0] * (tgt_leg / src_leg), tgt_offsets, skel)


def canonicalize(joints: np.ndarray, skel: Skeleton = HUMANML3D) -> np.ndarray:
  """Floor at y=0, frame-0 root at the xz origin, frame 0 facing +z. [T, J, 3] -> same."""
  joints = joints - np.array([0.0, joints[..., 1].min(), 0.0])
  joints = joints - joints[0, 0] * np.array([1.0, 0.0, 1.0])
  r_hip, l_hip, sdr_r, sdr_l = skel.face_joints
  first = joints[0]
  forward = _facing_from_across((first[r_hip] - first[l_hip]) + (first[sdr_r] - first[sdr_l]))
  forward = forward / np.linalg.norm(forward)
  facing = _qbetween(forward, _FORWARD)
  return _qrot_np(np.broadcast_to(facing, joints.shape[:-1] + (4,)), joints)


def foot_contacts(joints: np.ndarray, skel: Skeleton = HUMANML3D,
                  threshold: float | None = None) -> np.ndarray:
  """[T-1, 4] contact flags (left ankle, left foot, right ankle, right foot).

  A joint is in contact when its squared displacement to the next frame is below the
  threshold (0.002 m^2 for HumanML3D), as in the data set.
  """
  threshold = skel.feet_threshold if threshold is None else threshold
  feet = list(skel.foot_left) + list(skel.foot_right)
  disp2 = ((joints[1:, feet] - joints[:-1, feet])**2).sum(-1)
  return (disp2 < threshold).astype(np.float32)


def joints_to_features(joints: np.ndarray, skel: Skeleton = HUMANML3D, *,
                       do_retarget: bool = True,
                       feet_threshold: float | None = None) -> np.ndarray:
  """HumanML3D features [T-1, D] of joint positions [T, J, 3] (any placement, metres)."""
  joints = np.asarray(joints, dtype=np.float64)
  if joints.ndim != 3 or joints.shape[1:] != (skel.num_joints, 3):
    raise ValueError(f"expected joints of shape [T, {skel.num_joints}, 3], got {joints.shape}")
  if len(joints) < 2:
    raise ValueError(f"need at least 2 frames to compute features, got {len(joints)}")
  if not np.isfinite(joints).all():
    raise ValueError("joints contain NaN or inf")
  if do_retarget:
    joints = retarget(joints, skel)
  positions = canonicalize(joints, skel)
  contacts = foot_contacts(positions, skel, feet_threshold)

  quats = inverse_kinematics(positions, skel, smooth_forward=True)
  rot6d = Q.quaternion_to_cont6d(quats)
  r_rot = quats[:, 0]
  root_velocity = _qrot_np(r_rot[1:], positions[1:, 0] - positions[:-1, 0])
  rot_velocity = _qmul(r_rot[1:], Q.qinv(r_rot[:-1]))

  # Root-relative positions in each frame's facing frame ("rotation-invariant coordinates").
  local = positions.copy()
  local[..., 0] -= positions[:, 0:1, 0]
  local[..., 2] -= positions[:, 0:1, 2]
  local = _qrot_np(np.broadcast_to(r_rot[:, None], local.shape[:-1] + (4,)), local)

  n = len(positions)
  velocity = _qrot_np(np.broadcast_to(r_rot[:-1, None], positions[1:].shape[:-1] + (4,)),
                    positions[1:] - positions[:-1])
  features = np.concatenate([
      np.arcsin(rot_velocity[:, 2:3]),
      root_velocity[:, [0, 2]],
      local[:-1, 0, 1:2],
      local[:-1, 1:].reshape(n - 1, -1),
      rot6d[:-1, 1:].reshape(n - 1, -1),
      velocity.reshape(n - 1, -1),
      contacts,
  ], axis=-1)
  return features.astype(np.float32)


def recover_root_rot_pos(features, xp=np):
  """Root rotation quaternions [..., T, 4] and positions [..., T, 3] from features."""
  rot_vel = features[..., 0]
  angle = xp.concatenate([xp.zeros_like(rot_vel[..., :1]), rot_vel[..., :-1]], axis=-1)
  angle = xp.cumsum(angle, axis=-1)
  zeros = xp.zeros_like(angle)
  r_rot = xp.stack([xp.cos(angle), zeros, xp.sin(angle), zeros], axis=-1)

  step = xp.concatenate([xp.zeros_like(features[..., :1, 1:3]), features[..., :-1, 1:3]], axis=-2)
  step = xp.stack([step[..., 0], xp.zeros_like(step[..., 0]), step[..., 1]], axis=-1)
  step = _qrot(_qinv(r_rot, xp), step, xp)
  r_pos = xp.cumsum(step, axis=-2)
  r_pos = xp.concatenate([r_pos[..., 0:1], features[..., 3:4], r_pos[..., 2:3]], axis=-1)
  return r_rot, r_pos


def _qinv(q, xp):
  return q * xp.asarray([1.0, -1.0, -1.0, -1.0], dtype=q.dtype)


def _qrot(q, v, xp):
  qvec = q[..., 1:]
  uv = xp.cross(qvec, v)
  uuv = xp.cross(qvec, uv)
  return v + 2.0 * (q[..., :1] * uv + uuv)


def features_to_joints(features, num_joints: int | None = None, xp=np):
  """Joint positions [..., T, J, 3] from features [..., T, D] (HumanML3D's recover_from_ric).

  Works on NumPy arrays, or on jax.numpy arrays inside jit with ``xp=jax.numpy``.
  """
  if num_joints is None:
    num_joints = skeleton_for_feature_dim(features.shape[-1]).num_joints
  if features.shape[-1] != HUMANML3D.feature_dim and num_joints == HUMANML3D.num_joints:
    raise ValueError(f"expected {HUMANML3D.feature_dim}-dim features, got {features.shape[-1]}")
  r_rot, r_pos = recover_root_rot_pos(features, xp)
  local = features[..., 4:4 + (num_joints - 1) * 3]
  local = local.reshape(local.shape[:-1] + (num_joints - 1, 3))
  r_rot_j = xp.broadcast_to(_qinv(r_rot, xp)[..., None, :], local.shape[:-1] + (4,))
  positions = _qrot(r_rot_j, local, xp)
  offset = xp.stack([r_pos[..., 0], xp.zeros_like(r_pos[..., 0]), r_pos[..., 2]], axis=-1)
  positions = positions + offset[..., None, :]
  return xp.concatenate([r_pos[..., None, :], positions], axis=-2)


def mirror_joints(joints: np.ndarray, skel: Skeleton = HUMANML3D) -> np.ndarray:
  """Left/right mirror image of a motion [T, J, 3]: x negated, sides swapped."""
  mirrored = joints[:, skel.mirror_permutation].copy()
  mirrored[..., 0] *= -1
  return mirrored


def features_to_all_joints(features: np.ndarray) -> np.ndarray:
  """All T+1 frames [T+1, J, 3] that features [T, D] were computed from.

  ``features_to_joints`` gives the first T frames; the last one follows from the last
  row's joint velocities (which HumanML3D expresses in that row's facing frame).
  """
  features = np.asarray(features, dtype=np.float64)
  num_joints = skeleton_for_feature_dim(features.shape[-1]).num_joints
  joints = features_to_joints(features, num_joints)
  r_rot, _ = recover_root_rot_pos(features)
  velocity = features[-1, feature_slices(num_joints)["local_velocity"]].reshape(num_joints, 3)
  last = joints[-1] + Q.qrot(np.broadcast_to(Q.qinv(r_rot[-1]), (num_joints, 4)), velocity)
  return np.concatenate([joints, last[None]], axis=0)
