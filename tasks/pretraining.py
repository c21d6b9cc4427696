"""Pre-training tasks (MotionGPT stage 2) and their mixture.

Tasks (all read the train/validation/test splits of the token source):
  motiongpt_pretrain_motion_span  T5 span corruption of motion tokens (original and mirror
                                  image, as two examples), noise density 0.15, mean span 3
  motiongpt_pretrain_text_span    T5 span corruption of captions
  motiongpt_pretrain_t2m          caption -> motion tokens (between start and end tokens)
  motiongpt_pretrain_m2t          motion tokens -> caption
  motiongpt_pretrain_prediction   first 20% of the motion tokens -> the rest
Mixture ``motiongpt_pretrain``: the five tasks with equal rates (1.0 each, in examples), so
each kind of supervision gets a fifth of the batches whatever the data set size.
Constants from MotionGPT's configs/lm/default.yaml (noise density 0.15, mean span 3).

Offline caching (``motiongpt tasks cache``): every task tokenizes before its
``seqio.CacheDatasetPlaceholder`` (text through SentencePiece, motion codes straight to their
ids) and keeps what is random per epoch after it: span corruption's noise (the span tasks),
EOS and trimming to the run's lengths (all). The translation and prediction tasks have no
randomness after the cache, so their cached and uncached examples are the same.
Ids are those of ``seqio.preprocessors.tokenize`` on the motion strings (the vocabulary
splits text at motion tokens and maps each motion token to one id), built without the
string round trip.
"""

from __future__ import annotations

import os

import seqio
import tensorflow as tf

from motiongpt_jax import preprocessors
from motiongpt_jax.data import token_source
from motiongpt_jax import protocol
from motiongpt_jax.vocab import MotionTextVocabulary, vocabulary_for_tokens

NOISE_DENSITY = 0.15
MEAN_NOISE_SPAN = 3.0


def default_paths():
  data = os.environ.get("MOTIONGPT_DATA", "data/synth")
  tokens = os.environ.get("MOTIONGPT_TOKENS", os.path.join(data, "tokens"))
  spm = os.environ.get("MOTIONGPT_SPM", os.path.join(data, "spiece.model"))
  return data, tokens, spm


make_vocabulary = vocabulary_for_tokens  # the name T5X-style task modules used


def motion_text(vocab: MotionTextVocabulary, codes):
  """Motion codes as their token string, wrapped in the start and end tokens."""
  k = vocab.num_motion_codes
  names = tf.strings.join(["<motion_id_", tf.strings.as_string(codes), ">"])
  return tf.strings.join([f"<motion_id_{protocol.start_code(k)}>", tf.strings.reduce_join(names),
                          f"<motion_id_{protocol.end_code(k)}>"])


def text_ids(vocab: MotionTextVocabulary, text):
  """Ids of a text without motion tokens (or of each text of a batch, ragged): what
  ``vocab.encode_tf`` gives, without its search for motion tokens (SentencePiece on the
  stripped text)."""
  return tf.cast(vocab.text.tf_tokenizer.tokenize(tf.strings.strip(text)), tf.int32)


def motion_ids(vocab: MotionTextVocabulary, codes):
  """Ids of ``motion_text(vocab, codes)``: start id, the codes' ids, end id; ``codes`` one
  motion [N] or a batch (RaggedTensor [B, None])."""
  if isinstance(codes, tf.RaggedTensor):
    codes = tf.cast(codes, tf.int32)
    ends = tf.ones([codes.nrows(), 1], tf.int32)
    start = tf.RaggedTensor.from_tensor(ends * vocab.motion_start_id,
                                        row_splits_dtype=codes.row_splits.dtype)
    end = tf.RaggedTensor.from_tensor(ends * vocab.motion_end_id,
                                      row_splits_dtype=codes.row_splits.dtype)
    return tf.concat([start, codes + vocab.motion_offset, end], axis=1)
  codes = tf.cast(codes, tf.int32)
  return tf.concat([[vocab.motion_start_id], codes + vocab.motion_offset,
                    [vocab.motion_end_id]], axis=0)


def translation(vocab, direction: str):
  def fn(batch):
    caption, motion = text_ids(vocab, batch["caption"]), motion_ids(vocab, batch["motion"])
    if direction == "t2m":
      return {"inputs": caption, "targets": motion}
    return {"inputs": motion, "targets": caption}
  return preprocessors.batched(fn)


