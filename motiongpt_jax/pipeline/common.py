"""Helpers the stages share: configs given as objects or files, a training run's folder."""

from __future__ import annotations

import contextlib

import ml_collections

from motiongpt_jax import config_utils, runs


def resolve_config(config, overrides=(), default: str | None = None
                   ) -> ml_collections.ConfigDict:
  """A stage's config from a ConfigDict (copied), a ``file.py[:variant]`` spec, or None for
  ``default`` (a spec in the project's own configs/ folder); overrides applied, locked."""
  if config is None:
    config = config_utils.project_config(default)
  if isinstance(config, str):
    return config_utils.load_config(config, list(overrides))
  config = ml_collections.ConfigDict(config.to_dict())
  for item in overrides:
    config_utils.apply_override(config, item)
  config_utils.validate(config)
  config.lock()
  return config


@contextlib.contextmanager
def training_run(workdir: str, config: ml_collections.ConfigDict, t5_config=None):
  """The work directory of a training stage, held by this process alone: stale temporaries
  of a killed run removed, the resume checked against the checkpoints already there (before
  anything is rewritten), then config.json (and t5_config.json) written."""
  with runs.WriterLock(workdir):
    runs.clean_stale_temporaries(workdir)
    runs.check_resume(workdir, config, t5_config)
    runs.write_config(workdir, config)
    if t5_config is not None:
      runs.write_t5_config(workdir, t5_config)
    yield
