"""BVH motion files: reading, forward kinematics, writing, and joints [T, 22, 3] -> BVH.

The format as animation tools read it (Biovision BVH): a HIERARCHY of joints, each with an
OFFSET from its parent and its CHANNELS; then MOTION, ``Frames: N``, ``Frame Time: s`` and
one line per frame holding every channel's value in hierarchy order. A joint's rotation
channels compose intrinsically in the order listed, in degrees (``Zrotation Xrotation
Yrotation`` is R = Rz Rx Ry); a joint's position channels replace its OFFSET (Blender's and
bvhio's reading for the root). A joint's world position is its parent's position plus the
parent's world rotation applied to its offset (or translation).

Export (``joints_to_bvh``), the choices written down:

* the 22-joint SMPL chain under SMPL's joint names (``skeleton.SMPL_JOINT_NAMES``), the
  pelvis as root with position channels, y up, metres, 20 fps (Frame Time 0.05);
* offsets from the motion's own bone lengths (median over its frames), not HumanML3D's
  target skeleton: forward kinematics of the file then reproduces the joints to float
  precision whenever the motion's bones are rigid (any motion of a data set, any features
  decoded by ``features_to_joints``); a motion whose bone lengths wander (a model's
  output) gets its bone directions right and its length differences as the error, which
  ``max_error`` reports;
* the rest pose (all rotations zero) is an SMPL-like T-pose facing +z: legs and spine
  straight, arms out sideways, feet forward; the two joints with three children (pelvis:
  hips and spine; spine3: neck and collars) keep the shape the motion has (measured in
  their own body frame), since their children move rigidly with them;
* rotations: pelvis and spine3 take the rotation that best carries their rest children
  onto the frame's (Kabsch; exact for a rigid body); every other joint with a child turns
  its bone onto the child by the smallest rotation relative to its parent (the twist about
  a bone is not determined by positions: this choice is zero at rest and continuous over
  time); end joints (feet, head, wrists) keep their parent's rotation. Each bone is aimed
  from the position forward kinematics has reached, so errors do not add up down a chain;
* Euler angles: per joint, the Tait-Bryan order whose middle angle stays furthest from
  +-90 degrees over the motion (away from gimbal lock: yaw first for a spinning pelvis);
  per frame the one of the two equivalent angle triples nearest the previous frame's,
  unwrapped by whole turns, so every channel is continuous (a 360-degree spin reads 0 to
  360, with no jump).

HumanML3D's 6-D rotations are not used: they are shortest arcs from fixed world directions
(``features.inverse_kinematics``), so beside the positions they carry only the root's
smoothed facing, and they flip when a bone points against its raw offset.
"""

from __future__ import annotations

import dataclasses
import os
import re

import numpy as np

from motiongpt_jax.motion.skeleton import HUMANML3D, SMPL_JOINT_NAMES

_AXES = {"X": 0, "Y": 1, "Z": 2}
EULER_ORDERS = ("ZXY", "ZYX", "YXZ", "YZX", "XYZ", "XZY")  # first = the default
POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")


class BvhError(ValueError):
  """A BVH file that cannot be read; the message names the file and the fault."""


@dataclasses.dataclass
class Bvh:
  """A BVH file in memory: hierarchy and channel values, joints in file (depth-first)
  order, so every parent comes before its children."""

  names: list[str]
  parents: np.ndarray                    # [J] parent index, -1 for the root
  offsets: np.ndarray                    # [J, 3]
  channels: list[tuple[str, ...]]        # per joint, as listed in the file
  frame_time: float                      # seconds
  motion: np.ndarray                     # [T, C] channel values, C = all channels
  end_sites: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)

  @property
  def num_frames(self) -> int:
    return len(self.motion)

  @property
  def fps(self) -> float:
    return 1.0 / self.frame_time

  def index(self, name: str) -> int:
    return self.names.index(name)

  def children(self, j: int) -> list[int]:
    return [int(c) for c in np.flatnonzero(self.parents == j)]

  def _columns(self) -> list[slice]:
    out, start = [], 0
    for ch in self.channels:
      out.append(slice(start, start + len(ch)))
      start += len(ch)
    return out

  def local_transforms(self) -> tuple[np.ndarray, np.ndarray]:
    """Local rotations [T, J, 3, 3] and translations [T, J, 3] of every frame."""
    t_len, j_len = self.num_frames, len(self.names)
    rots = np.broadcast_to(np.eye(3), (t_len, j_len, 3, 3)).copy()
    trans = np.broadcast_to(self.offsets, (t_len, j_len, 3)).copy()
    for j, (cols, chans) in enumerate(zip(self._columns(), self.channels)):
      values = self.motion[:, cols]
      for k, ch in enumerate(chans):
        if ch in POSITION_CHANNELS:
          trans[:, j, POSITION_CHANNELS.index(ch)] = values[:, k]
        else:
          rots[:, j] = rots[:, j] @ axis_rotation(ch[0], np.deg2rad(values[:, k]))
    return rots, trans

  def positions(self, names=None) -> np.ndarray:
    """World positions [T, J, 3] of every joint (forward kinematics), or of the joints
    ``names`` in that order."""
    rots, trans = self.local_transforms()
    pos = forward_kinematics(self.parents, rots, trans)[0]
    if names is None:
      return pos
    missing = [n for n in names if n not in self.names]
    if missing:
      raise ValueError(f"BVH has no joint(s) {missing}")
    return pos[:, [self.names.index(n) for n in names]]


