"""Motion capture in BVH files -> a HumanML3D-format folder (``motiongpt data from-bvh``).

Each file is read (``motion.bvh.read_bvh``), resampled to 20 fps (local joint rotations
interpolated by slerp, translations linearly, then forward kinematics), mapped onto the
22-joint SMPL chain by joint name, put in metres with y up, cut into clips of at most
``clip_seconds`` and turned into features by the data set's own pipeline
(``features.joints_to_features``: retarget to HumanML3D's skeleton, floor, facing, ...).

* Skeletons: named mappings for LAFAN1 (Hips, LeftUpLeg, LeftLeg, LeftFoot, LeftToe, Spine,
  Spine1, Spine2, Neck, Head, LeftShoulder, LeftArm, LeftForeArm, LeftHand, ...), Mixamo
  (the same names with LeftToeBase, any ``mixamorig:``-style prefix), CMU in its ASF names
  (hip, lfemur, ltibia, lfoot, ltoes, upperback, thorax, lowerneck, upperneck, head,
  lclavicle, lhumerus, lradius, lwrist, ...) and CMU as the common BVH conversion names it
  (Hips, LHipJoint, LeftUpLeg, ..., LowerBack, Spine, Spine1, Neck1, Head, ...). Names match
  without regard to case or a ``namespace:`` prefix. A mapping entry may name several
  joints, whose mean position is used: where a skeleton has fewer spine joints than SMPL,
  the missing ones are placed between their neighbours. A JSON file ``{smpl_joint:
  name or [names]}`` maps any other skeleton. No match: an error naming the closest
  mapping and the joints it lacks.
* Units: the leg length (hip to knee to ankle) in file units tells metres (0.4..1.4),
  centimetres (40..140, LAFAN1) or millimetres (400..1400); anything else (CMU's BVH
  conversions use about 1/0.056 m) is scaled so the leg is HumanML3D's (0.83 m) and said so.
  ``scale`` (metres per file unit) overrides. The features do not depend on the scale
  (retargeting rescales), only the reports do.
* Axes: y up, as BVH files of LAFAN1, CMU, Mixamo and Blender's y-up export have it;
  ``up='z'`` turns z-up files (x, y, z) into (x, z, -y). The facing needs no setting: the
  feature pipeline turns frame 0 to face +z.
* Clips: a recording longer than ``clip_seconds`` (9.8 s = 196 feature rows, the loaders'
  limit) is cut into equal consecutive clips ``STEM_000``, ``STEM_001``, ...; recordings
  shorter than 2 s (40 rows) are skipped. ``clip_seconds=0`` keeps recordings whole.
* Captions: ``captions`` JSON ``{name: caption or [captions]}`` keyed by clip name or file
  stem, or a text file beside a BVH file (``walk.bvh`` + ``walk.txt``) with one caption per
  line, plain or HumanML3D's ``caption#tokens#from#to`` (a time span, in seconds of the
  recording, goes to the clips it overlaps by 2 s or more, as a span caption). A clip
  without a caption gets ``a person moves.`` and is counted in the summary.
* Splits: per recording, in time order, the last 15% of its clips are test, the 5% before
  them val, the rest train (neighbouring clips of one take share a split boundary only
  once). Mean/Std: HumanML3D's normalisation over the train clips, or copied from another
  folder (``mean_std_from``) to use a model trained there.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import time

import numpy as np
from scipy.spatial.transform import Rotation

from motiongpt_jax.data import humanml3d
from motiongpt_jax.data.synth import captions as synth_captions
from motiongpt_jax.data.synth.generator import mean_std
from motiongpt_jax.motion import bvh as B
from motiongpt_jax.motion import features as F
from motiongpt_jax.motion.skeleton import HUMANML3D, SMPL_JOINT_NAMES

FPS = HUMANML3D.fps
TARGET_LEG = float(HUMANML3D.bone_lengths[[5, 8]].sum())  # knee + shin of the target (m)
DEFAULT_CAPTION = "a person moves."
SPLIT_FRACTIONS = {"test": 0.15, "val": 0.05}


def _sided(spine: dict, left: dict) -> dict:
  """A full mapping from the spine entries and the left side's (right = Left->Right)."""
  out = dict(spine)
  for smpl, name in left.items():
    out[smpl] = name
    out["right_" + smpl[len("left_"):]] = _to_right(name)
  return out


