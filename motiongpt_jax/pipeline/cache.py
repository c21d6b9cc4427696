"""Offline cache of the SeqIO tasks (``motiongpt tasks cache``), in seqio's own format.

seqio's cache job (``seqio/scripts/cache_tasks_main.py``, ``seqio/beam_utils.py``) needs
Apache Beam; this writes the same files without it, so ``seqio.add_global_cache_dirs([OUT])``
and ``task.get_dataset(..., use_cached=True)`` read them. Per task, in ``OUT/<task name>/``:

- ``<split>.tfrecord-SSSSS-of-NNNNN``: the examples after the task's preprocessors up to its
  ``seqio.CacheDatasetPlaceholder`` (``task.preprocess_precache``), as ``tf.train.Example``
  protos (``seqio.dict_to_tfexample``'s encoding), spread over N shards in a seeded global
  shuffle (Beam's ``Reshuffle`` does the same job there);
- ``info.<split>.json``: ``num_shards``, ``features`` (dtype and shape, the first dimension
  ``null``), ``seqio_version``; ``stats.<split>.json``: ``examples`` and, for the output
  features present before the cache, ``<name>_tokens`` and ``<name>_max_tokens`` (EOS and
  padding not counted): both as seqio writes them (sorted keys, indent 2);
- ``COMPLETED``: empty, written last (seqio reads a task's cache only when it exists).

Preprocessor seeds are seqio's: md5(task name + "shard0") per source shard (our sources are
one shard). ``OUT/motiongpt_cache.json`` records the data, tokens and SentencePiece model
the cache was made from; ``check_cache`` refuses a cache made from other tokens or another
vocabulary, so a stale cache never trains silently.

seqio's own job works on these tasks too where Apache Beam is installed (it is not a
dependency here, so that path is not tested): ``MOTIONGPT_DATA=DIR seqio_cache_tasks
--module_import=tasks --tasks='motiongpt_pretrain_.*' --output_cache_dir=OUT`` (the tasks
module registers its tasks for ``$MOTIONGPT_DATA`` when imported; the sources are
``FunctionDataSource``s of one shard, so Beam cannot split a task over workers, which seqio
warns about). Its cache lacks ``motiongpt_cache.json``; ``motiongpt tasks cache --out OUT``
afterwards skips the tasks it finds completed and adds that file, which ``train`` checks.

A host reads a disjoint share of the cache: with ``seqio.ShardInfo(index, count)`` the
cached source hands it every ``count``-th file (as many files as hosts at least).

Reading: seqio's cached source parses one record at a time and then runs two more maps per
example (a cast, a rename), each a tf.data step per example - the most a cached read can
save. ``check_cache`` (which ``train`` calls) therefore gives the tasks it checks
``BatchedCacheSource``: the same files, shuffled and interleaved as seqio does, each file's
records parsed 128 at a time (``tf.io.parse_example``, the casts and renames in the same
function) and unbatched again, so the examples and their order are seqio's own.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import types

import numpy as np
import seqio
import tensorflow as tf
from packaging import version as version_lib
from seqio import dataset_providers

from motiongpt_jax import runs
from motiongpt_jax.pipeline.catalog import register
from motiongpt_jax.pipeline.lm import data_paths
from motiongpt_jax.pipeline.report import Reporter

META = "motiongpt_cache.json"
DEFAULT_MIXTURES = ("motiongpt_pretrain", "motiongpt_instruct")
_INT64_MAX = 2**63 - 1


def default_tasks() -> list[str]:
  """The tasks of the training mixtures (the ``_eval`` variants read a few examples only)."""
  names = []
  for mixture in DEFAULT_MIXTURES:
    names += [t.name for t in seqio.get_mixture_or_task(mixture).tasks]
  return sorted(set(names))


def select_tasks(patterns: list[str] | None) -> list[str]:
  """Task names matching any of ``patterns`` (full regular expressions, as seqio's
  ``--tasks``; a mixture's name stands for its tasks); the default tasks without any."""
  if not patterns:
    return default_tasks()
  names = sorted(n for n in seqio.TaskRegistry.names() if n.startswith("motiongpt_"))
  chosen = set()
  for pattern in patterns:
    if pattern in seqio.MixtureRegistry.names():
      chosen.update(t.name for t in seqio.get_mixture_or_task(pattern).tasks)
      continue
    try:
      matched = [n for n in names if re.fullmatch(pattern, n)]
    except re.error as e:
      raise ValueError(f"--tasks {pattern!r}: not a regular expression ({e})") from None
    if not matched:
      raise ValueError(f"--tasks {pattern!r} matches no task; registered: {', '.join(names)}")
    chosen.update(matched)
  return sorted(chosen)


def shard_seed(task_name: str, shard_index: int = 0, base_seed: int | None = None) -> int:
  """seqio's preprocessors seed of a source shard (beam_utils.PreprocessTask)."""
  digest = hashlib.md5((task_name + f"shard{shard_index}").encode()).digest()
  seed = int.from_bytes(digest, "little") + (base_seed or 0)
  if seed > _INT64_MAX:
    seed = int.from_bytes(digest[:7], "little") + (base_seed or 0)
  return seed % _INT64_MAX


def _feature(value: np.ndarray) -> tf.train.Feature:
  flat = np.asarray(value).reshape(-1)
  if flat.dtype == bool or np.issubdtype(flat.dtype, np.integer):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=flat.tolist()))
  if np.issubdtype(flat.dtype, np.floating):
    return tf.train.Feature(float_list=tf.train.FloatList(value=flat.tolist()))
  if flat.dtype.kind in ("S", "O", "U"):
    return tf.train.Feature(bytes_list=tf.train.BytesList(
        value=[tf.compat.as_bytes(v) for v in flat.tolist()]))
  raise ValueError(f"feature of dtype {flat.dtype}: expected integers, floats or strings")