def axis_rotation(axis: str, angle: np.ndarray) -> np.ndarray:
  """Rotation matrices [..., 3, 3] by ``angle`` radians about axis 'X', 'Y' or 'Z'."""
  if axis not in _AXES:
    raise ValueError(f"rotation axis {axis!r}: expected X, Y or Z")
  angle = np.asarray(angle, dtype=np.float64)
  c, s = np.cos(angle), np.sin(angle)
  i = _AXES[axis]
  a, b = (i + 1) % 3, (i + 2) % 3
  m = np.zeros(angle.shape + (3, 3))
  m[..., i, i] = 1.0
  m[..., a, a] = c
  m[..., b, b] = c
  m[..., a, b] = -s
  m[..., b, a] = s
  return m


def euler_to_matrix(angles: np.ndarray, order: str) -> np.ndarray:
  """R = R_order[0](a0) R_order[1](a1) R_order[2](a2), angles [..., 3] in radians."""
  m = axis_rotation(order[0], angles[..., 0])
  m = m @ axis_rotation(order[1], angles[..., 1])
  return m @ axis_rotation(order[2], angles[..., 2])


def _tait_bryan(r: np.ndarray, order: str) -> tuple[np.ndarray, np.ndarray]:
  """(angles [..., 3], |cos| of the middle angle) with R = Ra Rb Rc for order 'abc'."""
  i, j, k = (_AXES[a] for a in order)
  s = 1.0 if (j - i) % 3 == 1 else -1.0  # even permutation of XYZ
  cos_b = np.hypot(r[..., i, i], r[..., i, j])
  beta = np.arctan2(s * r[..., i, k], cos_b)
  alpha = np.arctan2(-s * r[..., j, k], r[..., k, k])
  gamma = np.arctan2(-s * r[..., i, j], r[..., i, i])
  locked = cos_b < 1e-7
  if locked.any():  # gimbal lock: only a + c (or a - c) is defined; take a = 0
    alpha = np.where(locked, 0.0, alpha)
    rest = np.swapaxes(axis_rotation(order[1], beta), -1, -2) @ r
    g = np.arctan2(rest[..., (k + 2) % 3, (k + 1) % 3], rest[..., (k + 1) % 3, (k + 1) % 3])
    gamma = np.where(locked, g, gamma)
  return np.stack([alpha, beta, gamma], axis=-1), cos_b


def _wrap(a: np.ndarray) -> np.ndarray:
  return (a + np.pi) % (2 * np.pi) - np.pi


def continuous_euler(rots: np.ndarray, order: str) -> np.ndarray:
  """Euler angles [T, 3] (radians) of rotations [T, 3, 3], continuous over time.

  Of the two triples that give each rotation, (a, b, c) and (a + pi, pi - b, c + pi), the
  one nearest the previous frame's is kept, then unwrapped by whole turns.
  """
  base, _ = _tait_bryan(rots, order)
  alt = base + np.array([np.pi, 0.0, np.pi])
  alt[:, 1] = np.pi - base[:, 1]
  out = np.empty_like(base)
  prev = base[0]
  for t in range(len(base)):
    best = None
    for cand in (base[t], alt[t]):
      cand = prev + _wrap(cand - prev)
      dist = np.abs(cand - prev).sum()
      if best is None or dist < best[0] - 1e-12:
        best = (dist, cand)
    out[t] = prev = best[1]
  return out


