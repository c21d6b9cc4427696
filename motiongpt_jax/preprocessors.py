"""TensorFlow preprocessors for the SeqIO tasks (seqio has no span corruption of its own).

``random_spans_noise_mask`` and the span-corruption pair follow T5's definition
(Raffel et al. 2020, section 3.1.4; t5.data.preprocessors): a sequence of n tokens gets
round(n * noise_density) noise tokens in round(noise / mean_span) spans, span lengths drawn
by a random segmentation, noise and non-noise spans interleaved starting with non-noise.
Inputs keep the non-noise tokens with each noise span replaced by one sentinel; targets
hold each sentinel followed by the span it replaced. Sentinel k is ``first_sentinel - k``
(T5's <extra_id_k> ids count down from the end of the text vocabulary). Deterministic: the
same stateless seeds give the same mask.
"""

from __future__ import annotations

import tensorflow as tf

from motiongpt_jax import protocol


def _stateless_shuffle(values, seed):
  order = tf.argsort(tf.random.stateless_uniform(tf.shape(values), seed=seed))
  return tf.gather(values, order)


def _random_segmentation(num_items, num_segments, seed):
  """Lengths of ``num_segments`` non-empty segments summing to ``num_items``, at random."""
  first_in_segment = tf.pad(
      _stateless_shuffle(tf.cast(tf.range(num_items - 1) < num_segments - 1, tf.int32), seed),
      [[1, 0]])
  segment_id = tf.cumsum(first_in_segment)
  return tf.math.segment_sum(tf.ones_like(segment_id), segment_id)


def random_spans_noise_mask(length, noise_density, seeds, mean_noise_span_length=3.0):
  """Boolean [length] mask of noise positions (T5's semantics, no random roll)."""
  orig_length = length
  length = tf.maximum(length, 2)
  lengthf = tf.cast(length, tf.float32)
  num_noise = tf.cast(tf.round(lengthf * noise_density), tf.int32)
  num_noise = tf.minimum(tf.maximum(num_noise, 1), length - 1)
  num_spans = tf.cast(tf.round(tf.cast(num_noise, tf.float32) / mean_noise_span_length),
                      tf.int32)
  num_spans = tf.maximum(num_spans, 1)
  num_nonnoise = length - num_noise
  noise_lengths = _random_segmentation(num_noise, num_spans, seeds[0])
  nonnoise_lengths = _random_segmentation(num_nonnoise, num_spans, seeds[1])
  interleaved = tf.reshape(tf.stack([nonnoise_lengths, noise_lengths], axis=1),
                           [num_spans * 2])
  span_starts = tf.cumsum(interleaved)[:-1]
  indicator = tf.math.unsorted_segment_sum(tf.ones_like(span_starts), span_starts, length)
  is_noise = tf.equal(tf.cumsum(indicator) % 2, 1)
  return is_noise[:orig_length]


def _noise_span_to_unique_sentinel(tokens, noise_mask, first_sentinel):
  previous = tf.pad(noise_mask[:-1], [[1, 0]])
  first_noise = tf.logical_and(noise_mask, tf.logical_not(previous))
  subsequent_noise = tf.logical_and(noise_mask, previous)
  sentinel = first_sentinel + 1 - tf.cumsum(tf.cast(first_noise, tokens.dtype))
  tokens = tf.where(first_noise, sentinel, tokens)
  return tf.boolean_mask(tokens, tf.logical_not(subsequent_noise))


def span_corruption(tokens, seeds, first_sentinel: int, noise_density: float = 0.15,
                    mean_noise_span_length: float = 3.0):
  """(inputs, targets) of T5's span corruption for a 1-D int token sequence."""
  tokens = tf.convert_to_tensor(tokens)
  mask = random_spans_noise_mask(tf.size(tokens), noise_density, seeds,
                                 mean_noise_span_length)
  inputs = _noise_span_to_unique_sentinel(tokens, mask, first_sentinel)
  targets = _noise_span_to_unique_sentinel(tokens, tf.logical_not(mask), first_sentinel)
  return inputs, targets


