"""The text-motion evaluator (Guo et al.): train one, or convert the official weights."""

from __future__ import annotations

import os

from motiongpt_jax.evaluation.evaluator import Evaluator, convert_official
from motiongpt_jax.evaluation.evaluator_task import build_task
from motiongpt_jax.pipeline.common import resolve_config, training_run
from motiongpt_jax.pipeline.report import Reporter
from motiongpt_jax.train import trainer

DEFAULT_CONFIG = "evaluator.py:tiny"


def train_evaluator(data: str, workdir: str, config=None, overrides=(),
                    report: Reporter | None = None) -> trainer.TrainResult:
  """Trains (or resumes) an evaluator of ``config`` (default ``configs/evaluator.py:tiny``)
  on ``data``'s training captions in ``workdir``."""
  report = report or Reporter()
  config = resolve_config(config, overrides, DEFAULT_CONFIG)
  task = build_task(config, data)
  with config.unlocked():
    config.data.path = os.path.abspath(data)
  with training_run(workdir, config):
    task.as_evaluator(None).save(workdir)
    report.log(f"evaluator {config.variant}: {len(task.batches.samples)} training pairs, "
               f"{task.batches.vocab.size} words, {len(task.eval_samples)} validation "
               f"motions")
    return trainer.train(task, config.train, workdir, log=report.log)


def convert_evaluator(checkpoint: str, glove: str, meta: str, data: str, out: str,
                      report: Reporter | None = None) -> Evaluator:
  """The official evaluator weights (``text_mot_match/model/finest.tar``) into ``out``."""
  report = report or Reporter()
  evaluator = convert_official(checkpoint, glove, meta, data, out)
  report.log(f"converted the official evaluator ({evaluator.config}) into {out}")
  return evaluator
