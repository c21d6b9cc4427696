"""The run folder: what a work directory holds, and the one place that reads and writes it.

A run folder (``--workdir``) of any stage holds:

  config.json       the run's resolved config; paths in ``data`` are relative to the folder
  t5_config.json    the T5's architecture (language-model runs)
  evaluator.json    the evaluator's architecture, with words.txt, tagger.json, mean.npy,
                    std.npy (evaluator runs)
  checkpoints/      Orbax steps ``<step>/`` holding {step, params, opt_state, extra}
  metrics.jsonl     one JSON row of training metrics per log step; tensorboard/ alike
  eval/             ``motiongpt eval`` tables (results.json, results.md)

Two ways to read parameters, kept apart as MaxText does: ``load_params`` restores the
parameters (and the non-gradient state) of a step without building an optimizer, for every
reader that only uses a model (VQ tokenizer, LM ``init_from``, inference, the evaluator);
``Checkpointer.restore`` of the whole train state is the trainer's, for resuming.

Runs refer to each other (a tokens folder to its VQ-VAE, an LM run to its data and tokens)
by paths relative to the referring file's folder, so ``runs/`` and ``data/`` copied together
to another machine or directory still work; a VQ-VAE reference also carries the VQ-VAE's
identity (its step and the hash of its model config), checked when it is followed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import sys

import jax
import jax.numpy as jnp
import ml_collections

from motiongpt_jax import config_utils
from motiongpt_jax.t5 import checkpoints as t5_checkpoints
from motiongpt_jax.t5.network import abstract_params as t5_abstract_params
from motiongpt_jax.train.checkpoints import Checkpointer
from motiongpt_jax.vqvae import model as vq_model
from motiongpt_jax.vqvae import quantizer

CONFIG = "config.json"
T5_CONFIG = "t5_config.json"
EVALUATOR = "evaluator.json"
CHECKPOINTS = "checkpoints"
METRICS = "metrics.jsonl"
EVAL = "eval"

# Config entries that hold paths: stored relative to the run folder.
# data.stats: a folder with mean.npy/std.npy that replaces the data folder's Mean/Std (an
# imported MotionGPT's VQ-VAE expects the T2M evaluator's statistics).
_PATH_KEYS = ("data.path", "data.tokens", "data.spm", "data.stats")


class RunError(FileNotFoundError):
  """A work directory is not the run it should be (missing files, a stale reference)."""


# --------------------------------------------------------------------------- references
def relative_ref(target: str, base_dir: str) -> str:
  """``target`` as a path relative to ``base_dir`` (POSIX-style, for JSON files)."""
  return os.path.relpath(os.path.abspath(target), os.path.abspath(base_dir))


def resolve_ref(ref: str, base_dir: str) -> str:
  """An absolute path from a reference written by ``relative_ref`` (or an absolute path,
  as runs made before references were relative hold)."""
  if not ref:
    return ref
  return os.path.normpath(ref if os.path.isabs(ref) else os.path.join(base_dir, ref))


# ------------------------------------------------------------------------------- config
def _get(config, dotted: str):
  node = config
  for part in dotted.split("."):
    if part not in node:
      return None
    node = node[part]
  return node


def _set(config, dotted: str, value) -> None:
  *parents, leaf = dotted.split(".")
  node = config
  for part in parents:
    node = node[part]
  with node.unlocked():
    node[leaf] = value


def write_config(workdir: str, config: ml_collections.ConfigDict) -> None:
  """``workdir/config.json`` (atomic), with the data paths made relative to ``workdir``."""
  portable = ml_collections.ConfigDict(config.to_dict())
  for key in _PATH_KEYS:
    value = _get(portable, key)
    if value:
      _set(portable, key, relative_ref(value, workdir))
  os.makedirs(workdir, exist_ok=True)
  config_utils.save_config(portable, os.path.join(workdir, CONFIG))


def read_config(workdir: str) -> ml_collections.ConfigDict:
  """The run's config with its data paths resolved to absolute paths."""
  path = os.path.join(workdir, CONFIG)
  if not os.path.exists(path):
    raise RunError(f"{path} does not exist: is {workdir} a training work directory?")
  config = config_utils.read_config(path)
  for key in _PATH_KEYS:
    value = _get(config, key)
    if value:
      _set(config, key, resolve_ref(value, workdir))
  return config


