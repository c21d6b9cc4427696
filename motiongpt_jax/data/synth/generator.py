"""Procedural motions in HumanML3D's folder layout.

A motion is a short program of one to three action segments (``walks forward, then turns
left and waves``). Each segment's clip comes from its action family; the clips are joined
with cross-fades, grounded by the rig (feet planted while they carry the weight), turned
into HumanML3D features, and captioned three ways.

Splits hold out parameter combinations: a motion's split is a hash of its discrete
signature (families and their discrete parameters, in order), so a test motion is never
a re-draw of a training combination.

With ``mirror=True`` every motion ``NAME`` also gets its mirror image ``MNAME``, made the way
HumanML3D made its ``M`` files (raw_pose_processing.ipynb): the raw joints mirrored (x
negated, left and right joints swapped), then the whole feature pipeline
(``joints_to_features``) run again; its captions are the original's with the words "left"
and "right" swapped, and the split files list both names. A pair shares one split, drawn
from the pair's signature (the smaller of the motion's and its mirror's), so the test
split still holds out combinations on both sides of the mirror; the splits of a mirrored
folder therefore differ from those of a plain folder of the same seed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from motiongpt_jax.data.synth import actions, captions
from motiongpt_jax.data.synth.clip import Clip, concat
from motiongpt_jax.motion import rig
from motiongpt_jax.motion.features import features_to_joints, joints_to_features, mirror_joints
from motiongpt_jax.motion.skeleton import HUMANML3D

MIN_LEN, MAX_LEN = 40, 196  # feature rows, as HumanML3D's loaders require
SPLIT_FRACTIONS = {"test": 0.15, "val": 0.05}  # the rest is train
SEGMENT_COUNTS = (1, 1, 1, 2, 2, 3)  # one segment half of the time


@dataclasses.dataclass
class Segment:
  family: str
  params: dict
  start: int = 0  # frame range in the motion
  end: int = 0


@dataclasses.dataclass
class SynthMotion:
  name: str
  features: np.ndarray       # [T, 263]
  joints: np.ndarray         # [T, 22, 3], recovered from the features as HumanML3D does
  captions: list[str]
  segments: list[Segment]
  anchor: np.ndarray         # [T+1] supporting foot per generated frame (0/1, -1 airborne)
  raw_joints: np.ndarray     # [T+1, 22, 3] the generated motion before featurisation
  split: str

  @property
  def signature(self) -> tuple:
    return signature_of(self.segments)


def signature_of(segments: list[Segment]) -> tuple:
  return tuple(actions.FAMILIES[s.family].signature(s.params) for s in segments)


_SIDE_SWAP = {"left": "right", "right": "left", "Left": "Right", "Right": "Left",
              "LEFT": "RIGHT", "RIGHT": "LEFT"}
_SIDE_WORD = re.compile(r"\b(left|right|Left|Right|LEFT|RIGHT)\b")


def swap_sides(text: str) -> str:
  """The words "left" and "right" swapped (case kept): the caption of a mirror image."""
  return _SIDE_WORD.sub(lambda m: _SIDE_SWAP[m.group(1)], text)


def mirrored_signature(signature: tuple) -> tuple:
  """The signature of a motion's mirror image: every "left" and "right" value swapped."""
  return tuple(tuple(_SIDE_SWAP.get(v, v) if isinstance(v, str) else v for v in seg)
               for seg in signature)


def pair_split_of(signature: tuple) -> str:
  """The split shared by a motion and its mirror image (the smaller signature's)."""
  return split_of(min(signature, mirrored_signature(signature), key=repr))


def split_of(signature: tuple) -> str:
  digest = hashlib.sha256(repr(signature).encode()).digest()
  u = int.from_bytes(digest[:8], "little") / 2.0**64
  if u < SPLIT_FRACTIONS["test"]:
    return "test"
  if u < SPLIT_FRACTIONS["test"] + SPLIT_FRACTIONS["val"]:
    return "val"
  return "train"


def sample_segments(rng: np.random.Generator) -> list[Segment]:
  n = SEGMENT_COUNTS[int(rng.integers(len(SEGMENT_COUNTS)))]
  names = sorted(actions.FAMILIES)
  segments = []
  for _ in range(n):
    name = names[int(rng.integers(len(names)))]
    segments.append(Segment(name, actions.FAMILIES[name].sample(rng)))
  return segments


