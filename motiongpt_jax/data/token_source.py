"""Examples for the SeqIO tasks: captions of a data folder joined with its motion tokens.

One example per (motion, whole-motion caption) of a split, in file order, with the codes
of the motion and of its mirror image (``motiongpt tokenize``'s format). Mirrored codes are
offered only where no caption is involved: a mirror image's caption would need its left and
right swapped. In a folder with HumanML3D's ``M`` files, where a motion's mirror image is a
motion of the same split (with its own swapped captions), ``motion_mirrored`` is empty: the
mirror image is already an example of its own, and offering it twice would double it.

Reading is linear in the number of motions: one pass over the split file, one small .npy
and one caption file per motion, kept in memory (``lru_cache``) for the process.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import tensorflow as tf

from motiongpt_jax.data import humanml3d
from motiongpt_jax import protocol, runs
from motiongpt_jax.vqvae import token_files

SPLITS = protocol.SEQIO_SPLITS


@functools.lru_cache(maxsize=16)
def load_examples(data_dir: str, tokens_dir: str, split: str) -> tuple[dict, ...]:
  if split not in SPLITS:
    raise ValueError(f"split {split!r}: expected one of {sorted(SPLITS)}")
  if not os.path.exists(os.path.join(tokens_dir, runs.TOKENS)):
    raise humanml3d.DataError(f"{tokens_dir}: no tokens.json; make the tokens with "
                              f"`motiongpt tokenize --out {tokens_dir}`")
  fps_per_token = runs.read_tokens_meta(tokens_dir)["frames_per_token"]
  fps = humanml3d.SPECS[humanml3d.detect_kind(data_dir)].fps
  examples = []
  names = humanml3d.read_split_names(data_dir, SPLITS[split])
  listed = set(names)
  for name in names:
    codes, mirrored = token_files.read_token_rows(tokens_dir, name, check_folder=False)
    if token_files.mirror_name(name) in listed:
      mirrored = mirrored[:0]  # the mirror image is an example of its own
    for caption in humanml3d.read_captions(os.path.join(data_dir, "texts", name + ".txt")):
      if caption.start == 0.0 and caption.end == 0.0:
        examples.append({"name": name, "caption": caption.text, "motion": codes,
                         "motion_mirrored": mirrored,
                         "frames": np.int32(len(codes) * fps_per_token),
                         "seconds": np.float32(len(codes) * fps_per_token / fps)})
  if not examples:
    raise humanml3d.DataError(f"{data_dir}: split {split!r} has no captioned motions")
  return tuple(examples)


def mirrored_count(data_dir: str, tokens_dir: str, split: str) -> int:
  """Examples of a split that offer a mirror image (a non-empty ``motion_mirrored``)."""
  return sum(1 for e in load_examples(data_dir, tokens_dir, split) if len(e["motion_mirrored"]))


# Examples each task's shuffle buffer holds (seqio's default is 1,000): the source is already
# shuffled whole (``dataset_fn``), as the cache is.
SHUFFLE_BUFFER = 128


def dataset_fn(data_dir: str, tokens_dir: str):
  """A seqio.FunctionDataSource function over ``load_examples``."""

  def fn(split: str, shuffle_files: bool = False, seed: int | None = None):
    examples = load_examples(data_dir, tokens_dir, split)

    def ragged(key):
      rows = [e[key] for e in examples]
      return tf.RaggedTensor.from_row_lengths(
          np.concatenate(rows).astype(np.int32), [len(r) for r in rows])

    table = {"name": [e["name"] for e in examples],
             "caption": [e["caption"] for e in examples],
             "motion": ragged("motion"), "motion_mirrored": ragged("motion_mirrored"),
             "frames": np.array([e["frames"] for e in examples], np.int32),
             "seconds": np.array([e["seconds"] for e in examples], np.float32)}
    ds = tf.data.Dataset.from_tensor_slices(table)
    if shuffle_files and seed is not None:
      # The whole table, reshuffled every epoch, before any preprocessing (as the cache is
      # written globally shuffled): the tasks' own buffers (``SHUFFLE_BUFFER``) stay small,
      # so a mixture of 18 tasks starts without preprocessing 18 x 1,000 examples first.
      # Seeded, so every host draws the same order and its ``ds.shard`` share is disjoint.
      ds = ds.shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)
    return ds

  return fn
