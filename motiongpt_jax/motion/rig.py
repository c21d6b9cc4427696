"""A posable SMPL-chain rig: local joint angles + heading -> joint positions on the floor.

Used by the procedural data set. Poses are local Euler angles per joint in the body frame
(x = the body's left, y = up, z = forward); each joint's rotation turns the bones below it.
The rest pose stands upright with the arms hanging, on HumanML3D's target bone lengths.

``ground_motion`` turns a pose track into a motion that obeys contact: while grounded, the
lowest foot touches the floor and the foot that carries the weight (the anchor) does not
move horizontally, so the body is carried by its legs rather than sliding; while airborne
(``lift > 0``) the body follows the given lift and drift.
"""

from __future__ import annotations

import numpy as np

from motiongpt_jax.motion.skeleton import HUMANML3D

J = HUMANML3D.num_joints
PARENTS = HUMANML3D.parents

# Named joints for readable pose code.
PELVIS, L_HIP, R_HIP, SPINE1, L_KNEE, R_KNEE, SPINE2, L_ANKLE, R_ANKLE, SPINE3 = range(10)
L_FOOT, R_FOOT, NECK, L_COLLAR, R_COLLAR, HEAD, L_SHOULDER, R_SHOULDER = range(10, 18)
L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = range(18, 22)
FEET = (L_ANKLE, L_FOOT, R_ANKLE, R_FOOT)
LEFT_FOOT_JOINTS = (L_ANKLE, L_FOOT)
RIGHT_FOOT_JOINTS = (R_ANKLE, R_FOOT)

# Rest direction of each bone (joint relative to its parent), roughly the SMPL mean body
# with the arms down; lengths come from the HumanML3D target skeleton.
_REST_DIRECTIONS = np.array([
    [0, 0, 0],            # pelvis
    [0.58, -0.81, -0.04],  # left hip
    [-0.58, -0.81, -0.04],  # right hip
    [0, 1, -0.08],        # spine1
    [0.05, -1, 0.01],     # left knee
    [-0.05, -1, 0.01],    # right knee
    [0, 1, 0.05],         # spine2
    [0, -1, -0.06],       # left ankle
    [0, -1, -0.06],       # right ankle
    [0, 1, 0.02],         # spine3
    [0.08, -0.38, 1],     # left foot (toe base)
    [-0.08, -0.38, 1],    # right foot
    [0, 1, -0.12],        # neck
    [0.6, 0.45, -0.1],    # left collar
    [-0.6, 0.45, -0.1],   # right collar
    [0, 1, 0.3],          # head
    [0.95, 0.05, -0.08],  # left shoulder
    [-0.95, 0.05, -0.08],  # right shoulder
    [0.15, -1, 0],        # left elbow
    [-0.15, -1, 0],       # right elbow
    [0.05, -1, 0.12],     # left wrist
    [-0.05, -1, 0.12],    # right wrist
])
_norm = np.linalg.norm(_REST_DIRECTIONS, axis=-1, keepdims=True)
REST_OFFSETS = np.divide(_REST_DIRECTIONS, _norm, out=np.zeros_like(_REST_DIRECTIONS),
                         where=_norm > 0) * HUMANML3D.bone_lengths[:, None]


def _rx(a):
  c, s = np.cos(a), np.sin(a)
  o, z = np.ones_like(a), np.zeros_like(a)
  return np.stack([o, z, z, z, c, -s, z, s, c], -1).reshape(a.shape + (3, 3))


def _ry(a):
  c, s = np.cos(a), np.sin(a)
  o, z = np.ones_like(a), np.zeros_like(a)
  return np.stack([c, z, s, z, o, z, -s, z, c], -1).reshape(a.shape + (3, 3))


def _rz(a):
  c, s = np.cos(a), np.sin(a)
  o, z = np.ones_like(a), np.zeros_like(a)
  return np.stack([c, -s, z, s, c, z, z, z, o], -1).reshape(a.shape + (3, 3))


def euler_to_matrix(angles: np.ndarray) -> np.ndarray:
  """R = Ry(y) Rx(x) Rz(z): roll/abduction first, then flexion, then twist."""
  return _ry(angles[..., 1]) @ _rx(angles[..., 0]) @ _rz(angles[..., 2])


