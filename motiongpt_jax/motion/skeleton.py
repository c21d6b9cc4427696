"""Skeletons of HumanML3D (22-joint SMPL chain) and KIT-ML (21 joints).

Facts from the HumanML3D processing code (EricGuo5513/HumanML3D, ``paramUtil.py`` and
``motion_representation.ipynb``): joint order, kinematic chains, the unit "raw offsets"
its inverse kinematics measures rotations against, the joints used to find the facing
direction and the foot contacts. The bone lengths of HumanML3D's target skeleton (subject
000021, frame 0) are measured from the real sample motion, whose joints are already on
that skeleton (spread across frames below 1e-6 m).
"""

from __future__ import annotations

import dataclasses

import numpy as np

SMPL_JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)


@dataclasses.dataclass(frozen=True)
class Skeleton:
  """A kinematic tree and the conventions of the HumanML3D representation on it."""

  name: str
  joint_names: tuple[str, ...]
  # Chains from a root joint outwards; the first joint of each chain is its anchor.
  kinematic_chain: tuple[tuple[int, ...], ...]
  # Unit direction of each bone in the rest pose used by the inverse kinematics.
  raw_offsets: np.ndarray
  # Bone length of each joint to its parent on the data set's target skeleton.
  bone_lengths: np.ndarray
  # Right hip, left hip, right shoulder, left shoulder (HumanML3D's face_joint_indx).
  face_joints: tuple[int, int, int, int]
  # Lower-leg joints whose offsets give the leg length used for rescaling.
  leg_joints: tuple[int, int]
  foot_right: tuple[int, int]
  foot_left: tuple[int, int]
  fps: float
  feet_threshold: float  # squared displacement per frame under which a foot is in contact

  @property
  def num_joints(self) -> int:
    return len(self.joint_names)

  @property
  def feature_dim(self) -> int:
    j = self.num_joints
    return 4 + (j - 1) * 3 + (j - 1) * 6 + j * 3 + 4

  @property
  def parents(self) -> np.ndarray:
    parents = np.full(self.num_joints, -1, dtype=np.int64)
    for chain in self.kinematic_chain:
      for parent, child in zip(chain[:-1], chain[1:]):
        parents[child] = parent
    return parents

  @property
  def target_offsets(self) -> np.ndarray:
    """Bone vectors of the target skeleton in the raw-offset rest pose, [J, 3]."""
    return self.raw_offsets * self.bone_lengths[:, None]

  @property
  def mirror_permutation(self) -> np.ndarray:
    """Index of each joint's left/right counterpart (itself for the spine)."""
    names = self.joint_names
    perm = []
    for n in names:
      if n.startswith("left_"):
        perm.append(names.index("right_" + n[5:]))
      elif n.startswith("right_"):
        perm.append(names.index("left_" + n[6:]))
      else:
        perm.append(names.index(n))
    return np.asarray(perm)


_T2M_RAW_OFFSETS = np.array([
    [0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0],
    [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0],
    [-1, 0, 0], [0, 0, 1], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0],
    [0, -1, 0]], dtype=np.float64)

# Bone lengths (m) of HumanML3D's target skeleton, joint i to its parent.
_T2M_BONE_LENGTHS = np.array([
    0.0, 0.10307396, 0.10988346, 0.13156833, 0.3936233, 0.3901882, 0.14319032,
    0.4324335, 0.42564377, 0.05736474, 0.14338163, 0.14941914, 0.21936023, 0.13748689,
    0.14338295, 0.10303912, 0.13161407, 0.12298422, 0.25683978, 0.26309198, 0.2660116,
    0.2698759])

HUMANML3D = Skeleton(
    name="humanml3d",
    joint_names=SMPL_JOINT_NAMES,
    kinematic_chain=((0, 2, 5, 8, 11), (0, 1, 4, 7, 10), (0, 3, 6, 9, 12, 15),
                     (9, 14, 17, 19, 21), (9, 13, 16, 18, 20)),
    raw_offsets=_T2M_RAW_OFFSETS,
    bone_lengths=_T2M_BONE_LENGTHS,
    face_joints=(2, 1, 17, 16),
    leg_joints=(5, 8),
    foot_right=(8, 11),
    foot_left=(7, 10),
    fps=20.0,
    feet_threshold=0.002,
)

KIT_JOINT_NAMES = (
    "root", "torso", "chest", "neck", "head", "left_shoulder", "left_elbow",
    "left_wrist", "right_shoulder", "right_elbow", "right_wrist", "left_hip",
    "left_knee", "left_ankle", "left_heel", "left_toe", "right_hip", "right_knee",
    "right_ankle", "right_heel", "right_toe",
)

# KIT-ML conventions from the same code base: 21 joints, 251 features, 12.5 fps.
# Its target skeleton (subject 03950) is not distributed with this project, so the
# bone lengths are unknown here; readers and recover_from_ric do not need them.
KIT = Skeleton(
    name="kit",
    joint_names=KIT_JOINT_NAMES,
    kinematic_chain=((0, 11, 12, 13, 14, 15), (0, 16, 17, 18, 19, 20), (0, 1, 2, 3, 4),
                     (3, 5, 6, 7), (3, 8, 9, 10)),
    raw_offsets=np.array([
        [0, 0, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0], [1, 0, 0], [0, -1, 0],
        [0, -1, 0], [-1, 0, 0], [0, -1, 0], [0, -1, 0], [1, 0, 0], [0, -1, 0],
        [0, -1, 0], [0, 0, 1], [0, 0, 1], [-1, 0, 0], [0, -1, 0], [0, -1, 0],
        [0, 0, 1], [0, 0, 1]], dtype=np.float64),
    bone_lengths=np.full(21, np.nan),
    face_joints=(11, 16, 5, 8),
    leg_joints=(17, 18),
    foot_right=(14, 15),
    foot_left=(19, 20),
    fps=12.5,
    feet_threshold=0.05,
)

SKELETONS = {"humanml3d": HUMANML3D, "t2m": HUMANML3D, "kit": KIT}


def get_skeleton(name: str) -> Skeleton:
  try:
    return SKELETONS[name]
  except KeyError:
    raise ValueError(f"unknown skeleton {name!r}; expected one of {sorted(SKELETONS)}") from None


def skeleton_for_feature_dim(dim: int) -> Skeleton:
  for skel in (HUMANML3D, KIT):
    if skel.feature_dim == dim:
      return skel
  raise ValueError(f"no known skeleton has {dim}-dim features (HumanML3D 263, KIT 251)")
