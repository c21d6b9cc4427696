"""Config files: ``path/to/file.py[:variant]`` plus ``--config.a.b=value`` overrides.

A config file defines ``get_config(variant: str | None) -> ml_collections.ConfigDict``, the
convention of ml_collections' ``config_flags`` (used by big_vision and the Flax examples),
but without absl flags so the ``motiongpt`` command keeps one argparse parser.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import json
import math
import os

import ml_collections

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ConfigError(ValueError):
  """A config file, variant or override is not valid; the message says which."""


def _resolve_path(path: str) -> str:
  if os.path.exists(path):
    return path
  in_repo = os.path.join(REPO_ROOT, path)
  if os.path.exists(in_repo):
    return in_repo
  raise ConfigError(f"config file {path!r} does not exist")


def load_sibling(config_file: str, name: str):
  """The module of another config file in ``config_file``'s folder (configs share helpers
  and variants this way, without being a package)."""
  path = os.path.join(os.path.dirname(os.path.abspath(config_file)), name)
  module_spec = importlib.util.spec_from_file_location(f"_motiongpt_config_{name[:-3]}", path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module


def project_config(spec: str) -> str:
  """``name.py[:variant]`` of the project's own ``configs/`` folder as an absolute spec, so
  a default never picks up a ``configs/`` folder of the current directory."""
  return os.path.join(REPO_ROOT, "configs", spec)


def load_config(spec: str, overrides: list[str] | None = None) -> ml_collections.ConfigDict:
  """Loads ``file.py[:variant]`` and applies ``a.b=value`` overrides (the prefix
  ``--config.`` is optional), then locks the config so a typo in code fails loudly."""
  path, _, variant = spec.partition(":")
  path = _resolve_path(path)
  module_spec = importlib.util.spec_from_file_location("_motiongpt_config", path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ConfigError(f"config file {path} defines no get_config(variant)")
  config = module.get_config(variant or None)
  for item in overrides or []:
    apply_override(config, item)
  validate(config, path)
  config.lock()
  return config


# ------------------------------------------------------------------------------ checks
# Every setting any config of the project holds, checked once, here, when a config is loaded
# (from a file, or given as an object to a library stage). Keys absent from a config are
# skipped; a key of a known name anywhere under the listed block is checked.
_POSITIVE_INTS = ("train.steps", "train.batch_size", "train.log_every",
                  "train.checkpoint_every", "train.keep_checkpoints", "train.mesh_model",
                  "train.eval_batches", "model.width", "model.code_dim", "model.num_codes",
                  "model.depth", "model.dilation_growth", "model.word_size",
                  "model.text_hidden", "model.motion_hidden", "model.movement_hidden",
                  "model.movement_latent", "model.embedding", "data.window",
                  "data.inputs_length", "data.targets_length", "data.max_frames",
                  "data.min_word_count", "num", "pictures", "vocab_size", "sampling.top_k",
                  "steps.vqvae", "steps.pretrain", "steps.instruct", "steps.evaluator",
                  "eval.replications", "eval.mm_captions", "eval.mm_repeats",
                  "eval.m2m_replications")
_NON_NEGATIVE_INTS = ("train.warmup_steps", "train.eval_every", "train.seed",
                      "train.seqio_eval_examples", "model.down_t", "seed", "eval.limit")
# (key, low, high, low inclusive): finite floats in a range.
_FLOAT_RANGES = (("train.learning_rate", 0.0, 10.0, False),
                 ("train.final_lr_fraction", 0.0, 1.0, True), ("train.b1", 0.0, 1.0, True),
                 ("train.b2", 0.0, 1.0, True), ("train.weight_decay", 0.0, 1e3, True),
                 ("train.grad_clip", 0.0, 1e12, True), ("model.ema_decay", 0.0, 1.0, True),
                 ("model.dropout_rate", 0.0, 1.0, True), ("loss.velocity_weight", 0.0, 1e6, True),
                 ("loss.commit_weight", 0.0, 1e6, True), ("loss.z_loss", 0.0, 1e6, True),
                 ("loss.label_smoothing", 0.0, 1.0, True), ("loss.margin", 0.0, 1e6, False),
                 ("sampling.temperature", 0.0, 1e3, True))


def _lookup(config, dotted: str):
  node = config
  for part in dotted.split("."):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      return _MISSING
    node = node[part]
  return node


_MISSING = object()


def validate(config: ml_collections.ConfigDict, where: str = "config") -> None:
  """Raises ConfigError naming the first setting out of range (or of the wrong type)."""
  def fail(key, value, expected):
    raise ConfigError(f"{where}: {key} = {value!r}: expected {expected}")

  for key in _POSITIVE_INTS + _NON_NEGATIVE_INTS:
    value = _lookup(config, key)
    if value is _MISSING:
      continue
    low = 1 if key in _POSITIVE_INTS else 0
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
      fail(key, value, f"an integer >= {low}")
  for key, low, high, inclusive in _FLOAT_RANGES:
    value = _lookup(config, key)
    if value is _MISSING:
      continue
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
        value) or not (low <= value if inclusive else low < value) or value > high:
      fail(key, value, f"a finite number in {'[' if inclusive else '('}{low:g}, {high:g}]")
  down_t, window = _lookup(config, "model.down_t"), _lookup(config, "data.window")
  if down_t is not _MISSING and window is not _MISSING and window % (2 ** down_t):
    fail("data.window", window, f"a multiple of {2 ** down_t} (2 ** model.down_t frames "
         f"per token)")
  if _lookup(config, "loss.margin") is not _MISSING:  # the evaluator's contrastive loss
    batch = _lookup(config, "train.batch_size")
    if batch is not _MISSING and batch < 2:
      fail("train.batch_size", batch, "at least 2: the contrastive loss pairs each caption "
           "with another motion of the batch")


def _all_keys(config: ml_collections.ConfigDict, prefix: str = "") -> list[str]:
  keys = []
  for key, value in config.items():
    keys.append(prefix + key)
    if isinstance(value, ml_collections.ConfigDict):
      keys.extend(_all_keys(value, prefix + key + "."))
  return keys


def _parse_value(text: str, current, key: str):
  if isinstance(current, str):
    return text
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    if current is None:
      return text
    raise ConfigError(f"--config.{key}={text}: expected a {type(current).__name__}, "
                      f"got {text!r}") from None
  if isinstance(value, bool) != isinstance(current, bool):
    raise ConfigError(f"--config.{key}={text}: expected a {type(current).__name__} "
                      f"(now {current!r}), got {type(value).__name__}")
  if current is None or isinstance(value, type(current)):
    return value
  if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
    return float(value)
  if isinstance(current, tuple) and isinstance(value, list):
    return tuple(value)
  raise ConfigError(f"--config.{key}={text}: expected a {type(current).__name__} "
                    f"(now {current!r}), got {type(value).__name__}")


def apply_override(config: ml_collections.ConfigDict, item: str) -> None:
  item = item.removeprefix("--").removeprefix("config.")
  if "=" not in item:
    raise ConfigError(f"override {item!r} is not of the form --config.key=value")
  key, text = item.split("=", 1)
  node = config
  parts = key.split(".")
  for depth, part in enumerate(parts):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      known = _all_keys(config)
      close = difflib.get_close_matches(key, known, n=3)
      hint = f"; did you mean {', '.join(close)}?" if close else ""
      raise ConfigError(f"config has no key {key!r}{hint}")
    if depth < len(parts) - 1:
      node = node[part]
  leaf = parts[-1]
  with node.unlocked():
    node[leaf] = _parse_value(text, node[leaf], key)


def save_config(config: ml_collections.ConfigDict, path: str) -> None:
  tmp = f"{path}.{os.getpid()}.tmp"
  with open(tmp, "w") as f:
    f.write(config.to_json_best_effort(indent=2, sort_keys=True))
  os.replace(tmp, path)


def read_config(path: str) -> ml_collections.ConfigDict:
  if not os.path.exists(path):
    raise ConfigError(f"{path} does not exist: is this a training work directory?")
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))