def _depth_groups(parents: np.ndarray) -> tuple[np.ndarray, ...]:
  """Joints grouped by depth in the tree (the root alone at depth 0)."""
  depth = np.zeros(len(parents), dtype=np.int64)
  for j in range(1, len(parents)):
    depth[j] = depth[parents[j]] + 1
  return tuple(np.flatnonzero(depth == d) for d in range(1, depth.max() + 1))


_DEPTH_GROUPS = _depth_groups(PARENTS)


def pose_joints(angles: np.ndarray, heading: np.ndarray) -> np.ndarray:
  """Joint positions [T, J, 3] with the pelvis at the origin.

  angles: [T, J, 3] local Euler angles; heading: [T] yaw of the body about +y
  (0 faces +z, positive turns towards +x, the body's left). The joints of one depth in
  the tree are posed together (the same 3x3 products as joint by joint).
  """
  local = euler_to_matrix(angles)
  glob = np.empty_like(local)
  glob[:, 0] = _ry(heading) @ local[:, 0]
  pos = np.zeros(angles.shape[:2] + (3,))
  for js in _DEPTH_GROUPS:
    ps = PARENTS[js]
    parent_rot = glob[:, ps]
    glob[:, js] = parent_rot @ local[:, js]
    pos[:, js] = pos[:, ps] + (parent_rot @ REST_OFFSETS[js][:, :, None])[..., 0]
  return pos


def _foot_point(pos: np.ndarray, foot: int) -> np.ndarray:
  joints = LEFT_FOOT_JOINTS if foot == 0 else RIGHT_FOOT_JOINTS
  return 0.5 * (pos[..., joints[0], :] + pos[..., joints[1], :])


def ground_motion(angles: np.ndarray, heading: np.ndarray, lift: np.ndarray,
                  drift: np.ndarray, switch_margin: float = 0.004):
  """World joint positions [T, J, 3] and the anchor foot per frame (0 left, 1 right, -1 air).

  lift: [T] height above the grounded pose (0 = on the floor); drift: [T, 2] horizontal
  world velocity (m/frame, x and z) used while airborne.
  """
  local = pose_joints(angles, heading)
  t_len = len(angles)
  feet_y = local[:, FEET, 1]
  ground_y = -feet_y.min(axis=1)
  left_low = local[:, LEFT_FOOT_JOINTS, 1].min(axis=1)
  right_low = local[:, RIGHT_FOOT_JOINTS, 1].min(axis=1)
  airborne = lift > 1e-6

  # Each foot's contact point per frame, and how far it moves against the body per step.
  points = np.stack([_foot_point(local, 0), _foot_point(local, 1)], axis=1)  # [T, 2, 3]
  steps = (points[:-1] - points[1:])[..., [0, 2]]  # [T-1, 2 feet, (x, z)]
  step_len = np.sqrt(steps[..., 0] * steps[..., 0] + steps[..., 1] * steps[..., 1]).tolist()
  airborne_l, left_l, right_l = airborne.tolist(), left_low.tolist(), right_low.tolist()
  # Root translation per frame (x, z), summed in frame order below.
  increment = np.zeros((t_len, 2))
  anchor = np.full(t_len, -1)
  current = 0 if left_l[0] <= right_l[0] else 1
  previous = -1
  for t in range(t_len):
    if airborne_l[t]:
      anchor[t] = previous = -1
      if t > 0:
        increment[t] = drift[t]
      continue
    lows = (left_l[t], right_l[t])
    landing = t > 0 and previous == -1
    if landing:
      current = 0 if lows[0] <= lows[1] else 1  # the lower foot takes the weight
    elif lows[1 - current] < lows[current] - switch_margin:
      current = 1 - current  # weight moves to the other foot
    carried_before = previous == current
    anchor[t] = previous = current
    if t == 0:
      continue
    if landing:
      increment[t] = drift[t]
    else:
      # The supporting foot stays where it was in the previous frame. In the frame the
      # weight changes feet, the foot that moves less relative to the body decides.
      lens = step_len[t - 1]
      carrier = current if carried_before else (0 if lens[0] <= lens[1] else 1)
      increment[t] = steps[t - 1, carrier]
  root = np.zeros((t_len, 3))
  root[:, [0, 2]] = np.cumsum(increment, axis=0)
  root[:, 1] = ground_y + lift
  return lock_feet(local + root[:, None, :], airborne), anchor


