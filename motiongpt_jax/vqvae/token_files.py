"""Motion files -> token files: the input of the SeqIO tasks.

Format of a tokens folder (``motiongpt tokenize --out DIR``):

- ``DIR/<name>.npy``: int16 array [2, T // 4]. Row 0 holds the codes of motion ``<name>``
  (the whole file of ``new_joint_vecs``), row 1 those of its left/right mirror image, which the
  reference uses as augmentation. ``T`` is the motion's frame count; frames past the last
  multiple of 4 are not encoded. Caption spans (``#f_tag#to_tag``) are cut at token level:
  frames [f * fps, t * fps) -> tokens [floor(f * fps / 4), floor(t * fps / 4)).
- ``DIR/tokens.json``: ``format`` ("motiongpt-tokens-v1"), ``num_codes``,
  ``frames_per_token``, ``rows`` (["original", "mirrored"]), the VQ-VAE work directory (a
  path relative to DIR), its step and identity, the data folder (relative to DIR), and the
  number of files (``runs.write_tokens_meta``).

Mirror images: in a folder that holds HumanML3D's ``M`` files (``NAME`` and ``MNAME`` both
listed, as in the real HumanML3D or ``motiongpt data synth --mirror``), row 1 of ``NAME`` is
row 0 of ``MNAME`` and the other way round: an ``M`` file is never mirrored a second time,
and no mirror image is computed on the fly. Only a motion without its partner file (or one
whose partner has another length) is mirrored through the feature pipeline here.

Memory: motions are read one batch at a time (their lengths first, from the .npy headers),
so tokenizing is linear in time and needs memory for one batch plus the codes.
"""

from __future__ import annotations

import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from motiongpt_jax import runs
from motiongpt_jax.data import humanml3d
from motiongpt_jax.motion import features as F
from motiongpt_jax.motion.skeleton import skeleton_for_feature_dim

FORMAT = "motiongpt-tokens-v1"
ROWS = ("original", "mirrored")