def config_hash(config: ml_collections.ConfigDict, keys=("model", "data.feature_dim")) -> str:
  """A short hash of the parts of a config that decide what a model computes."""
  picked = {k: (_get(config, k).to_dict() if isinstance(_get(config, k),
                                                         ml_collections.ConfigDict)
                else _get(config, k)) for k in keys}
  text = json.dumps(picked, sort_keys=True, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_t5_config(workdir: str):
  path = os.path.join(workdir, T5_CONFIG)
  if not os.path.exists(path):
    raise RunError(f"{workdir}: no {T5_CONFIG} (not a `motiongpt train` run)")
  with open(path) as f:
    return t5_checkpoints.config_from_dict(json.load(f))


def write_t5_config(workdir: str, t5_config) -> None:
  write_json(os.path.join(workdir, T5_CONFIG), t5_checkpoints.config_to_dict(t5_config))


def write_json(path: str, value) -> None:
  """Atomic JSON write (a unique temporary file renamed over the target)."""
  tmp = f"{path}.{os.getpid()}.tmp"
  with open(tmp, "w") as f:
    json.dump(value, f, indent=2)
  os.replace(tmp, path)


# ------------------------------------------------------------------------------ restore
def latest_step(workdir: str) -> int | None:
  if not os.path.isdir(os.path.join(workdir, CHECKPOINTS)):
    return None
  checkpointer = Checkpointer(workdir, read_only=True)
  try:
    return checkpointer.latest_step()
  finally:
    checkpointer.close()


def load_params(workdir: str, abstract_params, abstract_extra=None, step: int | None = None):
  """(step, params, extra) of a run's checkpoint (the latest by default), without the
  optimizer state: only the parameters (and the non-gradient state) are read from disk."""
  checkpointer = Checkpointer(workdir, read_only=True)
  try:
    step = checkpointer.latest_step() if step is None else step
    if step is None:
      raise RunError(f"{workdir} has no checkpoints")
    if step not in checkpointer.all_steps():
      raise RunError(f"{workdir} has no checkpoint of step {step} (it has "
                     f"{checkpointer.all_steps()})")
    target = {"params": abstract_params,
              "extra": {} if abstract_extra is None else abstract_extra}
    restored = checkpointer.restore_subtree(step, target)
  finally:
    checkpointer.close()
  check_finite_params(restored, os.path.join(workdir, CHECKPOINTS, str(step)))
  return step, restored["params"], restored["extra"]


def load_lm(workdir: str, step: int | None = None):
  """(run config, T5Config, step, params) of a ``motiongpt train`` run."""
  t5_config = read_t5_config(workdir)
  config = read_config(workdir)
  step, params, _ = load_params(workdir, t5_abstract_params(t5_config), step=step)
  return config, t5_config, step, params


def load_vqvae(workdir: str, step: int | None = None):
  """(config, model, step, params, codebook state) of a ``motiongpt train-vqvae`` run."""
  config = read_config(workdir)
  model = vq_model.build_model(config.model, config.data.feature_dim)
  x = jnp.zeros((1, 4 * 2, config.data.feature_dim))
  params = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), x)["params"])
  k, d = config.model.num_codes, config.model.code_dim
  codebook = quantizer.CodebookState(*(jax.ShapeDtypeStruct(s, jnp.float32)
                                       for s in ((k, d), (k, d), (k,))))
  try:
    step, params, codebook = load_params(workdir, params, codebook, step)
  except RunError as e:
    raise RunError(f"{e}: train with `motiongpt train-vqvae --workdir {workdir}` "
                   f"first") from None
  return config, model, step, params, codebook