def prediction_split(codes):
  """(first 20% of the codes, at least one; the rest): ``protocol.prediction_keep`` in TF."""
  n = tf.size(codes)
  keep = tf.maximum(
      tf.cast(tf.floor(tf.cast(n, tf.float32) * protocol.PREDICTION_KEEP), tf.int32), 1)
  return codes[:keep], codes[keep:]


def inbetween_mask(codes, mask_code: int):
  """The codes with the middle half (all but floor(n / 4) at each end) set to ``mask_code``:
  ``protocol.inbetween_masked`` in TF."""
  n = tf.size(codes)
  quarter = n // 4
  middle = tf.fill([n - 2 * quarter], tf.cast(mask_code, codes.dtype))
  return tf.concat([codes[:quarter], middle, codes[n - quarter:]], axis=0)


# ---- Batched forms, for the deterministic steps before a task's cache --------------------
# One tf.data element per example costs more than the work on it; these run the same rules
# on a batch at once (codes as a RaggedTensor [B, None]) and ``batched`` unbatches again.


# MotionGPT's text-to-motion training data (``mGPT/data/humanml/dataset_t2m_cb.py``, after
# T2M-GPT): one time in three, one motion token is dropped, at the head or the tail (even odds).
DROP_ONE_TOKEN_RATE = 1.0 / 3.0


def drop_one_code(ids, seeds, rate: float = DROP_ONE_TOKEN_RATE):
  """``ids`` = [start id, code ids..., end id] (``pretraining.motion_ids``); with probability
  ``rate`` (and at least two codes) the first or the last code is removed. ``seeds``: two
  stateless seeds [2, 2]."""
  n = tf.size(ids)
  drop = tf.logical_and(tf.random.stateless_uniform([], seeds[0]) < rate, n > 3)
  at = tf.where(tf.random.stateless_uniform([], seeds[1]) < 0.5, 1, n - 2)
  keep = tf.logical_or(tf.logical_not(drop), tf.range(n) != at)
  return tf.boolean_mask(ids, keep)


def batched(fn, batch_size: int = 256):
  """A preprocessor applying ``fn`` to batches (``ragged_batch``), then unbatching: the
  examples, and their order, are those of applying it one example at a time."""
  plain = tf.autograph.experimental.do_not_convert(fn)  # plain TF ops: no AutoGraph pass

  def preprocess(ds):
    return ds.ragged_batch(batch_size).map(plain, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
  return preprocess


def _flat_positions(codes):
  """(position of each flat value in its row, the row's length for each flat value)."""
  rows = codes.value_rowids()
  position = tf.range(tf.size(codes.flat_values, out_type=rows.dtype)) - tf.gather(
      codes.row_starts(), rows)
  return position, tf.gather(codes.row_lengths(), rows)


def prediction_split_batch(codes):
  """``prediction_split`` of every row of a RaggedTensor [B, None] (flat-value arithmetic:
  ragged broadcasting would cost seconds to trace)."""
  n = codes.row_lengths()
  keep = tf.minimum(tf.maximum(tf.cast(
      tf.floor(tf.cast(n, tf.float32) * protocol.PREDICTION_KEEP), n.dtype), 1), n)
  position, _ = _flat_positions(codes)
  first = position < tf.gather(keep, codes.value_rowids())
  flat = codes.flat_values
  return (tf.RaggedTensor.from_row_lengths(tf.boolean_mask(flat, first), keep),
          tf.RaggedTensor.from_row_lengths(tf.boolean_mask(flat, tf.logical_not(first)),
                                           n - keep))


def inbetween_mask_batch(codes, mask_code: int):
  """``inbetween_mask`` of every row of a RaggedTensor [B, None]."""
  position, length = _flat_positions(codes)
  quarter = length // 4
  middle = tf.logical_and(position >= quarter, position < length - quarter)
  flat = tf.where(middle, tf.cast(mask_code, codes.dtype), codes.flat_values)
  return codes.with_flat_values(flat)