def choose_order(rots: np.ndarray) -> str:
  """The Tait-Bryan order whose middle angle keeps furthest from +-90 degrees over
  ``rots`` [T, 3, 3] (ties and near-ties go to the earlier of ``EULER_ORDERS``)."""
  scores = [float(_tait_bryan(rots, order)[1].min()) for order in EULER_ORDERS]
  best = max(scores)
  return next(o for o, s in zip(EULER_ORDERS, scores) if s >= best - 0.05)


def forward_kinematics(parents: np.ndarray, rots: np.ndarray,
                       trans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """World positions [T, J, 3] and rotations [T, J, 3, 3] from local ones (parents before
  children, as in a BVH hierarchy)."""
  pos = np.zeros(trans.shape)
  glob = np.zeros(rots.shape)
  for j, p in enumerate(parents):
    if p < 0:
      glob[:, j] = rots[:, j]
      pos[:, j] = trans[:, j]
    else:
      glob[:, j] = glob[:, p] @ rots[:, j]
      pos[:, j] = pos[:, p] + np.einsum("tij,tj->ti", glob[:, p], trans[:, j])
  return pos, glob


# ------------------------------------------------------------------------------- reading
def _tokens_with_lines(text: str):
  for lineno, line in enumerate(text.splitlines(), 1):
    for tok in line.replace("{", " { ").replace("}", " } ").split():
      yield tok, lineno


def read_bvh(path: str) -> Bvh:
  """Parses a BVH file (one ROOT); raises BvhError naming the file, line and fault."""
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path}: no such file")
  try:
    with open(path, encoding="utf-8", errors="replace") as f:
      text = f.read()
  except OSError as e:
    raise BvhError(f"{path}: unreadable ({e})") from None
  match = re.search(r"^\s*MOTION\s*$", text, flags=re.MULTILINE)
  if not match:
    raise BvhError(f"{path}: no MOTION section (expected HIERARCHY ... MOTION, Frames:, "
                   f"Frame Time: and one line of channel values per frame)")
  header, body = text[:match.start()], text[match.end():]
  tokens = list(_tokens_with_lines(header))
  if not tokens or tokens[0][0].upper() != "HIERARCHY":
    raise BvhError(f"{path}: expected the file to start with HIERARCHY")
  names, parents, offsets, channels, end_sites = [], [], [], [], {}
  stack: list[int] = []  # joint indices of open braces (-2 for an End Site)
  pos = 1

  def need(what: str):
    nonlocal pos
    if pos >= len(tokens):
      raise BvhError(f"{path}: hierarchy ends early, expected {what}")
    tok = tokens[pos]
    pos += 1
    return tok

  def fail(lineno: int, msg: str):
    raise BvhError(f"{path}:{lineno}: {msg}")

  def numbers(count: int, what: str) -> list[float]:
    out = []
    for _ in range(count):
      tok, lineno = need(what)
      try:
        out.append(float(tok))
      except ValueError:
        fail(lineno, f"{what}: expected a number, got {tok!r}")
    return out

  while pos < len(tokens):
    tok, lineno = need("a joint")
    key = tok.upper()
    if key in ("ROOT", "JOINT"):
      if key == "ROOT" and names:
        fail(lineno, "a second ROOT: only files with one skeleton are supported")
      if key == "JOINT" and (not stack or stack[-1] < 0):
        fail(lineno, "JOINT outside a joint's braces")
      name_parts = []
      while True:
        t, ln = need("'{' after the joint name")
        if t == "{":
          break
        name_parts.append(t)
      if not name_parts:
        fail(lineno, f"{tok} without a name")
      names.append(" ".join(name_parts))
      parents.append(stack[-1] if stack else -1)
      offsets.append([0.0, 0.0, 0.0])
      channels.append(())
      stack.append(len(names) - 1)
    elif key == "END":
      site, ln = need("'Site'")
      brace, ln = need("'{'")
      if site.upper() != "SITE" or brace != "{":
        fail(lineno, "expected 'End Site {'")
      if not stack or stack[-1] < 0:
        fail(lineno, "End Site outside a joint")
      stack.append(-2 - stack[-1])  # remembers its joint
    elif key == "OFFSET":
      if not stack:
        fail(lineno, "OFFSET outside a joint")
      values = numbers(3, "OFFSET")
      if stack[-1] >= 0:
        offsets[stack[-1]] = values
      else:
        end_sites[-2 - stack[-1]] = np.asarray(values)
    elif key == "CHANNELS":
      if not stack or stack[-1] < 0:
        fail(lineno, "CHANNELS outside a joint")
      count_tok, ln = need("the channel count")
      if not count_tok.isdigit():
        fail(ln, f"CHANNELS: expected a count, got {count_tok!r}")
      chans = []
      for _ in range(int(count_tok)):
        ch, ln = need("a channel name")
        if ch not in POSITION_CHANNELS and ch not in ("Xrotation", "Yrotation", "Zrotation"):
          fail(ln, f"unknown channel {ch!r} (expected X/Y/Z position or rotation)")
        chans.append(ch)
      channels[stack[-1]] = tuple(chans)
    elif tok == "}":
      if not stack:
        fail(lineno, "unbalanced '}'")
      stack.pop()
    else:
      fail(lineno, f"unexpected {tok!r} in the hierarchy")
  if stack:
    raise BvhError(f"{path}: hierarchy has {len(stack)} unclosed '{{'")
  if not names:
    raise BvhError(f"{path}: no ROOT joint in the hierarchy")

  body_lines = body.strip().splitlines()
  frames_m = re.match(r"\s*Frames:\s*(\d+)\s*$", body_lines[0]) if body_lines else None
  time_m = (re.match(r"\s*Frame\s+Time:\s*([0-9.eE+-]+)\s*$", body_lines[1])
            if len(body_lines) > 1 else None)
  if not frames_m or not time_m:
    raise BvhError(f"{path}: after MOTION expected 'Frames: N' and 'Frame Time: SECONDS'")
  n_frames, frame_time = int(frames_m.group(1)), float(time_m.group(1))
  if not frame_time > 0:
    raise BvhError(f"{path}: Frame Time {frame_time}: expected seconds > 0")
  n_channels = sum(len(c) for c in channels)
  try:
    values = np.array(" ".join(body_lines[2:]).split(), dtype=np.float64)
  except ValueError as e:
    raise BvhError(f"{path}: channel values are not all numbers ({e})") from None
  if values.size != n_frames * n_channels:
    raise BvhError(f"{path}: {values.size} channel values, expected Frames {n_frames} x "
                   f"{n_channels} channels = {n_frames * n_channels}")
  if not np.isfinite(values).all():
    raise BvhError(f"{path}: NaN or inf among the channel values")
  return Bvh(names, np.asarray(parents), np.asarray(offsets, dtype=np.float64), channels,
             frame_time, values.reshape(n_frames, n_channels), end_sites)


