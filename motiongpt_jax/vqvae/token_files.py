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
"""

from __future__ import annotations

import os
from collections import defaultdict

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


def tokenize_folder(tokenizer, folder: str, out: str, vqvae_dir: str = "", batch_size: int = 32,
                    progress=None) -> dict:
  """Writes the token files of every motion listed in the folder's split files."""
  kind = humanml3d.detect_kind(folder)
  spec = humanml3d.SPECS[kind]
  if spec.feature_dim != tokenizer.feature_dim:
    raise humanml3d.DataError(
        f"{folder} holds {spec.feature_dim}-dim features but the VQ-VAE in {vqvae_dir} "
        f"was trained on {tokenizer.feature_dim}-dim features")
  mean, std = humanml3d.load_mean_std(folder, spec)
  os.makedirs(out, exist_ok=True)
  names = all_motion_names(folder)
  by_length = defaultdict(list)  # batch motions of equal token length together
  skipped = []
  for name in names:
    motion = humanml3d.load_motion(folder, name, spec)
    if len(motion) < tokenizer.unit + 1:
      skipped.append(name)
      continue
    normalised = ((motion - mean) / std).astype(np.float32)
    pair = (normalised, mirror_features(normalised, mean, std))
    by_length[len(motion) // tokenizer.unit].append((name, pair))
  done = 0
  for length, items in sorted(by_length.items()):
    for i in range(0, len(items), batch_size):
      chunk = items[i:i + batch_size]
      x = np.stack([m[:length * tokenizer.unit] for _, pair in chunk for m in pair])
      codes = tokenizer.encode(x).reshape(len(chunk), 2, length)
      for (name, _), c in zip(chunk, codes):
        tmp = os.path.join(out, f"{name}.{os.getpid()}.tmp.npy")
        np.save(tmp, c.astype(np.int16))
        os.replace(tmp, os.path.join(out, f"{name}.npy"))
      done += len(chunk)
      if progress:
        progress(done, len(names) - len(skipped))
  meta = {"format": FORMAT, "num_codes": tokenizer.num_codes,
          "frames_per_token": tokenizer.unit, "rows": list(ROWS),
          "vqvae_step": getattr(tokenizer, "step", None), "count": done, "skipped": skipped}
  return runs.write_tokens_meta(out, meta, vqvae_dir, folder)


def read_tokens(folder: str, name: str, mirrored: bool = False) -> np.ndarray:
  """The codes of one motion (int32 [N]) from a tokens folder, with clear errors."""
  if not os.path.exists(os.path.join(folder, runs.TOKENS)):
    raise humanml3d.DataError(f"{folder} is not a tokens folder: tokens.json is missing "
                              f"(make one with `motiongpt tokenize`)")
  path = os.path.join(folder, f"{name}.npy")
  if not os.path.exists(path):
    raise humanml3d.DataError(f"{path}: no tokens for motion {name!r}")
  codes = np.load(path)
  if codes.ndim != 2 or codes.shape[0] != len(ROWS):
    raise humanml3d.DataError(f"{path}: expected an array [2, N] (original, mirrored), "
                              f"got shape {codes.shape}")
  return codes[1 if mirrored else 0].astype(np.int32)