def _dtype_name(value: np.ndarray) -> str:
  value = np.asarray(value)
  if value.dtype.kind in ("S", "O", "U"):
    return "string"
  return tf.as_dtype(value.dtype).name


def _info(example: dict, num_shards: int) -> dict:
  """seqio's info.<split>.json (beam_utils.GetInfo) from one example."""
  features = {}
  for key, value in example.items():
    shape = list(np.shape(value))
    features[key] = {"dtype": _dtype_name(value), "shape": [None] + shape[1:] if shape else []}
  return {"features": features, "num_shards": num_shards, "seqio_version": seqio.__version__}


class _Stats:
  """seqio's stats.<split>.json (beam_utils.GetStats): examples, tokens and max tokens of
  the output features present (EOS and padding not counted)."""

  def __init__(self, output_features: dict):
    self.count, self.tokens, self.max = 0, {}, {}
    self.skip = {}
    for name, feature in output_features.items():
      vocab = feature.vocabulary
      self.skip[name] = [i for i in (vocab.eos_id, vocab.pad_id) if i is not None]

  def add(self, example: dict) -> None:
    self.count += 1
    for name, skip in self.skip.items():
      value = example.get(name)
      if isinstance(value, np.ndarray) and value.dtype in (np.int32, np.int64):
        n = int(np.sum(~np.isin(value, skip))) if skip else int(value.size)
        self.tokens[name] = self.tokens.get(name, 0) + n
        self.max[name] = max(self.max.get(name, 0), n)

  def as_dict(self) -> dict:
    out = {"examples": self.count}
    out.update({f"{k}_tokens": v for k, v in self.tokens.items()})
    out.update({f"{k}_max_tokens": v for k, v in self.max.items()})
    return out


def _examples(ds, batch_size: int = 512):
  """The examples of ``ds`` as dicts of NumPy values, read a batch at a time (one tf.data
  element per example costs more than writing it)."""
  for batch in ds.ragged_batch(batch_size).prefetch(2).as_numpy_iterator():
    size = None
    rows = {}
    for key, value in batch.items():
      if hasattr(value, "row_splits"):  # a ragged feature: rows of its flat values
        splits, flat = np.asarray(value.row_splits), np.asarray(value.flat_values)
        rows[key] = [flat[splits[i]:splits[i + 1]] for i in range(len(splits) - 1)]
      else:
        rows[key] = list(value)
      size = len(rows[key])
    for i in range(size or 0):
      yield {key: values[i] for key, values in rows.items()}


def _write_json(path: str, value) -> None:
  with open(path, "w") as f:
    f.write(json.dumps(value, sort_keys=True, indent=2) + "\n")