def vqvae_identity(workdir: str, step: int) -> dict:
  """What a tokens folder records of the VQ-VAE that made it."""
  return {"step": int(step), "config_hash": config_hash(read_config(workdir))}


def check_vqvae_identity(workdir: str, expected: dict, where: str) -> None:
  """Raises RunError unless the VQ-VAE run at ``workdir`` is the one ``expected`` names."""
  if not os.path.exists(os.path.join(workdir, CONFIG)):
    raise RunError(f"{where} refers to the VQ-VAE run {workdir}, which does not exist; copy "
                   f"it along with the tokens (keep their relative places)")
  found = config_hash(read_config(workdir))
  if expected.get("config_hash") and found != expected["config_hash"]:
    raise RunError(f"{where} was made by a VQ-VAE of config hash {expected['config_hash']}, "
                   f"but {workdir} holds config hash {found}: tokenize again")


# ------------------------------------------------------------------------ tokens folder
TOKENS = "tokens.json"


def write_tokens_meta(tokens_dir: str, meta: dict, vqvae_dir: str, data_dir: str) -> dict:
  """``tokens_dir/tokens.json``: ``meta`` plus where the VQ-VAE and the data are (relative
  to ``tokens_dir``) and the VQ-VAE's identity."""
  meta = dict(meta)
  if vqvae_dir:
    meta["vqvae"] = relative_ref(vqvae_dir, tokens_dir)
    meta["vqvae_identity"] = vqvae_identity(vqvae_dir, meta["vqvae_step"])
  else:
    meta["vqvae"] = ""
  meta["data"] = relative_ref(data_dir, tokens_dir)
  write_json(os.path.join(tokens_dir, TOKENS), meta)
  return read_tokens_meta(tokens_dir)


def read_tokens_meta(tokens_dir: str) -> dict:
  """tokens.json with ``vqvae`` and ``data`` resolved to absolute paths."""
  path = os.path.join(tokens_dir, TOKENS)
  if not os.path.exists(path):
    raise RunError(f"{tokens_dir} is not a tokens folder: {TOKENS} is missing (make one "
                   f"with `motiongpt tokenize`)")
  try:
    with open(path) as f:
      meta = json.load(f)
  except (OSError, ValueError) as e:
    raise RunError(f"{path}: not readable JSON ({e})") from None
  if not isinstance(meta, dict) or "num_codes" not in meta:
    raise RunError(f"{path}: expected a JSON object with num_codes, frames_per_token, ...")
  for key in ("vqvae", "data"):
    meta[key] = resolve_ref(meta.get(key, ""), tokens_dir)
  return meta


def tokens_vqvae(tokens_dir: str) -> tuple[str, int | None]:
  """(VQ-VAE run folder, step) that made a tokens folder, its identity checked."""
  meta = read_tokens_meta(tokens_dir)
  if not meta["vqvae"]:
    raise RunError(f"{os.path.join(tokens_dir, TOKENS)} names no VQ-VAE: tokens made by "
                   f"`motiongpt tokenize` are needed to turn codes into motion")
  where = os.path.join(tokens_dir, TOKENS)
  check_vqvae_identity(meta["vqvae"], meta.get("vqvae_identity", {}), where)
  return meta["vqvae"], meta.get("vqvae_step")


# ------------------------------------------------------------------- one writer, resumes
LOCK = ".lock"


class RunLockedError(ValueError):
  """Another process is writing this work directory."""


