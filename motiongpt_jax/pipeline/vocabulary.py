"""The text vocabulary: a SentencePiece model of a data folder's captions (and, by default,
the instruction templates' wording)."""

from __future__ import annotations

import dataclasses
import os

from motiongpt_jax import vocab
from motiongpt_jax.data import humanml3d
from motiongpt_jax.pipeline.report import Reporter
from tasks.instructions import template_sentences


MIN_PIECES, MAX_PIECES = 64, 1_000_000


@dataclasses.dataclass
class VocabularyResult:
  path: str              # the .model file
  pieces: int            # SentencePiece pieces (without the 100 sentinels)
  sentences: int         # training sentences (captions and template phrasings)
  vocab_size: int        # ids of the motion-text vocabulary with ``motion_codes`` codes


def train_vocabulary(data: str, out: str, size: int = 1000, splits=("train",),
                     captions_only: bool = False, motion_codes: int = 512,
                     report: Reporter | None = None) -> VocabularyResult:
  """Trains ``out`` (a ``.model`` path, or a prefix) on the captions of ``splits``."""
  report = report or Reporter()
  if not MIN_PIECES <= size <= MAX_PIECES:
    raise ValueError(f"--size {size}: expected {MIN_PIECES} to {MAX_PIECES} pieces "
                     f"(SentencePiece needs room for its special and single-character pieces)")
  sentences = []
  for split in splits:
    for name in humanml3d.read_split_names(data, split):
      sentences += [c.text for c in humanml3d.read_captions(
          os.path.join(data, "texts", name + ".txt"))]
  if not sentences:
    raise humanml3d.DataError(f"{data}: no captions in splits {', '.join(splits)}")
  if not captions_only:
    sentences += template_sentences()
  prefix = out[:-len(".model")] if out.endswith(".model") else out
  os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
  path = vocab.train_sentencepiece(sentences, prefix, size)
  v = vocab.MotionTextVocabulary(path, motion_codes)
  result = VocabularyResult(path, v.text.tokenizer.GetPieceSize() - 100, len(sentences),
                            v.vocab_size)
  report.log(f"wrote {path}: {result.pieces} pieces from {len(sentences)} captions and "
             f"template phrasings; with 100 sentinels and {motion_codes} + 3 motion tokens "
             f"the vocabulary has {v.vocab_size} ids")
  return result
