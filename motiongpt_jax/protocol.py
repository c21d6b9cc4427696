"""The paper's rules, in one place: every task, inference call and evaluation table uses these.

Sources (facts carried over, code our own): MotionGPT (arXiv 2306.14795, section 4 and
appendix; OpenMotionLab/MotionGPT ``mGPT/data/humanml/dataset_m2m.py`` and ``mgpt_lm.py``),
HumanML3D (20 fps, splits train/val/test) and Guo et al.'s evaluation loader
(EricGuo5513/text-to-motion ``data/dataset.py``: lengths in units of 4 frames, one unit
shorter one time in three, a random crop).

- A motion token covers ``FRAMES_PER_TOKEN`` frames (the VQ-VAE's two stride-2 stages).
- Motion ids: codes ``0..K-1``, then start ``K``, end ``K + 1`` and mask ``K + 2``, written
  ``<motion_id_k>``; a motion in text is ``<motion_id_K> codes... <motion_id_K+1>``.
- Prediction: the model sees the first 20% of a motion's tokens (at least one) and writes
  the rest.
- In-between: the first and last quarter of the tokens (``floor(n / 4)`` each) are given,
  the middle half is masked and written by the model.
"""

from __future__ import annotations

import re

import numpy as np

FPS = 20
FRAMES_PER_TOKEN = 4

# Data-folder split files, and the SeqIO split names that read them.
SPLITS = ("train", "val", "test")
SEQIO_SPLITS = {"train": "train", "validation": "val", "test": "test"}

PREDICTION_KEEP = 0.2

MOTION_ID = re.compile(r"<motion_id_(\d+)>")


# ------------------------------------------------------------------------------ motion ids
def start_code(num_codes: int) -> int:
  return num_codes


def end_code(num_codes: int) -> int:
  return num_codes + 1


def mask_code(num_codes: int) -> int:
  return num_codes + 2


def motion_string(codes, num_codes: int) -> str:
  """``<motion_id_K><motion_id_c0>...<motion_id_K+1>``: codes wrapped in start and end."""
  inner = [int(c) for c in codes]
  return "".join(f"<motion_id_{c}>" for c in [num_codes, *inner, num_codes + 1])


def codes_from_text(text: str, num_codes: int) -> list[int]:
  """The codes of decoded text: those after the first start token (if any) and before the
  next end token (if any); start, end and mask ids are not codes."""
  ids = [int(m) for m in MOTION_ID.findall(text)]
  if num_codes in ids:
    ids = ids[ids.index(num_codes) + 1:]
  if num_codes + 1 in ids:
    ids = ids[:ids.index(num_codes + 1)]
  return [i for i in ids if i < num_codes]


# ---------------------------------------------------------------------- motion-to-motion
def prediction_keep(num_tokens: int) -> int:
  """Tokens the prediction task shows the model: the first 20%, at least one."""
  return max(int(np.floor(num_tokens * PREDICTION_KEEP)), 1)


def inbetween_bounds(num_tokens: int) -> tuple[int, int]:
  """(first masked token, first token after the masked middle): ``floor(n / 4)`` given at
  each end."""
  quarter = num_tokens // 4
  return quarter, num_tokens - quarter


def inbetween_masked(codes, num_codes: int) -> np.ndarray:
  """The codes with the middle half replaced by the mask code."""
  codes = np.asarray(codes)
  first, last = inbetween_bounds(len(codes))
  out = codes.copy()
  out[first:last] = mask_code(num_codes)
  return out


# ---------------------------------------------------------------------------- evaluation
def eval_crop(motion: np.ndarray, rng: np.random.Generator,
              max_frames: int | None = None) -> np.ndarray:
  """Guo et al.'s evaluation crop: a multiple of 4 frames (at most ``max_frames``), one unit
  shorter one time in three when more than two units are left, at a random offset."""
  frames = len(motion) if max_frames is None else min(len(motion), max_frames)
  units = frames // FRAMES_PER_TOKEN
  if units > 2 and rng.random() < 1 / 3:
    units -= 1
  length = units * FRAMES_PER_TOKEN
  start = rng.integers(0, len(motion) - length + 1)
  return motion[start:start + length]