def prediction(vocab):
  def fn(batch):
    first, rest = preprocessors.prediction_split_batch(batch["motion"])
    return {"inputs": motion_ids(vocab, first), "targets": motion_ids(vocab, rest)}
  return preprocessors.batched(fn)


def motion_strings_both_sides(vocab):
  """Each example's motion and, where the source offers one, its mirror image, as the ids
  of their motion strings (``text``), in that order."""
  def fn(batch):
    original = motion_ids(vocab, batch["motion"])
    rows = tf.concat([original, motion_ids(vocab, batch["motion_mirrored"])], axis=0)
    count = original.nrows()
    order = tf.reshape(tf.stack([tf.range(count), tf.range(count) + count], axis=1), [-1])
    keep = tf.reshape(tf.stack([tf.ones([count], tf.bool),
                                batch["motion_mirrored"].row_lengths() > 0], axis=1), [-1])
    return {"text": tf.gather(rows, tf.boolean_mask(order, keep))}
  return preprocessors.batched(fn)


def caption_text(vocab):
  return preprocessors.batched(lambda batch: {"text": text_ids(vocab, batch["caption"])})


def span_corrupt(vocab: MotionTextVocabulary):
  """Tokenized ``text`` -> span-corrupted inputs/targets (sentinels count down from
  <extra_id_0> = the last text id)."""
  @seqio.map_over_dataset(num_seeds=2)
  def fn(ex, seeds):
    inputs, targets = preprocessors.span_corruption(
        ex["text"], seeds, first_sentinel=vocab.text_size - 1, noise_density=NOISE_DENSITY,
        mean_noise_span_length=MEAN_NOISE_SPAN)
    return {"inputs": inputs, "targets": targets}
  return fn


def output_features(vocab):
  return {"inputs": seqio.Feature(vocab, add_eos=True, required=False),
          "targets": seqio.Feature(vocab, add_eos=True)}


TASKS = ("motiongpt_pretrain_motion_span", "motiongpt_pretrain_text_span",
         "motiongpt_pretrain_t2m", "motiongpt_pretrain_m2t", "motiongpt_pretrain_prediction")


PATHS: dict[str, str] = {}


def task_size(name: str, split: str) -> int:
  """Examples of a task in one epoch of a split (from the source, without iterating)."""
  source = token_source.load_examples(PATHS["data"], PATHS["tokens"], split)
  if name == "motiongpt_pretrain_motion_span":
    return len(source) + token_source.mirrored_count(PATHS["data"], PATHS["tokens"], split)
  return len(source)


def register(data_dir: str, tokens_dir: str, spm: str) -> None:
  """(Re-)registers the pre-training tasks and mixture for these paths."""
  PATHS.update(data=data_dir, tokens=tokens_dir, spm=spm)
  vocab = make_vocabulary(tokens_dir, spm)
  source = seqio.FunctionDataSource(token_source.dataset_fn(data_dir, tokens_dir),
                                    splits=tuple(token_source.SPLITS))
  features = output_features(vocab)
  cache = seqio.CacheDatasetPlaceholder()
  specs = {
      "motiongpt_pretrain_motion_span": [motion_strings_both_sides(vocab), cache,
                                         span_corrupt(vocab)],
      "motiongpt_pretrain_text_span": [caption_text(vocab), cache, span_corrupt(vocab)],
      "motiongpt_pretrain_t2m": [translation(vocab, "t2m"), cache],
      "motiongpt_pretrain_m2t": [translation(vocab, "m2t"), cache],
      "motiongpt_pretrain_prediction": [prediction(vocab), cache],
  }
  for name, steps in specs.items():
    seqio.TaskRegistry.remove(name)
    seqio.TaskRegistry.add(name, source=source,
                           preprocessors=[*steps, seqio.preprocessors.append_eos_after_trim],
                           output_features=features,
                           shuffle_buffer_size=token_source.SHUFFLE_BUFFER)
  seqio.MixtureRegistry.remove("motiongpt_pretrain")
  seqio.MixtureRegistry.add("motiongpt_pretrain", [(name, 1.0) for name in TASKS])


register(*default_paths())