def cache_split(task: seqio.Task, split: str, out_dir: str, num_shards: int,
                base_seed: int | None = None) -> dict:
  """Writes one split of one task into ``out_dir``; returns its stats."""
  seed = shard_seed(task.name, 0, base_seed)
  ds = task.source.get_dataset(split=split, shuffle=False, seed=seed,
                               shard_info=seqio.ShardInfo(index=0, num_shards=1))
  ds = task.preprocess_precache(ds, seed=seed)
  stats, records, first = _Stats(task.output_features), [], None
  for example in _examples(ds):
    first = first or example
    stats.add(example)
    records.append(tf.train.Example(features=tf.train.Features(
        feature={k: _feature(v) for k, v in example.items()})).SerializeToString())
  # A seeded global shuffle, then round robin over the shards.
  order = np.random.default_rng(seed % 2**32).permutation(len(records))
  prefix = seqio.utils.get_cached_tfrecord_prefix(out_dir, split)
  for shard in range(num_shards):
    with tf.io.TFRecordWriter(f"{prefix}-{shard:05d}-of-{num_shards:05d}") as writer:
      for k in order[shard::num_shards]:
        writer.write(records[k])
  _write_json(seqio.utils.get_cached_info_path(out_dir, split),
              _info(first, num_shards) if first is not None else {})
  result = stats.as_dict()
  _write_json(seqio.utils.get_cached_stats_path(out_dir, split), result)
  return result


def _identity(data: str, tokens: str, spm: str) -> dict:
  with open(spm, "rb") as f:
    spm_sha = hashlib.sha256(f.read()).hexdigest()
  meta = runs.read_tokens_meta(tokens)
  return {"data": os.path.abspath(data), "tokens": os.path.abspath(tokens),
          "spm": os.path.abspath(spm), "spm_sha256": spm_sha,
          "tokens_identity": {k: meta.get(k) for k in ("num_codes", "frames_per_token",
                                                        "vqvae_identity", "vqvae_step",
                                                        "count")}}


def cache_tasks(data: str, out: str, task_patterns: list[str] | None = None,
                tokens: str | None = None, spm: str | None = None, num_shards: int = 64,
                overwrite: bool = False, base_seed: int | None = None,
                report: Reporter | None = None) -> dict:
  """Caches the tasks (default: those of the pre-training and instruction mixtures) of the
  data folder into ``out``; returns {task: {split: stats}} and the seconds taken."""
  report = report or Reporter()
  if isinstance(num_shards, bool) or not isinstance(num_shards, int) or num_shards < 1:
    raise ValueError(f"--shards {num_shards}: expected an integer >= 1")
  data, tokens, spm = data_paths(data, tokens, spm)
  register(data, tokens, spm)
  names = select_tasks(task_patterns)
  os.makedirs(out, exist_ok=True)
  identity = _identity(data, tokens, spm)
  meta_path = os.path.join(out, META)
  if os.path.exists(meta_path):
    with open(meta_path) as f:
      previous = json.load(f)
    if _differs(previous, identity) and not overwrite:
      raise ValueError(f"{out} holds a cache of other data ({_differs(previous, identity)}); "
                       f"use --overwrite or another --out")
  _write_json(meta_path, identity)
  start, results = time.time(), {}
  for k, name in enumerate(names):
    task = seqio.get_mixture_or_task(name)
    task_dir = os.path.join(out, seqio.utils.get_task_dir_from_name(name))
    if os.path.exists(os.path.join(task_dir, "COMPLETED")) and not overwrite:
      report.log(f"[{k + 1}/{len(names)}] {name}: cached already (--overwrite to redo)")
      continue
    tmp = task_dir + f".{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    t0 = time.time()
    results[name] = {split: cache_split(task, split, tmp, num_shards, base_seed)
                     for split in task.splits}
    open(os.path.join(tmp, "COMPLETED"), "w").close()
    shutil.rmtree(task_dir, ignore_errors=True)
    os.replace(tmp, task_dir)
    sizes = ", ".join(f"{s} {v['examples']}" for s, v in results[name].items())
    report.log(f"[{k + 1}/{len(names)}] {name}: {sizes} examples in {time.time() - t0:.1f}s")
  return {"tasks": results, "seconds": time.time() - start, "out": out}


def _differs(previous: dict, identity: dict) -> str:
  for key in ("spm_sha256", "tokens_identity"):
    if previous.get(key) != identity.get(key):
      return f"its {key} differs"
  return ""


def _parse_spec(key: str, shape, dtype: str):
  """How seqio's cached source parses a feature (``_CachedDataSource``), for
  ``tf.io.parse_example``: a variable first dimension is a ragged row, not padding."""
  if dtype in ("int32", "bool"):
    dtype = "int64"  # stored as int64 in the tf.train.Example
  if shape and any(x is None for x in shape[1:]):
    partitions, ragged = [], 0
    for x in shape[1:]:
      if x is None:
        partitions.append(tf.io.RaggedFeature.RowLengths(
            seqio.utils.tfexample_ragged_length_key(key, ragged)))
        ragged += 1
      else:
        partitions.append(tf.io.RaggedFeature.UniformRowLength(x))
    return tf.io.RaggedFeature(value_key=key, partitions=partitions, dtype=dtype)
  if shape and shape[0] is None:
    if any(x is not None for x in shape[1:]):  # [None, k, ...]: rows of fixed shape
      return tf.io.RaggedFeature(
          value_key=key, dtype=dtype,
          partitions=[tf.io.RaggedFeature.UniformRowLength(x) for x in shape[1:]])
    return tf.io.RaggedFeature(value_key=key, dtype=dtype)
  return tf.io.FixedLenFeature(shape, dtype)