_LEGS = ((L_HIP, L_KNEE, L_ANKLE, L_FOOT), (R_HIP, R_KNEE, R_ANKLE, R_FOOT))


def _pow2(x: np.ndarray) -> np.ndarray:
  """x**2 as a scalar power computes it (C ``pow``, which can differ from x*x in the last
  bit), so the vectorised solve below gives the same bits as one frame at a time."""
  return np.array([v**2 for v in x.tolist()])


def _solve_knee(hip, knee, ankle_target, l1, l2):
  """Two-bone IK, per row [N, 3]: knee positions reaching ankle_target, bending towards
  the old knee. Returns the new knees and ankles [N, 3]."""
  def norm(x):
    return np.sqrt((x[:, 0] * x[:, 0] + x[:, 1] * x[:, 1]) + x[:, 2] * x[:, 2])

  d_vec = ankle_target - hip
  d_len = norm(d_vec)
  d = np.clip(d_len, 1e-6, l1 + l2 - 1e-6)
  u = d_vec / d_len[:, None]
  a = (l1**2 - l2**2 + _pow2(d)) / (2 * d)
  h = np.sqrt(np.maximum(l1**2 - _pow2(a), 0.0))
  bend = knee - hip
  along = (bend[:, 0] * u[:, 0] + bend[:, 1] * u[:, 1]) + bend[:, 2] * u[:, 2]
  pole = bend - along[:, None] * u
  pole = pole / np.maximum(norm(pole), 1e-9)[:, None]
  new_knee = hip + a[:, None] * u + h[:, None] * pole
  new_ankle = hip + d[:, None] * u  # equals the target unless it was out of reach
  return new_knee, new_ankle


def lock_feet(joints: np.ndarray, airborne: np.ndarray, threshold: float = 0.005,
              release: int = 4) -> np.ndarray:
  """Pins each foot that rests on the floor to where it touched down.

  The anchor foot is already still; this keeps the second foot still too when a pose
  change would drag it along the floor (double support). The leg is re-solved with
  two-bone IK, so bone lengths stay exact; after lift-off the correction fades out over
  ``release`` frames.
  """
  out = joints.copy()
  t_len = len(joints)
  decay = 1.0 - 1.0 / release
  for hip, knee, ankle, toe in _LEGS:
    l1 = np.linalg.norm(joints[0, knee] - joints[0, hip])
    l2 = np.linalg.norm(joints[0, ankle] - joints[0, knee])
    low = np.minimum(joints[:, ankle, 1], joints[:, toe, 1])
    on_floor = ((low < threshold) & ~airborne).tolist()
    mids = (0.5 * (joints[:, ankle] + joints[:, toe])).tolist()
    # The correction per frame: a short scalar recurrence, then one IK solve for all frames.
    offsets = np.zeros((t_len, 3))
    ox = oy = oz = 0.0
    pinned = None
    for t in range(t_len):
      mx, my, mz = mids[t]
      if on_floor[t]:
        if pinned is None:
          pinned = (mx + ox, mz + oz)  # touch down where the (faded) correction leaves the foot
        ox, oy, oz = pinned[0] - mx, 0.0, pinned[1] - mz
      else:
        pinned = None
        if max(abs(ox), abs(oy), abs(oz)) > 1e-5:
          ox, oy, oz = ox * decay, oy * decay, oz * decay
        else:
          ox = oy = oz = 0.0
      offsets[t] = (ox, oy, oz)
    rows = np.flatnonzero(offsets.any(axis=1))
    if not len(rows):
      continue
    new_knee, new_ankle = _solve_knee(out[rows, hip], out[rows, knee],
                                      out[rows, ankle] + offsets[rows], l1, l2)
    out[rows, toe] = out[rows, toe] + (new_ankle - out[rows, ankle])
    out[rows, knee], out[rows, ankle] = new_knee, new_ankle
  return out