def animate(clip: Clip, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """World joints [T, 22, 3] of a clip, starting at a random place and heading."""
  heading = rng.uniform(-np.pi, np.pi) + np.cumsum(clip.yaw_rate)
  c, s = np.cos(heading), np.sin(heading)
  side, fwd = clip.drift[:, 0], clip.drift[:, 1]
  drift = np.stack([c * side + s * fwd, -s * side + c * fwd], axis=-1)
  joints, anchor = rig.ground_motion(clip.angles, heading, clip.lift, drift)
  joints += np.array([rng.uniform(-2, 2), 0.0, rng.uniform(-2, 2)])
  return joints, anchor


def build_motion(name: str, seed: int, index: int, max_tries: int = 20) -> SynthMotion:
  """The motion number ``index`` of the data set drawn with ``seed`` (deterministic)."""
  rng = np.random.default_rng([seed, index])
  for _ in range(max_tries):
    segments = sample_segments(rng)
    clips = []
    for seg in segments:
      clips.append(actions.FAMILIES[seg.family].build(seg.params, rng))
    lead, tail = int(rng.integers(0, 10)), int(rng.integers(0, 10))
    frames = sum(len(c) for c in clips) + lead + tail + 1
    if frames - 1 > MAX_LEN:
      continue
    if frames - 1 < MIN_LEN:
      tail += MIN_LEN - (frames - 1)
    parts = [actions.idle(lead + 6)] + clips + [actions.idle(tail + 6)]
    clip = concat(parts, blend=6)
    start = lead
    for seg, c in zip(segments, clips):
      seg.start, seg.end = start, start + len(c)
      start += len(c) - 6
    joints, anchor = animate(clip, rng)
    features = joints_to_features(joints)
    if not MIN_LEN <= len(features) <= MAX_LEN:
      continue
    phrases = [actions.FAMILIES[s.family].phrases(s.params) for s in segments]
    caps = captions.captions_for(phrases, rng)
    recovered = features_to_joints(features.astype(np.float64)).astype(np.float32)
    return SynthMotion(name, features, recovered, caps, segments, anchor,
                       joints.astype(np.float32), split_of(signature_of(segments)))
  raise RuntimeError(f"could not draw a motion of {MIN_LEN}-{MAX_LEN} frames for {name}")


def mirror_motion(motion: SynthMotion) -> SynthMotion:
  """The mirror image ``M<name>`` of a motion, as HumanML3D made its ``M`` files: the raw
  joints mirrored, the features recomputed by the full pipeline, the captions' left and
  right swapped (the time-tagged span lines too: ``caption_lines``)."""
  raw = mirror_joints(motion.raw_joints.astype(np.float64))
  features = joints_to_features(raw)
  recovered = features_to_joints(features.astype(np.float64)).astype(np.float32)
  return dataclasses.replace(
      motion, name="M" + motion.name, features=features, joints=recovered,
      captions=[swap_sides(c) for c in motion.captions], raw_joints=raw.astype(np.float32),
      anchor=np.where(motion.anchor >= 0, 1 - motion.anchor, motion.anchor))


def caption_lines(motion: SynthMotion) -> list[str]:
  """HumanML3D ``caption#tokens#from#to`` lines: the whole motion, then each segment (for a
  mirror image ``M<name>``: the original's lines with left and right swapped)."""
  mirrored = motion.name.startswith("M")
  name = motion.name[1:] if mirrored else motion.name
  lines = [f"{c}#{captions.pos_tokens(c)}#0.0#0.0" for c in motion.captions]
  if len(motion.segments) > 1:
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], 'little'))
    fps = HUMANML3D.fps
    for seg in motion.segments:
      if seg.end - seg.start < MIN_LEN + 2:
        continue  # HumanML3D's loaders drop annotated spans shorter than 40 frames
      phrase = actions.FAMILIES[seg.family].phrases(seg.params)[0]
      subject = captions.SUBJECTS[int(rng.integers(len(captions.SUBJECTS)))]
      cap = f"{subject} {phrase}."
      line = f"{cap}#{captions.pos_tokens(cap)}#{seg.start / fps:.2f}#{seg.end / fps:.2f}"
      lines.append(swap_sides(line) if mirrored else line)
  return lines