# ------------------------------------------------------------------------------- writing
def depth_first_order(parents) -> list[int]:
  """Joint indices in the order a BVH file lists them (children in index order)."""
  parents = np.asarray(parents)
  roots = [int(r) for r in np.flatnonzero(parents < 0)]
  if len(roots) != 1:
    raise ValueError(f"a BVH hierarchy needs exactly one root, got {len(roots)}")
  order, stack = [], roots
  while stack:
    j = stack.pop()
    order.append(j)
    stack.extend(reversed([int(c) for c in np.flatnonzero(parents == j)]))
  return order


def format_bvh(bvh: Bvh, decimals: int = 6) -> str:
  """The text of a BVH file."""
  lines = ["HIERARCHY"]

  def joint(j: int, depth: int):
    pad = "\t" * depth
    kind = "ROOT" if bvh.parents[j] < 0 else "JOINT"
    lines.append(f"{pad}{kind} {bvh.names[j]}")
    lines.append(pad + "{")
    lines.append(f"{pad}\tOFFSET " + " ".join(f"{v:.{decimals}f}" for v in bvh.offsets[j]))
    lines.append(f"{pad}\tCHANNELS {len(bvh.channels[j])} " + " ".join(bvh.channels[j]))
    kids = bvh.children(j)
    for c in kids:
      joint(c, depth + 1)
    if not kids:
      end = bvh.end_sites.get(j, np.zeros(3))
      lines.append(f"{pad}\tEnd Site")
      lines.append(pad + "\t{")
      lines.append(f"{pad}\t\tOFFSET " + " ".join(f"{v:.{decimals}f}" for v in end))
      lines.append(pad + "\t}")
    lines.append(pad + "}")

  if depth_first_order(bvh.parents) != list(range(len(bvh.names))):
    raise ValueError("BVH joints must be stored in depth-first order with one root")
  joint(0, 0)
  lines += ["MOTION", f"Frames: {bvh.num_frames}", f"Frame Time: {bvh.frame_time:.6g}"]
  fmt = f"%.{decimals}f"
  lines += [" ".join(fmt % v for v in row) for row in bvh.motion]
  return "\n".join(lines) + "\n"