def _to_right(name):
  if isinstance(name, tuple):
    return tuple(_to_right(n) for n in name)
  for a, b in (("Left", "Right"), ("left", "right"), ("L", "R"), ("l", "r")):
    if name.startswith(a):
      return b + name[len(a):]
  raise ValueError(f"no right-side name for {name!r}")


MAPPINGS: dict[str, dict[str, str | tuple[str, ...]]] = {
    "lafan1": _sided(
        dict(pelvis="Hips", spine1="Spine", spine2="Spine1", spine3="Spine2", neck="Neck",
             head="Head"),
        dict(left_hip="LeftUpLeg", left_knee="LeftLeg", left_ankle="LeftFoot",
             left_foot="LeftToe", left_collar="LeftShoulder", left_shoulder="LeftArm",
             left_elbow="LeftForeArm", left_wrist="LeftHand")),
    "mixamo": _sided(
        dict(pelvis="Hips", spine1="Spine", spine2="Spine1", spine3="Spine2", neck="Neck",
             head="Head"),
        dict(left_hip="LeftUpLeg", left_knee="LeftLeg", left_ankle="LeftFoot",
             left_foot="LeftToeBase", left_collar="LeftShoulder", left_shoulder="LeftArm",
             left_elbow="LeftForeArm", left_wrist="LeftHand")),
    # CMU in the ASF bone names: a joint sits where its bone starts.
    "cmu": _sided(
        dict(pelvis="hip", spine1="upperback", spine2="thorax", spine3=("thorax", "lowerneck"),
             neck="upperneck", head="head"),
        dict(left_hip="lfemur", left_knee="ltibia", left_ankle="lfoot", left_foot="ltoes",
             left_collar="lclavicle", left_shoulder="lhumerus", left_elbow="lradius",
             left_wrist="lwrist")),
    # CMU as its common BVH conversion names it (neck and shoulders start at Spine1).
    "cmu-bvh": _sided(
        dict(pelvis="Hips", spine1="Spine", spine2=("Spine", "Spine1"),
             spine3=("Spine", "Spine1", "Spine1"), neck="Neck1", head="Head"),
        dict(left_hip="LeftUpLeg", left_knee="LeftLeg", left_ankle="LeftFoot",
             left_foot="LeftToeBase", left_collar="LeftShoulder", left_shoulder="LeftArm",
             left_elbow="LeftForeArm", left_wrist="LeftHand")),
}


def normalize_name(name: str) -> str:
  """Joint names compare without case or a ``namespace:`` prefix (mixamorig:Hips = hips)."""
  return name.rsplit(":", 1)[-1].strip().lower()


def _entry_names(entry) -> tuple[str, ...]:
  return (entry,) if isinstance(entry, str) else tuple(entry)


def load_mapping(spec: str) -> tuple[str, dict]:
  """(name, mapping) of a known mapping's name or a JSON file {smpl_joint: name(s)}."""
  if spec in MAPPINGS:
    return spec, MAPPINGS[spec]
  if not spec.endswith(".json"):
    raise ValueError(f"--mapping {spec}: expected one of {', '.join(MAPPINGS)} or a .json file")
  try:
    with open(spec) as f:
      data = json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise ValueError(f"{spec}: not a readable JSON mapping ({e})") from None
  if not isinstance(data, dict):
    raise ValueError(f"{spec}: expected an object {{smpl_joint: joint name or [names]}}")
  missing = [n for n in SMPL_JOINT_NAMES if n not in data]
  unknown = [k for k in data if k not in SMPL_JOINT_NAMES]
  if missing or unknown:
    raise ValueError(f"{spec}: " + "; ".join(
        ([f"missing SMPL joints {missing}"] if missing else [])
        + ([f"unknown keys {unknown} (SMPL joints: {', '.join(SMPL_JOINT_NAMES)})"]
           if unknown else [])))
  mapping = {}
  for k, v in data.items():
    names = [v] if isinstance(v, str) else v
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
      raise ValueError(f"{spec}: {k}: expected a joint name or a list of names, got {v!r}")
    mapping[k] = names[0] if len(names) == 1 else tuple(names)
  return os.path.basename(spec), mapping


