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
  config.lock()
  return config


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
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    f.write(config.to_json_best_effort(indent=2, sort_keys=True))
  os.replace(tmp, path)


def read_config(path: str) -> ml_collections.ConfigDict:
  if not os.path.exists(path):
    raise ConfigError(f"{path} does not exist: is this a training work directory?")
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))