class BatchedCacheSource(dataset_providers._CachedDataSource):  # pylint: disable=protected-access
  """seqio's cached source (files, file shuffle, interleave) with each file's records parsed
  ``batch_size`` at a time: the same examples in the same order, without three tf.data
  steps per example (parse, cast, rename)."""

  def __init__(self, cache_dir: str, split: str, file_shuffle_buffer_size=None,
               batch_size: int = 128):
    super().__init__(cache_dir, split, file_shuffle_buffer_size)
    with tf.io.gfile.GFile(seqio.utils.get_cached_info_path(cache_dir, split)) as f:
      info = json.load(f)
    features = info["features"]
    if version_lib.Version(info.get("seqio_version", "0.pre")) < version_lib.Version("0.0.0"):
      for feature in features.values():  # as seqio: old caches hold int32 as int64
        if feature["dtype"] == "int64":
          feature["dtype"] = "int32"
    spec = {k: _parse_spec(k, **v) for k, v in features.items()}

    @tf.autograph.experimental.do_not_convert
    def parse(records):
      parsed = tf.io.parse_example(records, spec)
      out = {}
      for k, v in parsed.items():
        v = tf.cast(v, features[k]["dtype"])
        if k.endswith("_plaintext"):  # as seqio: legacy caches' name for _pretokenized
          k = k[:-len("plaintext")] + "pretokenized"
        out[k] = v
      return out

    def read_file_fn(filepattern):
      ds = tf.data.TFRecordDataset(filepattern).batch(batch_size)
      return ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE).unbatch()

    self._reader = read_file_fn


def _batched_cached_source(task, split: str, file_shuffle_buffer_size=None):
  task.assert_cached()
  return BatchedCacheSource(
      task.cache_dir, split, file_shuffle_buffer_size
      or task._cache_dataset_placerholder.file_shuffle_buffer_size)  # pylint: disable=protected-access


def read_cache_in_batches(task_names) -> None:
  """Makes the registered tasks (or mixtures' tasks) named read their cache through
  ``BatchedCacheSource`` (``Task.get_dataset(use_cached=True)``'s one hook,
  ``_get_cached_source``, set on each task object). Registering a task again undoes it."""
  for name in task_names:
    provider = seqio.get_mixture_or_task(name)
    for task in getattr(provider, "tasks", [provider]):
      task._get_cached_source = types.MethodType(  # pylint: disable=protected-access
          _batched_cached_source, task)


def check_cache(cache_dir: str, data: str, tokens: str, spm: str, task_names) -> None:
  """Adds ``cache_dir`` to seqio's cache directories after checking that it was made from
  these tokens and this vocabulary and holds every task named; the tasks then read it in
  batches (``read_cache_in_batches``)."""
  meta_path = os.path.join(cache_dir, META)
  if not os.path.exists(meta_path):
    raise FileNotFoundError(f"{meta_path}: missing; make the cache with `motiongpt tasks "
                            f"cache --data {data} --out {cache_dir}`")
  with open(meta_path) as f:
    previous = json.load(f)
  why = _differs(previous, _identity(data, tokens, spm))
  if why:
    raise ValueError(f"{cache_dir}: a cache of other data than {data} ({why}); run `motiongpt "
                     f"tasks cache --data {data} --out {cache_dir} --overwrite`")
  missing = [n for n in task_names if not os.path.exists(
      os.path.join(cache_dir, seqio.utils.get_task_dir_from_name(n), "COMPLETED"))]
  if missing:
    raise ValueError(f"{cache_dir}: no cache of {', '.join(missing)}; run `motiongpt tasks "
                     f"cache --data {data} --out {cache_dir} --tasks {','.join(missing)}`")
  seqio.add_global_cache_dirs([cache_dir])
  read_cache_in_batches(task_names)


def cache_size(cache_dir: str) -> int:
  """Bytes on disk under ``cache_dir``."""
  total = 0
  for root, _, files in os.walk(cache_dir):
    total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
  return total