def missing_joints(mapping: dict, names: list[str]) -> list[str]:
  have = {normalize_name(n) for n in names}
  out = []
  for entry in mapping.values():
    out += [n for n in _entry_names(entry) if normalize_name(n) not in have and n not in out]
  return out


def detect_mapping(names: list[str], where: str) -> tuple[str, dict]:
  """The first known mapping whose joints the file has; else an error naming the closest
  mapping and the joints it lacks."""
  lacking = {key: missing_joints(m, names) for key, m in MAPPINGS.items()}
  for key, miss in lacking.items():
    if not miss:
      return key, MAPPINGS[key]
  key = min(lacking, key=lambda k: len(lacking[k]))
  raise ValueError(
      f"{where}: the joints match no known skeleton ({', '.join(MAPPINGS)}); the closest, "
      f"{key}, lacks {', '.join(lacking[key])}. Give --mapping FILE.json "
      f"({{smpl_joint: joint name}} for the 22 SMPL joints) for this skeleton")


def _slerp(q0: np.ndarray, q1: np.ndarray, w: np.ndarray) -> np.ndarray:
  dot = (q0 * q1).sum(-1, keepdims=True)
  q1 = np.where(dot < 0, -q1, q1)
  dot = np.abs(dot).clip(max=1.0)
  theta = np.arccos(dot)
  sin = np.sin(theta)
  small = sin < 1e-6
  safe = np.where(small, 1.0, sin)
  w0 = np.where(small, 1 - w, np.sin((1 - w) * theta) / safe)
  w1 = np.where(small, w, np.sin(w * theta) / safe)
  q = w0 * q0 + w1 * q1
  return q / np.linalg.norm(q, axis=-1, keepdims=True)


def resampled_positions(bvh: B.Bvh, fps: float = FPS) -> np.ndarray:
  """World positions [T', J, 3] of all joints at ``fps`` (slerp of local rotations, linear
  translations, then forward kinematics); frame 0 is the file's frame 0."""
  rots, trans = bvh.local_transforms()
  t_len, j_len = rots.shape[:2]
  duration = (t_len - 1) * bvh.frame_time
  n_out = int(np.floor(duration * fps + 1e-6)) + 1
  if abs(bvh.fps - fps) > 1e-6 * fps:
    src = np.arange(n_out) / fps / bvh.frame_time
    i0 = np.clip(np.floor(src).astype(int), 0, t_len - 1)
    i1 = np.minimum(i0 + 1, t_len - 1)
    w = (src - i0)[:, None, None]
    quats = Rotation.from_matrix(rots.reshape(-1, 3, 3)).as_quat().reshape(t_len, j_len, 4)
    q = _slerp(quats[i0], quats[i1], w)
    rots = Rotation.from_quat(q.reshape(-1, 4)).as_matrix().reshape(n_out, j_len, 3, 3)
    trans = (1 - w) * trans[i0] + w * trans[i1]
  return B.forward_kinematics(bvh.parents, rots, trans)[0]


