"""Reading and validating HumanML3D / KIT-ML folders.

A folder has ``new_joint_vecs/NAME.npy`` (features), ``texts/NAME.txt`` (lines
``caption#word/POS tokens#from#to``), ``Mean.npy``, ``Std.npy`` and split files
``train.txt``/``val.txt``/``test.txt`` naming the motions; ``new_joints`` is optional.

The loading rules are those of the text-to-motion loaders that HumanML3D, MotionGPT and
most papers share: motions shorter than the minimum length (40 frames HumanML3D, 24 KIT)
or of 200 frames and more are skipped; a caption with a time span (``from``/``to`` in
seconds, not both 0) becomes its own sample, cut from the motion at the data set's frame
rate, subject to the same length rule; features are normalised with Mean/Std.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from typing import Iterator

import numpy as np

from motiongpt_jax.motion.skeleton import HUMANML3D, KIT, Skeleton

SPLITS = ("train", "val", "test")


class DataError(ValueError):
  """A data folder is not usable; the message names the file and the fault."""


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  skeleton: Skeleton
  min_length: int
  max_length: int  # exclusive upper bound on frames, as in the reference loaders

  @property
  def feature_dim(self) -> int:
    return self.skeleton.feature_dim

  @property
  def fps(self) -> float:
    return self.skeleton.fps


SPECS = {
    "humanml3d": DatasetSpec(HUMANML3D, min_length=40, max_length=200),
    "kit": DatasetSpec(KIT, min_length=24, max_length=200),
}


@dataclasses.dataclass(frozen=True)
class Caption:
  text: str
  tokens: tuple[str, ...]  # "word/POS"
  start: float  # seconds; 0 and 0 = the whole motion
  end: float


@dataclasses.dataclass
class Sample:
  name: str            # the motion's file name, or "<k>_<name>" for a caption's span
  motion: np.ndarray   # [T, D] features, normalised unless asked otherwise
  captions: list[Caption]

  @property
  def length(self) -> int:
    return len(self.motion)


def detect_kind(folder: str) -> str:
  """'humanml3d' or 'kit', from the feature dimension of Mean.npy."""
  mean_path = os.path.join(folder, "Mean.npy")
  if not os.path.exists(mean_path):
    raise DataError(f"{mean_path}: missing (every data folder needs Mean.npy and Std.npy)")
  try:
    shape = np.load(mean_path, mmap_mode="r", allow_pickle=False).shape
  except Exception as e:  # a truncated, pickled or non-npy file
    raise DataError(f"{mean_path}: unreadable .npy file ({e})") from None
  if len(shape) != 1:
    raise DataError(f"{mean_path}: shape {shape}, expected one value per feature "
                    f"(263 for HumanML3D, 251 for KIT-ML)")
  dim = shape[0]
  for kind, spec in SPECS.items():
    if spec.feature_dim == dim:
      return kind
  raise DataError(f"{mean_path}: {dim} features; expected 263 (HumanML3D) or 251 (KIT-ML)")


def parse_caption_line(line: str, path: str, lineno: int) -> Caption:
  parts = line.rstrip("\n").split("#")
  if len(parts) != 4:
    raise DataError(f"{path}:{lineno}: expected 'caption#tokens#from#to' (4 fields separated "
                    f"by '#'), got {len(parts)} field(s): {line.strip()[:80]!r}")
  text, tokens, start, end = parts
  if not text.strip():
    raise DataError(f"{path}:{lineno}: empty caption")
  try:
    f_tag, to_tag = float(start), float(end)
  except ValueError:
    raise DataError(f"{path}:{lineno}: time tags must be numbers (seconds), got "
                    f"{start!r} and {end!r}") from None
  # The reference treats NaN tags as 0 (whole motion).
  f_tag = 0.0 if math.isnan(f_tag) else f_tag
  to_tag = 0.0 if math.isnan(to_tag) else to_tag
  return Caption(text.strip(), tuple(tokens.split()), f_tag, to_tag)


def read_captions(path: str) -> list[Caption]:
  if not os.path.exists(path):
    raise DataError(f"{path}: missing caption file")
  try:
    with open(path, encoding="utf-8") as f:
      lines = f.readlines()
  except UnicodeDecodeError as e:
    raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
  caps = [parse_caption_line(line, path, i + 1) for i, line in enumerate(lines) if line.strip()]
  if not caps:
    raise DataError(f"{path}: no captions")
  return caps


def read_split_names(folder: str, split: str) -> list[str]:
  path = os.path.join(folder, f"{split}.txt")
  if not os.path.exists(path):
    raise DataError(f"{path}: missing split file (expected one of "
                    f"{', '.join(s + '.txt' for s in SPLITS)})")
  with open(path) as f:
    names = [line.strip() for line in f if line.strip()]
  for lineno, name in enumerate(names, 1):
    check_motion_name(name, f"{path} line {lineno}")
  return names


def check_motion_name(name: str, where: str) -> None:
  """A motion name must be a plain file stem: files are read and written as
  ``<folder>/<name>.npy``, so a name may never lead out of its folder."""
  if (not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name
      or os.path.isabs(name) or name.startswith("~")):
    raise DataError(f"{where}: motion name {name!r} is not a plain file name (no path "
                    f"separators, '..', absolute paths or '~')")


def _are(n: int) -> str:
  return "is" if n == 1 else "are"


def check_mean_std(mean, std, feature_dim: int, where) -> tuple[np.ndarray, np.ndarray]:
  """(mean, std) as float32 after checking them; raises DataError naming the file and fault.

  Both must be 1-D of ``feature_dim`` finite values and std positive everywhere (a zero
  std turns normalised features, and every metric computed from them, into inf or NaN).
  ``where`` is (mean path, std path), or one label for both (e.g. a checkpoint).
  """
  mean_where, std_where = (where, where) if isinstance(where, str) else where
  out = []
  for what, arr, label in (("mean", mean, mean_where), ("std", std, std_where)):
    arr = np.asarray(arr)
    if arr.shape != (feature_dim,):
      raise DataError(f"{label}: shape {arr.shape}, expected ({feature_dim},): one {what} "
                      f"per feature")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
      raise DataError(f"{label}: {what} of dtype {arr.dtype}, expected real numbers")
    with np.errstate(over="ignore"):  # beyond float32: inf, refused below
      arr = arr.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(arr))
    if len(bad):
      raise DataError(f"{label}: {arr.size} values, {len(bad)} {_are(len(bad))} NaN or inf "
                      f"(first at index {bad[0]}); {what} must be finite")
    out.append(arr)
  bad = np.flatnonzero(out[1] <= 0)
  if len(bad):
    raise DataError(f"{std_where}: {out[1].size} values, {len(bad)} {_are(len(bad))} <= 0 "
                    f"(first at index {bad[0]}); std must be positive")
  return out[0], out[1]


def load_mean_std_files(mean_path: str, std_path: str,
                        feature_dim: int) -> tuple[np.ndarray, np.ndarray]:
  """Two .npy files of normalisation statistics, checked by ``check_mean_std``."""
  arrays = []
  for path in (mean_path, std_path):
    if not os.path.exists(path):
      raise DataError(f"{path}: missing (the normalisation statistics need both "
                      f"{os.path.basename(mean_path)} and {os.path.basename(std_path)})")
    try:
      arrays.append(np.load(path, allow_pickle=False))
    except Exception as e:  # a truncated, pickled or non-npy file
      raise DataError(f"{path}: unreadable .npy file ({e})") from None
  return check_mean_std(arrays[0], arrays[1], feature_dim, (mean_path, std_path))


def load_mean_std(folder: str, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray]:
  """Mean.npy and Std.npy of a data folder, checked by ``check_mean_std``."""
  for name in ("Mean.npy", "Std.npy"):
    path = os.path.join(folder, name)
    if not os.path.exists(path):
      raise DataError(f"{path}: missing (every data folder needs Mean.npy and Std.npy)")
  return load_mean_std_files(os.path.join(folder, "Mean.npy"), os.path.join(folder, "Std.npy"),
                             spec.feature_dim)


# The header numpy writes for a C-ordered 2-D array of a plain numeric type.
_NPY_2D_HEADER = re.compile(
    rb"\{'descr': '(<[fiu][1248])', 'fortran_order': False, 'shape': \((\d+), (\d+)\), \} *\n")


def _npy_layout(head: bytes) -> tuple[np.dtype, tuple[int, int], int] | None:
  """(dtype, shape, data offset) of a .npy file of a plain 2-D array from its first bytes,
  or None for anything else (left to ``np.load``, which also words its errors)."""
  if head[:6] != b"\x93NUMPY" or len(head) < 10:
    return None
  if head[6] == 1:
    size, start = int.from_bytes(head[8:10], "little"), 10
  elif head[6] in (2, 3):
    size, start = int.from_bytes(head[8:12], "little"), 12
  else:
    return None
  match = _NPY_2D_HEADER.fullmatch(head[start:start + size])
  if match is None:
    return None
  return np.dtype(match[1].decode()), (int(match[2]), int(match[3])), start + size


def read_npy(path: str) -> np.ndarray:
  """``np.load(path)`` of a .npy file; plain 2-D arrays (motion files) without numpy's
  general header parsing, which is most of the cost of reading a small file."""
  with open(path, "rb") as f:
    layout = _npy_layout(f.read(512))
    if layout is not None:
      dtype, shape, offset = layout
      out = np.empty(shape, dtype)
      f.seek(offset)
      if f.readinto(out.reshape(-1).view(np.uint8)) == out.nbytes and not f.read(1):
        return out
  return np.load(path)  # anything else, truncated files included: numpy's reading and errors


def npy_shape(path: str) -> tuple[int, ...]:
  """The shape of the array in a .npy file, from its header (the data are not read); a
  file too short for that shape is refused, as ``np.load`` refuses it."""
  with open(path, "rb") as f:
    head = f.read(512)
    size = os.fstat(f.fileno()).st_size
  layout = _npy_layout(head)
  if layout is not None:
    dtype, shape, offset = layout
    if size >= offset + shape[0] * shape[1] * dtype.itemsize:
      return shape
  return tuple(np.load(path, mmap_mode="r").shape)


def _motion_path(folder: str, name: str) -> str:
  path = os.path.join(folder, "new_joint_vecs", name + ".npy")
  if not os.path.exists(path):
    raise DataError(f"{path}: missing motion file (named in a split file)")
  return path


def motion_shape(folder: str, name: str, spec: DatasetSpec) -> tuple[int, int]:
  """The shape of a motion file, from its header, checked as ``load_motion`` checks it
  (without reading the data, so without the NaN/inf check)."""
  path = _motion_path(folder, name)
  try:
    shape = npy_shape(path)
  except Exception as e:  # a truncated or non-npy file
    raise DataError(f"{path}: unreadable .npy file ({e})") from None
  if len(shape) != 2 or shape[1] != spec.feature_dim:
    raise DataError(f"{path}: features of shape {shape}, expected "
                    f"[frames, {spec.feature_dim}]")
  return shape


def load_motion(folder: str, name: str, spec: DatasetSpec) -> np.ndarray:
  path = _motion_path(folder, name)
  try:
    motion = read_npy(path)
  except Exception as e:  # a truncated or non-npy file
    raise DataError(f"{path}: unreadable .npy file ({e})") from None
  if motion.ndim != 2 or motion.shape[1] != spec.feature_dim:
    raise DataError(f"{path}: features of shape {motion.shape}, expected "
                    f"[frames, {spec.feature_dim}]")
  if not np.isfinite(motion).all():
    rows = np.flatnonzero(~np.isfinite(motion).all(axis=1))[:5].tolist()
    raise DataError(f"{path}: NaN or inf in frames {rows}")
  return motion.astype(np.float32)


def iter_samples(folder: str, split: str, kind: str | None = None, normalize: bool = True,
                 min_length: int | None = None, max_length: int | None = None,
                 include_spans: bool = True) -> Iterator[Sample]:
  """Yields the samples of a split under the loading rules of the module docstring
  (without the time-tagged caption spans if ``include_spans`` is False)."""
  kind = kind or detect_kind(folder)
  spec = SPECS[kind]
  lo = spec.min_length if min_length is None else min_length
  hi = spec.max_length if max_length is None else max_length
  mean, std = load_mean_std(folder, spec)
  for name in read_split_names(folder, split):
    motion = load_motion(folder, name, spec)
    captions = read_captions(os.path.join(folder, "texts", name + ".txt"))
    if normalize:
      motion = (motion - mean) / std
    whole = [c for c in captions if c.start == 0.0 and c.end == 0.0]
    if whole and lo <= len(motion) < hi:
      yield Sample(name, motion, whole)
    if not include_spans:
      continue
    for k, cap in enumerate(c for c in captions if not (c.start == 0.0 and c.end == 0.0)):
      part = motion[int(cap.start * spec.fps):int(cap.end * spec.fps)]
      if lo <= len(part) < hi:
        yield Sample(f"{k}_{name}", part, [cap])


@dataclasses.dataclass(frozen=True, eq=False)
class StoredSample:
  """A sample whose motion stays on disk (``index_samples``): ``motion`` reads the file
  and gives the same array ``iter_samples`` would have held, normalised if the sample has
  a mean and std. Slicing (``sample[a:b]``) reads and normalises only those frames, with
  the same values; ``len(sample)`` is its frame count. So a training set is a list of
  small records, not every motion in memory."""

  name: str
  path: str
  start: int  # frame range of the file
  stop: int
  captions: list[Caption]
  feature_dim: int
  mean: np.ndarray | None = None
  std: np.ndarray | None = None

  @property
  def length(self) -> int:
    return self.stop - self.start

  def __len__(self) -> int:
    return self.stop - self.start

  def _frames(self, start: int, stop: int) -> np.ndarray:
    try:
      motion = read_npy(self.path)
    except Exception as e:  # removed or rewritten since it was indexed
      raise DataError(f"{self.path}: unreadable .npy file ({e})") from None
    if motion.ndim != 2 or motion.shape[1] != self.feature_dim or len(motion) < self.stop:
      raise DataError(f"{self.path}: features of shape {motion.shape}, expected at least "
                      f"[{self.stop}, {self.feature_dim}] (changed since it was read)")
    part = motion[start:stop].astype(np.float32)
    if self.mean is not None:
      part = (part - self.mean) / self.std
    return part

  @property
  def motion(self) -> np.ndarray:
    return self._frames(self.start, self.stop)

  def __getitem__(self, index):
    if isinstance(index, slice) and index.step in (None, 1):
      rows = range(self.start, self.stop)[index]
      return self._frames(rows.start, rows.stop)
    return self.motion[index]


def motion_frames(folder: str, name: str) -> int:
  """Frames of a motion file, from its .npy header (the data are not read)."""
  path = _motion_path(folder, name)
  try:
    return int(npy_shape(path)[0])
  except Exception as e:  # a truncated or non-npy file
    raise DataError(f"{path}: unreadable .npy file ({e})") from None


def index_samples(folder: str, split: str, kind: str | None = None, normalize: bool = True,
                  min_length: int | None = None, max_length: int | None = None,
                  include_spans: bool = True, validate: bool = True) -> list[StoredSample]:
  """The samples ``iter_samples`` yields, in the same order and under the same rules, as
  ``StoredSample`` records (motions left on disk). With ``validate`` every motion is read
  once and checked as ``load_motion`` does (one motion in memory at a time); without it
  (for a folder ``check_folder`` has just passed) only the .npy headers are read."""
  kind = kind or detect_kind(folder)
  spec = SPECS[kind]
  lo = spec.min_length if min_length is None else min_length
  hi = spec.max_length if max_length is None else max_length
  mean, std = load_mean_std(folder, spec) if normalize else (None, None)
  if not normalize:
    load_mean_std(folder, spec)  # as iter_samples: a folder without them is refused
  out = []
  for name in read_split_names(folder, split):
    path = os.path.join(folder, "new_joint_vecs", name + ".npy")
    frames = (len(load_motion(folder, name, spec)) if validate
              else motion_shape(folder, name, spec)[0])
    captions = read_captions(os.path.join(folder, "texts", name + ".txt"))
    whole = [c for c in captions if c.start == 0.0 and c.end == 0.0]
    if whole and lo <= frames < hi:
      out.append(StoredSample(name, path, 0, frames, whole, spec.feature_dim, mean, std))
    if not include_spans:
      continue
    for k, cap in enumerate(c for c in captions if not (c.start == 0.0 and c.end == 0.0)):
      rows = range(frames)[int(cap.start * spec.fps):int(cap.end * spec.fps)]
      if lo <= len(rows) < hi:
        out.append(StoredSample(f"{k}_{name}", path, rows.start, rows.stop, [cap],
                                spec.feature_dim, mean, std))
  return out


def sample_count(frames: int, captions: list[Caption], spec: DatasetSpec) -> int:
  """How many samples ``iter_samples`` makes of a motion of ``frames`` frames (its rules,
  without reading the motion again)."""
  lo, hi = spec.min_length, spec.max_length
  whole = any(c.start == 0.0 and c.end == 0.0 for c in captions)
  count = int(whole and lo <= frames < hi)
  for cap in captions:
    if not (cap.start == 0.0 and cap.end == 0.0):
      part = len(range(frames)[int(cap.start * spec.fps):int(cap.end * spec.fps)])
      count += lo <= part < hi
  return count


def read_split(folder: str, split: str, **kwargs) -> list[Sample]:
  return list(iter_samples(folder, split, **kwargs))


@dataclasses.dataclass
class CheckReport:
  folder: str
  kind: str
  split_sizes: dict[str, int]
  samples: dict[str, int]     # loadable samples per split (after the length rules)
  lengths: dict[str, float]   # min / mean / max frames over listed motions
  captions: int
  warnings: list[str]

  def summary(self) -> str:
    lines = [f"{self.folder}: {self.kind} folder, OK",
             "  motions per split: " + ", ".join(f"{k} {v}" for k, v in self.split_sizes.items()),
             "  samples per split (after length rules and caption spans): "
             + ", ".join(f"{k} {v}" for k, v in self.samples.items()),
             f"  frames: min {self.lengths['min']:.0f}, mean {self.lengths['mean']:.1f}, "
             f"max {self.lengths['max']:.0f}",
             f"  captions: {self.captions}"]
    if self.warnings:
      lines.append(f"  warnings ({len(self.warnings)}):")
      lines += [f"    {w}" for w in self.warnings[:20]]
      if len(self.warnings) > 20:
        lines.append(f"    ... and {len(self.warnings) - 20} more")
    return "\n".join(lines)


def check_folder(folder: str, strict: bool = False, read_motions: bool = True) -> CheckReport:
  """Validates a data folder; raises DataError on the first fault.

  Motions too short or too long for the loaders are warnings (the real HumanML3D has
  some; the loaders skip them), errors when ``strict``. Without ``read_motions`` the
  motion files are checked from their headers only (present, readable, of the right
  shape; not for NaN/inf): for a caller that reads every motion next through
  ``load_motion``, which checks the values (``motiongpt tokenize``), so no file is read
  twice.
  """
  if not os.path.isdir(folder):
    raise DataError(f"{folder}: not a directory")
  for sub in ("new_joint_vecs", "texts"):
    if not os.path.isdir(os.path.join(folder, sub)):
      raise DataError(f"{os.path.join(folder, sub)}: missing folder")
  kind = detect_kind(folder)
  spec = SPECS[kind]
  load_mean_std(folder, spec)
  sizes, samples, all_lengths, warnings = {}, {}, [], []
  n_captions = 0
  for split in SPLITS:  # one read of each file: linear in the number of motions
    names = read_split_names(folder, split)
    sizes[split] = len(names)
    samples[split] = 0
    for name in names:
      frames = (len(load_motion(folder, name, spec)) if read_motions
                else motion_shape(folder, name, spec)[0])
      captions = read_captions(os.path.join(folder, "texts", name + ".txt"))
      n_captions += len(captions)
      samples[split] += sample_count(frames, captions, spec)
      all_lengths.append(frames)
      if not spec.min_length <= frames < spec.max_length:
        msg = (f"{os.path.join(folder, 'new_joint_vecs', name + '.npy')}: {frames} frames, "
               f"{'too short' if frames < spec.min_length else 'too long'} "
               f"(loaders keep {spec.min_length}..{spec.max_length - 1})")
        if strict:
          raise DataError(msg)
        warnings.append(msg)
  if not all_lengths:
    raise DataError(f"{folder}: the split files name no motions")
  if not samples["train"]:
    raise DataError(f"{folder}: train.txt names no usable training motion (with a caption "
                    f"and {spec.min_length}..{spec.max_length - 1} frames)")
  lengths = dict(min=min(all_lengths), mean=float(np.mean(all_lengths)), max=max(all_lengths))
  return CheckReport(folder, kind, sizes, samples, lengths, n_captions, warnings)