def write_bvh(path: str, bvh: Bvh, decimals: int = 6) -> str:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w") as f:
    f.write(format_bvh(bvh, decimals))
  return path


# ------------------------------------------------------------------------ joints -> BVH
# Rest direction of each bone (joint relative to its parent) in the T-pose, body frame
# x = left, y = up, z = forward. Rows of the pelvis's and spine3's children are measured
# from the motion instead (see _FRAMES).
_REST_DIRECTIONS = np.array([
    [0, 0, 0],         # pelvis
    [1, -1, 0],        # left_hip (measured)
    [-1, -1, 0],       # right_hip (measured)
    [0, 1, 0],         # spine1 (measured)
    [0, -1, 0],        # left_knee
    [0, -1, 0],        # right_knee
    [0, 1, 0],         # spine2
    [0, -1, 0],        # left_ankle
    [0, -1, 0],        # right_ankle
    [0, 1, 0],         # spine3
    [0, -0.4, 1],      # left_foot
    [0, -0.4, 1],      # right_foot
    [0, 1, 0],         # neck (measured)
    [1, 0, 0],         # left_collar (measured)
    [-1, 0, 0],        # right_collar (measured)
    [0, 1, 0],         # head
    [1, 0, 0],         # left_shoulder
    [-1, 0, 0],        # right_shoulder
    [1, 0, 0],         # left_elbow
    [-1, 0, 0],        # right_elbow
    [1, 0, 0],         # left_wrist
    [-1, 0, 0],        # right_wrist
], dtype=np.float64)
_REST_DIRECTIONS /= np.maximum(np.linalg.norm(_REST_DIRECTIONS, axis=-1, keepdims=True), 1e-12)

# Joints with three children: (child on the left, child on the right, child above).
_FRAMES = {0: (1, 2, 3), 9: (13, 14, 12)}
# End Site of each end joint: (direction in the rest pose, length as a fraction of its bone).
_END_SITES = {10: ([0, 0, 1], 0.4), 11: ([0, 0, 1], 0.4), 15: ([0, 1, 0], 1.0),
              20: ([1, 0, 0], 0.35), 21: ([-1, 0, 0], 0.35)}