class WriterLock:
  """An exclusive lock on a work directory while a process trains in it.

  ``fcntl.flock`` on ``workdir/.lock``: the kernel releases it when the process ends, however
  it ends, so a crashed run never leaves it stuck. The file names the holder (pid, host,
  command) for the message a second writer gets.
  """

  def __init__(self, workdir: str):
    self.workdir = workdir
    self.path = os.path.join(workdir, LOCK)
    self._file = None

  def __enter__(self):
    os.makedirs(self.workdir, exist_ok=True)
    if jax.process_count() > 1 and jax.process_index() != 0:
      return self  # in a multi-process run, process 0 holds the lock for all
    self._file = open(self.path, "a+")
    try:
      fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      self._file.seek(0)
      holder = self._file.read().strip() or "another process"
      self._file.close()
      raise RunLockedError(f"{self.workdir} is being written by {holder}; wait for it to "
                           f"finish or stop it (one writer per work directory)") from None
    self._file.seek(0)
    self._file.truncate()
    self._file.write(f"pid {os.getpid()} on {socket.gethostname()}: "
                     f"{' '.join(sys.argv)[:200]}\n")
    self._file.flush()
    return self

  def __exit__(self, *exc):
    if self._file is not None:
      fcntl.flock(self._file, fcntl.LOCK_UN)
      self._file.close()


def check_resume(workdir: str, config: ml_collections.ConfigDict, t5_config=None) -> None:
  """Before anything in ``workdir`` is rewritten: if it already holds checkpoints, the new
  config must describe the same model (model block, feature dimension, the T5's
  architecture); otherwise raises ValueError naming what differs."""
  if latest_step(workdir) is None or not os.path.exists(os.path.join(workdir, CONFIG)):
    return
  old = read_config(workdir)
  differences = []
  for key in ("model", "data.feature_dim"):
    a, b = _get(old, key), _get(config, key)
    a = a.to_dict() if isinstance(a, ml_collections.ConfigDict) else a
    b = b.to_dict() if isinstance(b, ml_collections.ConfigDict) else b
    if isinstance(a, dict) and isinstance(b, dict):
      differences += [f"{key}.{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b))
                      if a.get(k) != b.get(k) and k not in ("dtype", "dropout_rate")]
    elif a is not None and b is not None and a != b:
      differences.append(f"{key}: {a!r} -> {b!r}")
  if t5_config is not None and os.path.exists(os.path.join(workdir, T5_CONFIG)):
    a = t5_checkpoints.config_to_dict(read_t5_config(workdir))
    b = t5_checkpoints.config_to_dict(t5_config)
    differences += [f"t5.{k}: {a[k]!r} -> {b[k]!r}" for k in sorted(a)
                    if a[k] != b.get(k) and k not in ("dtype", "dropout_rate")]
  if differences:
    raise ValueError(f"{workdir} holds checkpoints of another model; resuming with this "
                     f"config would not fit ({'; '.join(differences[:4])}); use a new "
                     f"--workdir. Nothing was changed.")


def clean_stale_temporaries(workdir: str) -> list[str]:
  """Removes what a killed save left behind (Orbax ``*.orbax-checkpoint-tmp*`` folders,
  ``*.tmp`` files); call only while holding the writer lock."""
  removed = []
  folder = os.path.join(workdir, CHECKPOINTS)
  for base in (workdir, folder):
    if not os.path.isdir(base):
      continue
    for name in os.listdir(base):
      path = os.path.join(base, name)
      if ".orbax-checkpoint-tmp" in name and os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
      elif name.endswith(".tmp") and os.path.isfile(path):
        os.remove(path)
        removed.append(path)
  return removed


def check_finite_params(tree, where: str) -> None:
  """Refuses parameters with NaN or infinite values (a run that diverged)."""
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  bad = [jax.tree_util.keystr(path) for path, x in leaves
         if jnp.issubdtype(jnp.result_type(x), jnp.inexact) and not bool(jnp.isfinite(x).all())]
  if bad:
    raise ValueError(f"{where}: {len(bad)} parameter arrays hold NaN or infinite values "
                     f"(first {bad[0]}); this run diverged: retrain it (lower the learning "
                     f"rate)")