def mirror_features(motion: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
  """Normalised features of the mirror image of a motion given as normalised features.

  Goes through joints (all T+1 frames, so the length is kept) and the exact feature pipeline,
  as HumanML3D made its ``M*`` files.
  """
  skel = skeleton_for_feature_dim(motion.shape[-1])
  joints = F.features_to_all_joints(motion * std + mean)
  mirrored = F.joints_to_features(F.mirror_joints(joints, skel), skel, do_retarget=False)
  return ((mirrored - mean) / std).astype(np.float32)


def all_motion_names(folder: str) -> list[str]:
  names = []
  for split in ("train", "val", "test"):
    if os.path.exists(os.path.join(folder, f"{split}.txt")):
      names.extend(humanml3d.read_split_names(folder, split))
  return sorted(set(names))


def mirror_name(name: str) -> str:
  """HumanML3D's name of a motion's mirror image: ``M`` added, or removed."""
  return name[1:] if name.startswith("M") else "M" + name


def motion_frames(folder: str, name: str) -> int:
  """Frames of a motion file, from its .npy header (the data are not read)."""
  return humanml3d.motion_frames(folder, name)


def normalisation(tokenizer, folder: str, spec: humanml3d.DatasetSpec
                  ) -> tuple[np.ndarray, np.ndarray]:
  """The mean and std the VQ-VAE's inputs are normalised with: its run's own
  ``data.stats`` (``mean.npy``/``std.npy``) where the run names them - an imported
  MotionGPT, whose VQ-VAE was trained on the T2M evaluator's statistics - otherwise the
  data folder's ``Mean.npy``/``Std.npy``."""
  config = getattr(tokenizer, "config", None)
  data = config.get("data") if config is not None else None
  stats = data.get("stats") if data is not None else None
  if stats:
    return humanml3d.load_mean_std_files(os.path.join(stats, "mean.npy"),
                                         os.path.join(stats, "std.npy"), spec.feature_dim)
  return humanml3d.load_mean_std(folder, spec)


def tokenize_folder(tokenizer, folder: str, out: str, vqvae_dir: str = "", batch_size: int = 64,
                    progress=None) -> dict:
  """Writes the token files of every motion listed in the folder's split files."""
  kind = humanml3d.detect_kind(folder)
  spec = humanml3d.SPECS[kind]
  if spec.feature_dim != tokenizer.feature_dim:
    raise humanml3d.DataError(
        f"{folder} holds {spec.feature_dim}-dim features but the VQ-VAE in {vqvae_dir} "
        f"was trained on {tokenizer.feature_dim}-dim features")
  mean, std = normalisation(tokenizer, folder, spec)
  os.makedirs(out, exist_ok=True)
  names = all_motion_names(folder)
  frames = {name: motion_frames(folder, name) for name in names}
  lengths = {name: t // tokenizer.unit for name, t in frames.items()}
  skipped = [n for n in names if frames[n] < tokenizer.unit + 1]
  kept = [n for n in names if frames[n] >= tokenizer.unit + 1]
  partner = {n: mirror_name(n) for n in kept
             if mirror_name(n) in lengths and frames[mirror_name(n)] >= tokenizer.unit + 1
             and lengths[mirror_name(n)] == lengths[n]}
  # One row to encode per motion (its own features), plus one for its mirror image when
  # no partner file holds it. Rows of equal token length are encoded together.
  by_length = defaultdict(list)
  for name in kept:
    by_length[lengths[name]].append((name, 0))
    if name not in partner:
      by_length[lengths[name]].append((name, 1))
  # One compilation per token length (a fixed batch shape), most of the time on a small
  # folder: compiled on two threads (XLA compiles without the GIL), shortest first, while
  # this thread reads and normalises the motions; a batch waits only for its own length.
  def compile_length(length):
    tokenizer.encode(np.zeros((batch_size, length * tokenizer.unit, spec.feature_dim),
                              np.float32))
  codes: dict[tuple[str, int], np.ndarray] = {}
  done, total = 0, len(kept)
  with ThreadPoolExecutor(max(min(os.cpu_count() or 1, 2), 1)) as pool:
    compiled = {length: pool.submit(compile_length, length) for length in sorted(by_length)}
    for length, items in sorted(by_length.items()):
      for i in range(0, len(items), batch_size):
        chunk = items[i:i + batch_size]
        x = np.zeros((batch_size, length * tokenizer.unit, spec.feature_dim), np.float32)
        loaded = {}
        for row, (name, which) in enumerate(chunk):
          if name not in loaded:
            motion = humanml3d.load_motion(folder, name, spec)  # checks shape and values
            loaded[name] = ((motion - mean) / std).astype(np.float32)
          m = loaded[name] if which == 0 else mirror_features(loaded[name], mean, std)
          x[row] = m[:length * tokenizer.unit]
        x[len(chunk):] = x[len(chunk) - 1]  # a fixed batch shape: one compilation per length
        compiled[length].result()
        encoded = tokenizer.encode(x)[:len(chunk)]
        for (name, which), c in zip(chunk, encoded):
          codes[(name, which)] = np.asarray(c, np.int16)
        done += sum(1 for _, which in chunk if which == 0)
        if progress:
          progress(done, total)
  for name in kept:
    pair = np.stack([codes[(name, 0)],
                     codes[(partner[name], 0)] if name in partner else codes[(name, 1)]])
    tmp = os.path.join(out, f"{name}.{os.getpid()}.tmp.npy")
    np.save(tmp, pair)
    os.replace(tmp, os.path.join(out, f"{name}.npy"))
  meta = {"format": FORMAT, "num_codes": tokenizer.num_codes,
          "frames_per_token": tokenizer.unit, "rows": list(ROWS),
          "vqvae_step": getattr(tokenizer, "step", None), "count": len(kept),
          "mirrored_from_files": len(partner), "skipped": skipped}
  return runs.write_tokens_meta(out, meta, vqvae_dir, folder)


def read_tokens(folder: str, name: str, mirrored: bool = False) -> np.ndarray:
  """The codes of one motion (int32 [N]) from a tokens folder, with clear errors."""
  return read_token_rows(folder, name)[1 if mirrored else 0]


def read_token_rows(folder: str, name: str, check_folder: bool = True) -> np.ndarray:
  """Both rows (original, mirrored) of one motion's codes, int32 [2, N]."""
  if check_folder and not os.path.exists(os.path.join(folder, runs.TOKENS)):
    raise humanml3d.DataError(f"{folder} is not a tokens folder: tokens.json is missing "
                              f"(make one with `motiongpt tokenize`)")
  path = os.path.join(folder, f"{name}.npy")
  if not os.path.exists(path):
    raise humanml3d.DataError(f"{path}: no tokens for motion {name!r}")
  codes = np.load(path)
  if codes.ndim != 2 or codes.shape[0] != len(ROWS):
    raise humanml3d.DataError(f"{path}: expected an array [2, N] (original, mirrored), "
                              f"got shape {codes.shape}")
  return codes.astype(np.int32)