def _unit(v: np.ndarray) -> np.ndarray:
  return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def arc_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Smallest rotations [..., 3, 3] taking directions a to directions b (half a turn about
  an axis normal to a where they are opposite)."""
  a, b = _unit(a), _unit(b)
  v = np.cross(a, b)
  c = (a * b).sum(-1)
  k = np.zeros(v.shape + (3,))
  k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
  k[..., 1, 0], k[..., 2, 0], k[..., 2, 1] = v[..., 2], -v[..., 1], v[..., 0]
  opposite = c < -1 + 1e-9
  scale = 1.0 / np.where(opposite, 1.0, 1.0 + c)
  r = np.eye(3) + k + (k @ k) * scale[..., None, None]
  if opposite.any():
    helper = np.where(np.abs(a[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    u = _unit(np.cross(a, helper))
    half_turn = 2 * u[..., :, None] * u[..., None, :] - np.eye(3)
    r = np.where(opposite[..., None, None], half_turn, r)
  return r


def kabsch(rest: np.ndarray, target: np.ndarray) -> np.ndarray:
  """Rotations [T, 3, 3] best carrying points rest [K, 3] onto target [T, K, 3]."""
  h = np.einsum("ki,tkj->tij", rest, target)
  u, _, vt = np.linalg.svd(h)
  d = np.sign(np.linalg.det(np.swapaxes(vt, -1, -2) @ np.swapaxes(u, -1, -2)))
  fix = np.ones(u.shape[:-1])
  fix[:, -1] = d
  return np.swapaxes(vt, -1, -2) @ (fix[..., None] * np.swapaxes(u, -1, -2))


def _body_frames(joints: np.ndarray, j: int, left: int, right: int, up: int) -> np.ndarray:
  """Per-frame orthonormal frames [T, 3, 3] (columns: left, up, forward) at joint j."""
  x = _unit(joints[:, left] - joints[:, right])
  z = _unit(np.cross(x, joints[:, up] - joints[:, j]))
  y = np.cross(z, x)
  return np.stack([x, y, z], axis=-1)


def rest_offsets(joints: np.ndarray) -> np.ndarray:
  """Bone vectors [22, 3] of the T-pose on the motion's own bone lengths (see the module
  docstring)."""
  parents = HUMANML3D.parents
  lengths = np.median(np.linalg.norm(joints[:, 1:] - joints[:, parents[1:]], axis=-1), axis=0)
  offsets = np.zeros((len(parents), 3))
  offsets[1:] = _REST_DIRECTIONS[1:] * lengths[:, None]
  for j, (left, right, up) in _FRAMES.items():
    frames = _body_frames(joints, j, left, right, up)
    for c in (left, right, up):
      local = np.einsum("tji,tj->ti", frames, joints[:, c] - joints[:, j])
      offsets[c] = np.median(local, axis=0)
  return offsets


def solve_rotations(joints: np.ndarray, offsets: np.ndarray) -> np.ndarray:
  """Local rotations [T, 22, 3, 3] whose forward kinematics on ``offsets`` follows
  ``joints`` [T, 22, 3] (see the module docstring for the rules)."""
  parents = HUMANML3D.parents
  t_len, j_len = joints.shape[:2]
  glob = np.zeros((t_len, j_len, 3, 3))
  pos = np.zeros((t_len, j_len, 3))
  pos[:, 0] = joints[:, 0]
  for j in range(j_len):
    p = parents[j]
    if p >= 0:
      pos[:, j] = pos[:, p] + np.einsum("tij,j->ti", glob[:, p], offsets[j])
    kids = [int(c) for c in np.flatnonzero(parents == j)]
    parent_rot = glob[:, p] if p >= 0 else np.broadcast_to(np.eye(3), (t_len, 3, 3))
    if j in _FRAMES:
      glob[:, j] = kabsch(offsets[kids], joints[:, kids] - pos[:, j:j + 1])
    elif len(kids) == 1:
      c = kids[0]
      current = np.einsum("tij,j->ti", parent_rot, offsets[c])
      glob[:, j] = arc_rotation(current, joints[:, c] - pos[:, j]) @ parent_rot
    elif not kids:
      glob[:, j] = parent_rot
    else:
      raise ValueError(f"joint {j} has {len(kids)} children and no frame rule")
  local = glob.copy()
  for j in range(1, j_len):
    local[:, j] = np.swapaxes(glob[:, parents[j]], -1, -2) @ glob[:, j]
  return local


def joints_to_bvh(joints: np.ndarray, fps: float = HUMANML3D.fps) -> Bvh:
  """A BVH of joint positions [T, 22, 3] (metres, y up) on the SMPL chain."""
  joints = np.asarray(joints, dtype=np.float64)
  if joints.ndim != 3 or joints.shape[1:] != (HUMANML3D.num_joints, 3):
    raise ValueError(f"expected joints of shape [T, {HUMANML3D.num_joints}, 3], got "
                     f"{joints.shape}")
  if len(joints) < 1 or not np.isfinite(joints).all():
    raise ValueError("joints are empty or contain NaN or inf")
  offsets = rest_offsets(joints)
  local = solve_rotations(joints, offsets)
  parents = HUMANML3D.parents
  columns, channels = [joints[:, 0]], []
  for j in range(len(parents)):
    order = choose_order(local[:, j])
    columns.append(np.rad2deg(continuous_euler(local[:, j], order)))
    rot_channels = tuple(a + "rotation" for a in order)
    channels.append(POSITION_CHANNELS + rot_channels if j == 0 else rot_channels)
  offsets[0] = 0.0  # the root's position channels carry its place
  order = depth_first_order(parents)
  where = {j: i for i, j in enumerate(order)}
  end_sites = {where[j]: np.asarray(direction, float) * fraction * np.linalg.norm(offsets[j])
               for j, (direction, fraction) in _END_SITES.items()}
  columns = [columns[0]] + [columns[1 + j] for j in order]
  return Bvh([SMPL_JOINT_NAMES[j] for j in order],
             np.asarray([where[parents[j]] if parents[j] >= 0 else -1 for j in order]),
             offsets[order], [channels[j] for j in order], 1.0 / fps,
             np.concatenate(columns, axis=-1), end_sites)


def max_error(bvh: Bvh, joints: np.ndarray) -> float:
  """Largest distance (m) between the file's forward kinematics and ``joints``."""
  return float(np.linalg.norm(bvh.positions(SMPL_JOINT_NAMES) - joints, axis=-1).max())


def save_joints(path: str, joints: np.ndarray, fps: float = HUMANML3D.fps) -> Bvh:
  """Writes joints [T, 22, 3] as a BVH file; returns the Bvh written."""
  bvh = joints_to_bvh(joints, fps)
  write_bvh(path, bvh)
  return bvh