@dataclasses.dataclass
class _Moments:
  """Count, mean and sum of squared deviations per feature (float64), mergeable in a fixed
  order (Chan et al.), so the statistics never need every motion in memory."""
  n: int = 0
  mean: np.ndarray | None = None
  m2: np.ndarray | None = None

  def add(self, data: np.ndarray) -> None:
    data = np.asarray(data, np.float64)
    if not len(data):
      return
    n, mean = len(data), data.mean(0)
    m2 = ((data - mean) ** 2).sum(0)
    if self.n == 0:
      self.n, self.mean, self.m2 = n, mean, m2
      return
    total = self.n + n
    delta = mean - self.mean
    self.mean = self.mean + delta * (n / total)
    self.m2 = self.m2 + m2 + delta ** 2 * (self.n * n / total)
    self.n = total

  def merge(self, other: "_Moments") -> None:
    if other.n == 0:
      return
    if self.n == 0:
      self.n, self.mean, self.m2 = other.n, other.mean, other.m2
      return
    total = self.n + other.n
    delta = other.mean - self.mean
    self.mean = self.mean + delta * (other.n / total)
    self.m2 = self.m2 + other.m2 + delta ** 2 * (self.n * other.n / total)
    self.n = total


def _write_motion(out_dir: str, m: SynthMotion) -> None:
  np.save(os.path.join(out_dir, "new_joint_vecs", m.name + ".npy"), m.features)
  np.save(os.path.join(out_dir, "new_joints", m.name + ".npy"), m.joints)
  with open(os.path.join(out_dir, "texts", m.name + ".txt"), "w") as f:
    f.write("\n".join(caption_lines(m)) + "\n")


def _build_chunk(args):
  """Builds and writes motions ``indices`` (and their mirror images); returns what the
  folder's summary needs: (name, split, frames, families) per motion, and the moments of
  the chunk's training features."""
  seed, indices, out_dir, mirror = args
  rows, moments = [], _Moments()
  for i in indices:
    m = build_motion(f"{i:06d}", seed, i)
    motions = [m]
    if mirror:
      m.split = pair_split_of(m.signature)
      motions.append(mirror_motion(m))
    for x in motions:
      _write_motion(out_dir, x)
      rows.append((x.name, m.split, len(x.features), [s.family for s in x.segments]))
      if m.split == "train":
        moments.add(x.features)
  return rows, moments


def mean_std(features, num_joints: int = 22) -> tuple[np.ndarray, np.ndarray]:
  """HumanML3D's normalisation: per-dim mean; std averaged within each feature group.
  ``features``: a list of [T, D] arrays, or a ``_Moments`` of them."""
  moments = features
  if not isinstance(features, _Moments):
    moments = _Moments()
    moments.add(np.concatenate(features, axis=0))
  mean, std = moments.mean, np.sqrt(moments.m2 / moments.n)
  j = num_joints
  bounds = [0, 1, 3, 4, 4 + (j - 1) * 3, 4 + (j - 1) * 9, 4 + (j - 1) * 9 + j * 3, len(mean)]
  for lo, hi in zip(bounds[:-1], bounds[1:]):
    std[lo:hi] = std[lo:hi].mean()
  return mean.astype(np.float32), std.astype(np.float32)


CHUNK = 25  # motions per job: fixed, so the statistics merge in the same order for any workers


