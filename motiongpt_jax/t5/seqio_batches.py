"""Batches of a SeqIO mixture for the trainer, in a fixed order from the seed.

``batch(step)`` returns the step-th batch of one endless, seeded pipeline (shuffled,
mixture-sampled, then seqio's EncDecFeatureConverter; with ``pack`` it packs several
examples into each row as T5X does, adding segment ids and positions). Asking for a step other than the
next one (a resumed run) rebuilds the pipeline and skips ahead, so a resumed run sees the
same batches as an uninterrupted one. Each process reads its own shard (``ShardInfo``) and
returns its rows of the global batch. With ``use_cached`` the tasks are read from seqio's
offline cache (``motiongpt tasks cache``; the cache directory registered with
``seqio.add_global_cache_dirs``): each process then reads its own cache files.

The pipelines run with tf.data's map fusion (``pipeline_options``): seqio chains about ten
``Dataset.map`` steps per example (a task's preprocessors, EOS, trimming and validation,
the feature converter's), and tf.data pays its per-element cost at each one; fused, the
same functions run as one map per chain, on the same elements in the same order.
"""

from __future__ import annotations

import jax
import seqio
import tensorflow as tf


def pipeline_options() -> tf.data.Options:
  """tf.data options of the training pipelines: map fusion, which TensorFlow leaves off.

  Fusion changes no value and no order (tests/test_lm_training.py compares the batches
  with and without it). Measured on the demo's instruction mixture (18 tasks, batches of 32
  packed 80 + 72 rows, 2 cores, alternating processes): 27.0-29.0 ms per batch without it,
  20.6-22.7 ms with it; the pre-training mixture 26.7 -> 20.6 ms (docs/performance.md).
  """
  options = tf.data.Options()
  options.experimental_optimization.map_fusion = True
  return options


class SeqioBatches:

  def __init__(self, mixture: str, inputs_length: int, targets_length: int, batch_size: int,
               seed: int, split: str = "train", repeat: bool = True, use_cached: bool = False,
               pack: bool = False):
    self.mixture, self.split, self.seed, self.repeat = mixture, split, seed, repeat
    self.pack = pack
    self.use_cached = use_cached
    self.lengths = {"inputs": inputs_length, "targets": targets_length}
    count = jax.process_count()
    if batch_size % count:
      raise ValueError(f"batch size {batch_size} does not split over {count} processes")
    self.local_batch = batch_size // count
    self._iterator, self._next = None, None

  def dataset(self) -> tf.data.Dataset:
    """The endless (or, without ``repeat``, one-epoch) pipeline of this process's batches."""
    ds = seqio.get_dataset(
        self.mixture, task_feature_lengths=self.lengths, dataset_split=self.split,
        shuffle=self.repeat, num_epochs=None if self.repeat else 1, seed=self.seed,
        use_cached=self.use_cached,
        shard_info=seqio.ShardInfo(jax.process_index(), jax.process_count()),
        feature_converter=seqio.EncDecFeatureConverter(pack=self.pack))
    return ds.batch(self.local_batch, drop_remainder=True).with_options(pipeline_options())

  def _start(self):
    return self.dataset().as_numpy_iterator()

  def batch(self, step: int) -> dict:
    if self._next != step:
      self._iterator, self._next = self._start(), 0
      for _ in range(step):
        next(self._iterator)
        self._next += 1
    self._next += 1
    return next(self._iterator)

  def first(self, n: int) -> list[dict]:
    """The first n batches of a fresh pipeline (for a fixed validation set)."""
    it = self._start()
    out = []
    for _ in range(n):
      try:
        out.append(next(it))
      except StopIteration:
        break
    return out