def map_joints(positions: np.ndarray, names: list[str], mapping: dict,
               where: str) -> np.ndarray:
  """SMPL joints [T, 22, 3] from a skeleton's positions [T, J, 3] by the mapping."""
  index = {normalize_name(n): i for i, n in enumerate(names)}
  miss = missing_joints(mapping, names)
  if miss:
    raise ValueError(f"{where}: the mapping names joints the file lacks: {', '.join(miss)}")
  out = np.zeros((len(positions), len(SMPL_JOINT_NAMES), 3))
  for j, smpl in enumerate(SMPL_JOINT_NAMES):
    cols = [index[normalize_name(n)] for n in _entry_names(mapping[smpl])]
    out[:, j] = positions[:, cols].mean(axis=1)
  return out


def leg_length(joints: np.ndarray) -> float:
  """Median hip-knee-ankle length over both legs and all frames, in the joints' unit."""
  legs = [(1, 4, 7), (2, 5, 8)]
  lengths = [np.linalg.norm(joints[:, k] - joints[:, h], axis=-1)
             + np.linalg.norm(joints[:, a] - joints[:, k], axis=-1) for h, k, a in legs]
  return float(np.median(np.concatenate(lengths)))


def detect_scale(leg: float) -> tuple[float, str]:
  """(metres per file unit, unit name) from the leg length in file units."""
  for lo, scale, unit in ((0.4, 1.0, "m"), (40.0, 0.01, "cm"), (400.0, 0.001, "mm")):
    if lo <= leg <= lo * 3.5:
      return scale, unit
  if not leg > 0:
    raise ValueError(f"leg length {leg}: the hips, knees and ankles coincide")
  return TARGET_LEG / leg, f"unknown unit (leg {leg:.3g}): scaled to a {TARGET_LEG:.2f} m leg"


def check_bones(joints: np.ndarray, mapping: dict, where: str) -> None:
  """Refuses mapped bones of (near) zero length, which the rotation solver cannot aim."""
  parents = HUMANML3D.parents
  lengths = np.median(np.linalg.norm(joints[:, 1:] - joints[:, parents[1:]], axis=-1), axis=0)
  leg = leg_length(joints)
  for j in np.flatnonzero(lengths < 0.01 * leg) + 1:
    child, parent = SMPL_JOINT_NAMES[j], SMPL_JOINT_NAMES[parents[j]]
    raise ValueError(f"{where}: SMPL bone {parent} -> {child} has zero length (mapped to "
                     f"{mapping[parent]!r} -> {mapping[child]!r}, which coincide); map one "
                     f"of them to another joint (--mapping FILE.json)")


def to_y_up(joints: np.ndarray, up: str) -> np.ndarray:
  if up == "y":
    return joints
  if up == "z":
    return np.stack([joints[..., 0], joints[..., 2], -joints[..., 1]], axis=-1)
  raise ValueError(f"--up {up}: expected y or z")


def bvh_to_joints(path: str, mapping: str | None = None, scale: float | None = None,
                  up: str = "y", fps: float = FPS) -> tuple[np.ndarray, dict]:
  """SMPL-chain joints [T, 22, 3] in metres, y up, at ``fps`` of one BVH file, and facts
  about the conversion (mapping, unit, source frames and fps)."""
  motion = B.read_bvh(path)
  if mapping is None:
    key, table = detect_mapping(motion.names, path)
  else:
    key, table = load_mapping(mapping)
  positions = resampled_positions(motion, fps)
  joints = map_joints(positions, motion.names, table, path)
  check_bones(joints, table, path)
  leg = leg_length(joints)
  if scale is None:
    scale, unit = detect_scale(leg)
  else:
    if not scale > 0:
      raise ValueError(f"--scale {scale}: expected metres per file unit > 0")
    unit = f"given scale {scale:g} m per unit"
  joints = to_y_up(joints * scale, up)
  info = dict(source=path, mapping=key, unit=unit, scale=scale, up=up,
              source_fps=round(motion.fps, 2), source_frames=motion.num_frames,
              frames=len(joints), leg_m=round(leg * scale, 4))
  return joints, info


