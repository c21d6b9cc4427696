"""``MotionTextVocabulary``: SentencePiece text ids followed by motion ids, as one seqio
vocabulary.

Layout (``T`` = the text vocabulary's size including its sentinels, ``K`` = codebook size):

  0 .. T-1        SentencePiece (0 pad, 1 EOS, 2 UNK, ..., then <extra_id_*> sentinels)
  T + k           motion code k, written ``<motion_id_k>``          (0 <= k < K)
  T + K           motion start, ``<motion_id_K>``   (MotionGPT: <motion_id_512>)
  T + K + 1       motion end,   ``<motion_id_K+1>``
  T + K + 2       motion mask,  ``<motion_id_K+2>``

Strings: a motion token is the literal ``<motion_id_k>``; everything else is SentencePiece
text. Canonical form (what ``decode`` returns, and what ``encode`` round-trips exactly):
text runs with SentencePiece's whitespace normalisation, motion tokens of a run written
back to back, and one space between a text run and a motion run (``canonical`` computes it).
A ``<motion_id_k>`` with k >= K + 3 raises ``ValueError`` (TF: ``InvalidArgumentError``);
ids past the vocabulary decode as UNK, as every seqio vocabulary does. The Python and
TensorFlow paths give identical results.
"""

from __future__ import annotations

import io
import os
import re

import numpy as np
import sentencepiece as spm
import seqio
import tensorflow as tf

from motiongpt_jax import protocol, runs

MOTION_TOKEN = protocol.MOTION_ID
_SPLIT = "\x1f"  # unit separator: cannot occur in captions


