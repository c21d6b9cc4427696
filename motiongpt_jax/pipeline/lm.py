"""Stages 2 and 3: the T5 on a SeqIO mixture (pre-training, instruction tuning)."""

from __future__ import annotations

import os

import seqio

import tasks
from motiongpt_jax import runs
from motiongpt_jax.pipeline.common import resolve_config, training_run
from motiongpt_jax.pipeline.report import Reporter
from motiongpt_jax.t5 import checkpoints as t5_checkpoints
from motiongpt_jax.t5 import config as t5_config
from motiongpt_jax.t5 import t5x_checkpoints
from motiongpt_jax.t5.lm_task import T5Task
from motiongpt_jax.t5.network import Transformer
from motiongpt_jax.t5.seqio_batches import SeqioBatches
from motiongpt_jax.t5.seqio_eval import PeriodicEvaluator
from motiongpt_jax.train import trainer
from motiongpt_jax.vocab import MotionTextVocabulary, vocabulary_for_tokens

DEFAULT_CONFIG = "t5_pretrain.py:tiny"


def data_paths(data: str, tokens: str | None = None, spm: str | None = None
               ) -> tuple[str, str, str]:
  """(data, tokens, spm) with the defaults DATA/tokens and DATA/spiece.model, checked."""
  tokens = tokens or os.path.join(data, "tokens")
  spm = spm or os.path.join(data, "spiece.model")
  for path, what in ((data, "data folder"), (tokens, "tokens folder (motiongpt tokenize)"),
                     (spm, "SentencePiece model (motiongpt vocab train)")):
    if not os.path.exists(path):
      raise FileNotFoundError(f"{path}: no {what}")
  return data, tokens, spm


def initial_model(config, vocab: MotionTextVocabulary, model_config, report: Reporter):
  """(model config, initial params or None) from ``config.init_from``: an earlier stage's
  run folder (parameters only), a T5X checkpoint (model dir, checkpoint_N folder or its
  msgpack file; config inferred from the shapes) or a Hugging Face T5 folder. The
  vocabulary of a T5X / Hugging Face T5 is enlarged with the motion tokens, unless the
  checkpoint already holds exactly this vocabulary (an ``export-t5`` of a run)."""
  source = config.init_from
  if not source:
    return model_config, None
  if os.path.exists(os.path.join(source, runs.T5_CONFIG)):
    _, earlier, step, params = runs.load_lm(source)
    if earlier.vocab_size != model_config.vocab_size:
      raise ValueError(f"{source} was trained with a vocabulary of {earlier.vocab_size} rows, "
                       f"this data's vocabulary needs {model_config.vocab_size}")
    report.log(f"starting from {source} at step {step}")
    return earlier.replace(dtype=model_config.dtype,
                           dropout_rate=model_config.dropout_rate), params
  if t5x_checkpoints.is_t5x_checkpoint(source):
    loaded_config, params, info = t5x_checkpoints.load_t5x_t5(source)
    kind = "T5X checkpoint"
    report.log(f"{source}: {info['layout']}, step {info['step']}, parameters stored as "
               f"{info['dtypes']} (read as float32), config {info['config']}; "
               f"{info['optimizer_arrays']} optimizer-state arrays ignored (parameters only)")
  else:
    loaded_config, params = t5_checkpoints.load_hf_t5(source)
    kind = "Hugging Face checkpoint"
  if loaded_config.real_vocab_size != vocab.vocab_size:
    loaded_config, params = t5_checkpoints.enlarge_vocab(
        loaded_config, params, vocab.num_motion_codes + 3, used_vocab=vocab.text_size)
  if loaded_config.real_vocab_size != vocab.vocab_size:
    raise ValueError(f"{source}: after adding the motion tokens the checkpoint has "
                     f"{loaded_config.real_vocab_size} ids but the vocabulary has "
                     f"{vocab.vocab_size}; use the checkpoint's own spiece.model")
  report.log(f"starting from the {kind} {source}")
  return loaded_config.replace(dtype=model_config.dtype,
                               dropout_rate=model_config.dropout_rate), params