# ------------------------------------------------------------------------------ captions
def caption_line(text: str) -> str:
  """HumanML3D's ``caption#tokens#0.0#0.0`` for plain text (lexicon tags, else OTHER)."""
  text = " ".join(text.replace("#", " ").split())
  words = re.findall(r"[A-Za-z]+", text.replace("-", ""))
  tags = []
  for w in words:
    entry = synth_captions.LEXICON.get(w.lower())
    tags.append(f"{entry[0]}/{entry[1]}" if entry else f"{w.lower()}/OTHER")
  return f"{text}#{' '.join(tags)}#0.0#0.0"


def _parse_side_file(path: str) -> list[tuple[str, float, float]]:
  """(HumanML3D line without times, start s, end s) of a caption text file."""
  out = []
  with open(path, encoding="utf-8") as f:
    for lineno, line in enumerate(f, 1):
      if not line.strip():
        continue
      if "#" in line:
        cap = humanml3d.parse_caption_line(line, path, lineno)
        out.append((f"{cap.text}#{' '.join(cap.tokens)}", cap.start, cap.end))
      else:
        out.append((caption_line(line.strip()).rsplit("#", 2)[0], 0.0, 0.0))
  return out


def clip_captions(entries: list[tuple[str, float, float]], start_s: float,
                  end_s: float) -> list[str]:
  """Caption lines of the clip [start_s, end_s) of a recording (see the module docstring)."""
  lines = []
  for text, a, b in entries:
    if a == 0.0 and b == 0.0:
      lines.append(f"{text}#0.0#0.0")
      continue
    lo, hi = max(a, start_s), min(b, end_s)
    if hi - lo >= 2.0 - 1e-9:
      if lo <= start_s + 1e-9 and hi >= end_s - 1e-9:
        lines.append(f"{text}#0.0#0.0")
      else:
        lines.append(f"{text}#{lo - start_s:.2f}#{hi - start_s:.2f}")
  return lines


def _json_captions(path: str | None) -> dict[str, list[str]]:
  if not path:
    return {}
  try:
    with open(path, encoding="utf-8") as f:
      data = json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise ValueError(f"{path}: not a readable JSON captions file ({e})") from None
  if not isinstance(data, dict):
    raise ValueError(f"{path}: expected an object {{clip or file name: caption or [captions]}}")
  out = {}
  for k, v in data.items():
    caps = [v] if isinstance(v, str) else v
    if not isinstance(caps, list) or not all(isinstance(c, str) and c.strip() for c in caps):
      raise ValueError(f"{path}: {k!r}: expected a caption or a list of captions")
    out[k] = caps
  return out


# --------------------------------------------------------------------------- conversion
def find_bvh_files(inputs: list[str]) -> list[str]:
  files = []
  for item in inputs:
    if os.path.isdir(item):
      found = sorted(glob.glob(os.path.join(item, "**", "*.bvh"), recursive=True)
                     + glob.glob(os.path.join(item, "**", "*.BVH"), recursive=True))
      if not found:
        raise ValueError(f"{item}: no .bvh files in this folder")
      files += found
    elif os.path.exists(item):
      files.append(item)
    else:
      raise FileNotFoundError(f"{item}: no such file or folder")
  return files


def _stem(path: str, taken: set[str]) -> str:
  stem = re.sub(r"[^A-Za-z0-9_-]+", "_", os.path.splitext(os.path.basename(path))[0]) or "clip"
  name, k = stem, 1
  while name in taken:
    name, k = f"{stem}_{k}", k + 1
  taken.add(name)
  return name


def clip_bounds(frames: int, clip_seconds: float, fps: float = FPS) -> list[tuple[int, int]]:
  """[start, end) frame ranges of equal consecutive clips of at most clip_seconds * fps
  feature rows (clip_seconds + one frame of joints); neighbours share their boundary frame."""
  if clip_seconds <= 0 or frames - 1 <= round(clip_seconds * fps):
    return [(0, frames)]
  rows = round(clip_seconds * fps)
  n = int(np.ceil((frames - 1) / rows))
  cuts = np.round(np.linspace(0, frames - 1, n + 1)).astype(int)
  return [(int(a), int(b) + 1) for a, b in zip(cuts[:-1], cuts[1:])]