def synthesize(out_dir: str, num: int, seed: int = 0, workers: int | None = None,
               progress=None, mirror: bool = False) -> dict:
  """Writes ``num`` procedural motions to ``out_dir`` in HumanML3D's layout (and, with
  ``mirror``, their ``M`` mirror images: ``2 * num`` motions)."""
  start_time = time.time()
  if isinstance(num, bool) or not isinstance(num, int) or num < 3:
    raise ValueError(f"--num {num}: expected at least 3 motions (one per split)")
  if workers is not None and workers < 1:
    raise ValueError(f"--workers {workers}: expected at least 1")
  workers = workers or min(os.cpu_count() or 1, 8)
  for sub in ("new_joint_vecs", "new_joints", "texts"):
    os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
  jobs = [(seed, list(range(i, min(i + CHUNK, num))), out_dir, mirror)
          for i in range(0, num, CHUNK)]
  splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
  lengths, families, names = [], {}, []
  moments = _Moments()
  done = 0
  results = map(_build_chunk, jobs) if workers == 1 else None
  with ProcessPoolExecutor(max_workers=workers) if workers > 1 else _NoPool() as pool:
    results = results or pool.map(_build_chunk, jobs)
    for rows, chunk_moments in results:
      for name, split, frames, fams in rows:
        splits[split].append(name)
        names.append(name)
        lengths.append(frames)
        if not name.startswith("M"):
          for fam in fams:
            families[fam] = families.get(fam, 0) + 1
      moments.merge(chunk_moments)
      done += sum(1 for r in rows if not r[0].startswith("M"))
      if progress:
        progress(done, num)
  if moments.n == 0:
    raise ValueError(f"no training motions among {num}: draw more motions")
  mean, std = mean_std(moments)
  np.save(os.path.join(out_dir, "Mean.npy"), mean)
  np.save(os.path.join(out_dir, "Std.npy"), std)
  for split, split_names in splits.items():
    with open(os.path.join(out_dir, f"{split}.txt"), "w") as f:
      f.write("".join(n + "\n" for n in sorted(split_names)))
  with open(os.path.join(out_dir, "all.txt"), "w") as f:
    f.write("".join(n + "\n" for n in sorted(names)))
  summary = dict(num=num, seed=seed, mirror=mirror, motions=len(names),
                 splits={k: len(v) for k, v in splits.items()},
                 min_len=int(min(lengths)), max_len=int(max(lengths)),
                 mean_len=float(np.mean(lengths)), families=dict(sorted(families.items())),
                 seconds=time.time() - start_time)
  _write_readme(out_dir, summary)
  return summary


class _NoPool:
  """In-process stand-in for the pool (``workers=1``)."""

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    return False


def _write_readme(out_dir: str, s: dict):
  fams = "\n".join(f"- {k}: {v} segments" for k, v in s["families"].items())
  mirror_flag = " --mirror" if s.get("mirror") else ""
  mirror_text = ("""
- Every motion `NAME` has its mirror image `MNAME` (as HumanML3D's `M` files): the raw joints
  mirrored (x negated, left/right joints swapped) and featurised again, captions with
  "left" and "right" swapped, both names in the same split ({s['motions']} motions in all).
""" if s.get("mirror") else "")
  text = f"""# Procedural HumanML3D-format motion data set

Made by `motiongpt data synth --num {s['num']} --seed {s['seed']}{mirror_flag}` (motiongpt-jax). Same
seed, same files. Layout and conventions are HumanML3D's:
{mirror_text}
- `new_joint_vecs/NAME.npy`: 263-dim features [T, 263], T in {s['min_len']}..{s['max_len']}
  (mean {s['mean_len']:.1f}), 20 fps.
- `new_joints/NAME.npy`: joints [T, 22, 3] recovered from the features (recover_from_ric).
- `texts/NAME.txt`: `caption#word/POS tokens#from#to`; three captions of the whole motion
  (from = to = 0.0) and, for multi-action motions, one per action span (seconds).
- `Mean.npy`, `Std.npy`: normalisation over the train split (std averaged per feature
  group as in HumanML3D).
- `train.txt`, `val.txt`, `test.txt`: {s['splits']['train']} / {s['splits']['val']} /
  {s['splits']['test']} motions. Splits hold out parameter combinations: a motion's split
  is a hash of its actions and their discrete parameters.

Motions are built on the 22-joint SMPL chain with HumanML3D's target bone lengths:
{len(s['families'])} action families with parameters said in the captions (side, count,
direction, speed, height, ...), composed into sequences of up to three actions. Feet stay
planted while they carry the weight; flights (jumps, runs) follow gravity.

Segments per family:
{fams}
"""
  with open(os.path.join(out_dir, "README.md"), "w") as f:
    f.write(text)