def train_lm(data: str, workdir: str, config=None, overrides=(), tokens: str | None = None,
             spm: str | None = None, report: Reporter | None = None) -> trainer.TrainResult:
  """Trains (or resumes) the T5 of ``config`` (a ConfigDict or a config file spec; default
  ``configs/t5_pretrain.py:tiny``) on its SeqIO mixture over ``data``'s tokens."""
  report = report or Reporter()
  config = resolve_config(config, overrides, DEFAULT_CONFIG)
  data, tokens, spm = data_paths(data, tokens, spm)
  tasks.register(data, tokens, spm, config.data.get("drop_one_token", 0.0),
                 config.data.get("core_rate", 4.0), config.data.get("task_rates", ""))
  vocab = vocabulary_for_tokens(tokens, spm)
  shape = {k: config.model[k] for k in t5_config.SHAPE_FIELDS
           if config.model.get(k) is not None}
  model_config = t5_config.get_preset(
      config.model.preset, dtype=config.model.dtype, dropout_rate=config.model.dropout_rate,
      **shape,
      vocab_size=t5_checkpoints.round_up(vocab.vocab_size, 128),
      real_vocab_size=vocab.vocab_size)
  model_config, init_params = initial_model(config, vocab, model_config, report)
  with config.unlocked():
    config.data.path, config.data.tokens, config.data.spm = (
        os.path.abspath(data), os.path.abspath(tokens), os.path.abspath(spm))
  tc = config.train
  cache_dir = config.data.get("cache_dir", "")
  if cache_dir:  # `motiongpt tasks cache`: read the mixture's tasks from seqio's cache
    from motiongpt_jax.pipeline import cache
    cache.check_cache(cache_dir, data, tokens, spm,
                      [t.name for t in seqio.get_mixture_or_task(config.mixture).tasks])
    report.log(f"reading the cached tasks of {config.mixture} from {cache_dir}")
    with config.unlocked():
      config.data.cache_dir = os.path.abspath(cache_dir)
  batches = SeqioBatches(config.mixture, config.data.inputs_length,
                         config.data.targets_length, tc.batch_size, tc.seed,
                         use_cached=bool(cache_dir), pack=config.data.get("pack", False))
  eval_batches = SeqioBatches(config.mixture, config.data.inputs_length,
                              config.data.targets_length, tc.batch_size, tc.seed,
                              split="validation", repeat=False,
                              use_cached=bool(cache_dir)).first(tc.eval_batches) \
      if tc.eval_every else []  # (eval_every 0: never evaluated, so never built)
  seqio_evaluator = None  # (built only when used: seqio.Evaluator reads its tasks' examples)
  if tc.eval_every and tc.get("seqio_eval_examples", 0) and tc.get("seqio_eval_tasks", ""):
    seqio_evaluator = PeriodicEvaluator(
        Transformer(model_config.replace(dropout_rate=0.0)),
        [n.strip() for n in tc.seqio_eval_tasks.split(",") if n.strip()],
        config.data.inputs_length, config.data.targets_length, tc.seqio_eval_examples,
        eos_id=vocab.eos_id)
  code_noise = (config.loss.get("code_noise", 0.0), vocab.motion_offset,
                vocab.num_motion_codes)
  task = T5Task(model_config, batches.batch, config.loss.z_loss, config.loss.label_smoothing,
                init_params, eval_batches, seqio_evaluator, code_noise)
  with training_run(workdir, config, model_config):
    report.log(f"T5 {config.model.preset} ({config.stage}) on {config.mixture}: vocabulary "
               f"{vocab.vocab_size} ids in {model_config.vocab_size} rows")
    return trainer.train(task, tc, workdir, log=report.log)