def split_clips(count: int) -> list[str]:
  """Split of each clip of one recording, in time order (see the module docstring)."""
  n_test = int(round(SPLIT_FRACTIONS["test"] * count)) if count >= 3 else 0
  n_val = int(round(SPLIT_FRACTIONS["val"] * count)) if count >= 3 else 0
  n_val = max(n_val, 1) if count >= 10 else n_val
  n_train = count - n_test - n_val
  return ["train"] * n_train + ["val"] * n_val + ["test"] * n_test


def convert(inputs: list[str], out_dir: str, captions: str | None = None,
            mapping: str | None = None, scale: float | None = None, up: str = "y",
            clip_seconds: float = 9.8, mean_std_from: str | None = None,
            progress=None) -> dict:
  """Writes the BVH files ``inputs`` (files or folders) to ``out_dir`` in HumanML3D's
  layout; returns a summary (see the module docstring for the rules)."""
  start_time = time.time()
  if clip_seconds < 0 or (0 < clip_seconds < 2.0):
    raise ValueError(f"--clip-seconds {clip_seconds}: expected 0 (keep whole) or >= 2")
  files = find_bvh_files(inputs)
  json_caps = _json_captions(captions)
  stems = set()
  for path in files:
    _stem(path, stems)
  unknown = [k for k in json_caps if k not in stems
             and not (re.fullmatch(r"(.+)_\d{3}", k) and k[:-4] in stems)]
  if unknown:
    raise ValueError(f"{captions}: captions for names that are neither a file stem nor a "
                     f"clip of one (STEM_000, ...): {', '.join(unknown[:5])}")
  spec = humanml3d.SPECS["humanml3d"]
  if mean_std_from:
    humanml3d.load_mean_std(mean_std_from, spec)  # refuses a missing or broken pair early
  for sub in ("new_joint_vecs", "new_joints", "texts"):
    os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
  splits: dict[str, list[str]] = {s: [] for s in humanml3d.SPLITS}
  train_features, sources, skipped, lengths = [], {}, [], []
  taken: set[str] = set()
  uncaptioned = frames_in = frames_out = 0
  used_json: set[str] = set()
  for i, path in enumerate(files):
    joints, info = bvh_to_joints(path, mapping, scale, up)
    frames_in += info["source_frames"]
    stem = _stem(path, taken)
    side = os.path.splitext(path)[0] + ".txt"
    entries = _parse_side_file(side) if os.path.exists(side) else []
    if stem in json_caps:
      used_json.add(stem)
      entries = [(caption_line(c).rsplit("#", 2)[0], 0.0, 0.0) for c in json_caps[stem]] + entries
    bounds = [(a, b) for a, b in clip_bounds(len(joints), clip_seconds)
              if b - a - 1 >= spec.min_length]
    if not bounds:
      skipped.append(f"{path}: {len(joints)} frames at {FPS:g} fps, shorter than "
                     f"{spec.min_length + 1} (2 s)")
      continue
    for k, ((a, b), split) in enumerate(zip(bounds, split_clips(len(bounds)))):
      name = f"{stem}_{k:03d}"
      clip_joints = joints[a:b]
      feats = F.joints_to_features(clip_joints)
      lines = clip_captions(entries, a / FPS, (b - 1) / FPS)
      if name in json_caps:
        used_json.add(name)
        lines = [caption_line(c) for c in json_caps[name]] + lines
      if not [ln for ln in lines if ln.endswith("#0.0#0.0")]:
        uncaptioned += 1
        lines.insert(0, caption_line(DEFAULT_CAPTION))
      np.save(os.path.join(out_dir, "new_joint_vecs", name + ".npy"), feats)
      np.save(os.path.join(out_dir, "new_joints", name + ".npy"),
              F.features_to_joints(feats.astype(np.float64)).astype(np.float32))
      with open(os.path.join(out_dir, "texts", name + ".txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
      splits[split].append(name)
      lengths.append(len(feats))
      frames_out += len(feats)
      if split == "train":
        train_features.append(feats)
      sources[name] = dict(info, clip_frames=[a, b], clip_seconds=[round(a / FPS, 3),
                                                                  round((b - 1) / FPS, 3)])
    if progress:
      progress(i + 1, len(files))
  if not splits["train"]:
    raise ValueError(f"{', '.join(inputs)}: no clip of 2 s or more to train on "
                     f"({len(skipped)} recording(s) too short)")
  unused = sorted(set(json_caps) - used_json)
  if unused:
    raise ValueError(f"{captions}: captions for clips that the conversion did not make "
                     f"(too short, or beyond the last clip): {', '.join(unused[:5])}")
  if mean_std_from:  # already checked by load_mean_std
    shutil.copyfile(os.path.join(mean_std_from, "Mean.npy"), os.path.join(out_dir, "Mean.npy"))
    shutil.copyfile(os.path.join(mean_std_from, "Std.npy"), os.path.join(out_dir, "Std.npy"))
  else:
    mean, std = mean_std(train_features)
    std = np.where(std > 1e-6, std, 1.0).astype(np.float32)  # a constant group: leave as is
    np.save(os.path.join(out_dir, "Mean.npy"), mean)
    np.save(os.path.join(out_dir, "Std.npy"), std)
  for split, names in splits.items():
    with open(os.path.join(out_dir, f"{split}.txt"), "w") as f:
      f.write("".join(n + "\n" for n in names))
  with open(os.path.join(out_dir, "all.txt"), "w") as f:
    f.write("".join(n + "\n" for n in sources))
  with open(os.path.join(out_dir, "sources.json"), "w") as f:
    json.dump(sources, f, indent=1)
  summary = dict(files=len(files), clips=len(sources), frames_in=frames_in,
                 frames_out=frames_out, splits={k: len(v) for k, v in splits.items()},
                 min_len=int(min(lengths)), max_len=int(max(lengths)),
                 units=sorted({s["unit"] for s in sources.values()}),
                 mappings=sorted({s["mapping"] for s in sources.values()}),
                 source_fps=sorted({s["source_fps"] for s in sources.values()}),
                 uncaptioned=uncaptioned, skipped=skipped,
                 seconds=time.time() - start_time)
  _write_readme(out_dir, summary)
  return summary


def _write_readme(out_dir: str, s: dict):
  text = f"""# HumanML3D-format motions converted from BVH

Made by `motiongpt data from-bvh` (motiongpt-jax) from {s['files']} BVH file(s)
({s['frames_in']} frames at {', '.join(f'{f:g}' for f in s['source_fps'])} fps, skeleton mapping
{', '.join(s['mappings'])}, unit {'; '.join(s['units'])}): {s['clips']} clips of
{s['min_len']}..{s['max_len']} feature rows at 20 fps, {s['frames_out']} rows in all.

- `new_joint_vecs/NAME.npy`: 263-dim features, `new_joints/NAME.npy`: joints recovered from
  them; `texts/NAME.txt`: captions ({s['uncaptioned']} clip(s) without one carry
  "{DEFAULT_CAPTION}").
- `train.txt`, `val.txt`, `test.txt`: {s['splits']['train']} / {s['splits']['val']} /
  {s['splits']['test']} clips (per recording, in time order: the last 15% test, 5% val).
- `sources.json`: each clip's file, frame range (20 fps), mapping and unit.

Mind the licence of the source recordings: it applies to these files too.
"""
  with open(os.path.join(out_dir, "README.md"), "w") as f:
    f.write(text)