class MotionTextVocabulary(seqio.Vocabulary):

  def __init__(self, sentencepiece_model_file: str, num_motion_codes: int = 512,
               text_extra_ids: int = 100):
    """``text_extra_ids``: sentinels added to the text vocabulary for span corruption (T5
    uses 100)."""
    self.text = seqio.SentencePieceVocabulary(sentencepiece_model_file, text_extra_ids)
    self.num_motion_codes = num_motion_codes
    super().__init__(extra_ids=0)

  # ---- sizes and special ids ------------------------------------------------------------
  @property
  def text_size(self) -> int:
    return self.text.vocab_size

  @property
  def motion_offset(self) -> int:
    return self.text_size

  @property
  def motion_start_id(self) -> int:
    return self.motion_offset + protocol.start_code(self.num_motion_codes)

  @property
  def motion_end_id(self) -> int:
    return self.motion_offset + protocol.end_code(self.num_motion_codes)

  @property
  def motion_mask_id(self) -> int:
    return self.motion_offset + protocol.mask_code(self.num_motion_codes)

  @property
  def _base_vocab_size(self) -> int:
    return self.text_size + self.num_motion_codes + 3

  @property
  def eos_id(self):
    return self.text.eos_id

  @property
  def unk_id(self):
    return self.text.unk_id

  def motion_string(self, codes) -> str:
    """``<motion_id_512><motion_id_c0>...<motion_id_513>``: codes wrapped in start/end."""
    return protocol.motion_string(codes, self.num_motion_codes)

  def codes_in(self, ids) -> list[int]:
    """The motion codes among token ids (start, end and mask left out), in order."""
    return [int(t) - self.motion_offset for t in ids
            if self.motion_offset <= t < self.motion_start_id]

  def is_motion_id(self, ids):
    ids = np.asarray(ids)
    return (ids >= self.motion_offset) & (ids < self._base_vocab_size)

  # ---- Python ---------------------------------------------------------------------------
  def _motion_index(self, number: str, text: str) -> int:
    k = int(number)
    if k >= self.num_motion_codes + 3:
      raise ValueError(f"<motion_id_{k}> in {text[:80]!r} is out of range: this vocabulary "
                       f"has motion ids 0..{self.num_motion_codes + 2}")
    return self.motion_offset + k

  def _encode(self, s: str):
    ids, position = [], 0
    for match in MOTION_TOKEN.finditer(s):
      ids.extend(self.text.encode(s[position:match.start()].strip()))
      ids.append(self._motion_index(match.group(1), s))
      position = match.end()
    ids.extend(self.text.encode(s[position:].strip()))
    return ids

  def _decode(self, ids):
    runs, text_run, motion_run = [], [], []

    def flush():
      if text_run:
        runs.append(self.text.decode(text_run))
        text_run.clear()
      if motion_run:
        runs.append("".join(motion_run))
        motion_run.clear()

    for i in ids:
      i = int(i)
      if self.motion_offset <= i < self._base_vocab_size:
        if text_run:
          flush()
        motion_run.append(f"<motion_id_{i - self.motion_offset}>")
      else:
        if motion_run:
          flush()
        text_run.append(i)
    flush()
    return " ".join(r for r in runs if r)

  def canonical(self, s: str) -> str:
    return self.decode(self.encode(s))

  # ---- TensorFlow -----------------------------------------------------------------------
  def _encode_tf(self, s):
    s = tf.convert_to_tensor(s, tf.string)
    marked = tf.strings.regex_replace(s, r"(<motion_id_\d+>)", _SPLIT + r"\1" + _SPLIT)
    segments = tf.strings.strip(tf.strings.split(marked, _SPLIT))
    is_motion = tf.strings.regex_full_match(segments, r"<motion_id_\d+>")
    numbers = tf.strings.to_number(
        tf.where(is_motion, tf.strings.regex_replace(segments, r"\D", ""), "0"), tf.int64)
    limit = self.num_motion_codes + 3
    tf.debugging.assert_less(numbers, tf.constant(limit, tf.int64),
                             message=f"a <motion_id_k> is out of range: k must be < {limit}")
    text_ids = self.text.tf_tokenizer.tokenize(tf.where(is_motion, "", segments))
    motion_ids = tf.RaggedTensor.from_row_lengths(
        tf.cast(tf.boolean_mask(numbers, is_motion), tf.int32) + self.motion_offset,
        tf.cast(is_motion, tf.int64))
    # Row i holds segment i's ids: its text pieces, or its one motion id.
    return tf.concat([tf.cast(text_ids, tf.int32), motion_ids], axis=1).flat_values

  def _decode_tf(self, ids):
    ids = tf.convert_to_tensor(ids, tf.int32)
    if ids.shape.rank != 1:
      return tf.map_fn(self._decode_tf, ids, fn_output_signature=tf.string)
    if ids.shape[0] == 0:
      return tf.constant("")
    is_motion = tf.logical_and(ids >= self.motion_offset, ids < self._base_vocab_size)
    change = tf.concat([[True], tf.not_equal(is_motion[1:], is_motion[:-1])], axis=0)
    run = tf.cumsum(tf.cast(change, tf.int64)) - 1
    run_is_motion = tf.boolean_mask(is_motion, change)
    text_ids = tf.RaggedTensor.from_value_rowids(tf.where(is_motion, 0, ids), run)
    text = self.text.tf_tokenizer.detokenize(text_ids)
    names = tf.strings.join(["<motion_id_", tf.strings.as_string(ids - self.motion_offset),
                             ">"])
    motion = tf.strings.reduce_join(tf.RaggedTensor.from_value_rowids(names, run), axis=1)
    runs = tf.where(run_is_motion, motion, text)
    runs = tf.boolean_mask(runs, tf.strings.length(runs) > 0)
    return tf.strings.reduce_join(runs, separator=" ")


def train_sentencepiece(sentences, model_prefix: str, vocab_size: int = 1000) -> str:
  """A unigram SentencePiece model with T5's special ids (pad 0, EOS 1, UNK 2, no BOS).

  Returns the ``.model`` path. ``vocab_size`` is an upper bound: a small closed vocabulary
  (the procedural captions) may give fewer pieces. One thread, so the same sentences give
  the same model.
  """
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(list(sentences)), model_writer=model, vocab_size=vocab_size,
      model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
      hard_vocab_limit=False, character_coverage=1.0,
      num_threads=1, minloglevel=2)
  path = model_prefix + ".model"
  tmp = f"{path}.{os.getpid()}.tmp"
  with open(tmp, "wb") as f:
    f.write(model.getvalue())
  os.replace(tmp, path)
  return path


def vocabulary_for_tokens(tokens_dir: str, spm: str) -> MotionTextVocabulary:
  """The vocabulary of a SentencePiece model plus the codebook of a tokens folder (512 codes
  when the folder has no tokens.json yet)."""
  codes = 512
  if os.path.exists(os.path.join(tokens_dir, runs.TOKENS)):
    codes = int(runs.read_tokens_meta(tokens_dir)["num_codes"])
  return MotionTextVocabulary(spm, num_motion_codes=codes)
