"""The T5 as a ``TrainTask`` of the shared trainer: loss, dropout, sharded parameters."""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from motiongpt_jax import partitioning
from motiongpt_jax.t5 import losses
from motiongpt_jax.t5.config import T5Config
from motiongpt_jax.t5.network import Transformer, abstract_params, init_variables

BATCH_KEYS = ("encoder_input_tokens", "decoder_input_tokens", "decoder_target_tokens")


def param_logical_specs(model: Transformer):
  boxed = jax.eval_shape(lambda: init_variables(model, jax.random.PRNGKey(0)))
  return partitioning.logical_specs(boxed)["params"]


def loss_fn(model: Transformer, params, batch: dict, dropout_key, *, z_loss: float = 1e-4,
            label_smoothing: float = 0.0, enable_dropout: bool = True):
  """T5X's loss on a batch with encoder_input_tokens, decoder_input_tokens,
  decoder_target_tokens and optionally decoder_loss_weights; a packed batch also has
  encoder_segment_ids and decoder_segment_ids (seqio's ``EncDecFeatureConverter(pack=True)``;
  its positions are not needed: the relative position biases see only distances)."""
  logits = model.apply({"params": params}, batch["encoder_input_tokens"],
                       batch["decoder_input_tokens"], batch["decoder_target_tokens"],
                       encoder_segment_ids=batch.get("encoder_segment_ids"),
                       decoder_segment_ids=batch.get("decoder_segment_ids"),
                       enable_dropout=enable_dropout, rngs={"dropout": dropout_key})
  return losses.weighted_loss(logits, batch["decoder_target_tokens"],
                              batch.get("decoder_loss_weights"), z_loss, label_smoothing,
                              real_vocab_size=model.config.real_vocab_size)


def corrupt_codes(tokens, key, rate: float, first_id: int, count: int):
  """T2M-GPT's input corruption (Zhang et al. 2023, ``train_t2m_trans.py``): each token of
  ``tokens`` that is one of the ``count`` motion codes from ``first_id`` on is replaced, with
  probability ``rate``, by a code drawn uniformly. Applied to the decoder's inputs only (the
  targets stay), it teaches the model to continue after its own sampling errors."""
  swap_key, code_key = jax.random.split(key)
  is_code = (tokens >= first_id) & (tokens < first_id + count)
  swap = is_code & jax.random.bernoulli(swap_key, rate, tokens.shape)
  codes = first_id + jax.random.randint(code_key, tokens.shape, 0, count, tokens.dtype)
  return jnp.where(swap, codes, tokens)


class T5Task:
  """Trains a T5 on batches from ``batch_fn(step)`` (a pure function of the step)."""

  def __init__(self, config: T5Config, batch_fn: Callable[[int], dict], z_loss: float = 1e-4,
               label_smoothing: float = 0.0, init_params=None,
               eval_batches: list[dict] | None = None, seqio_evaluator=None,
               code_noise: tuple[float, int, int] | None = None):
    """``code_noise``: (rate, first motion-code id, number of codes) for
    ``corrupt_codes`` on the training batches' decoder inputs; None or rate 0: none."""
    self.model = Transformer(config)
    self.code_noise = code_noise if code_noise and code_noise[0] > 0 else None
    self.seqio_evaluator = seqio_evaluator  # params -> {name: value}, e.g. PeriodicEvaluator
    self.batch_fn = batch_fn
    self.z_loss, self.label_smoothing = z_loss, label_smoothing
    self.init_params = init_params
    self.eval_batches = eval_batches or []
    self._eval_loss = jax.jit(lambda params, batch: loss_fn(
        self.model, params, batch, jax.random.PRNGKey(0), z_loss=0.0,
        enable_dropout=False)[1])

  def init(self, key):
    if self.init_params is not None:
      return self.init_params, {}
    return nn.unbox(init_variables(self.model, key)["params"]), {}

  def loss_fn(self, params, extra, batch, key):
    if self.code_noise:
      key, noise_key = jax.random.split(key)
      batch = dict(batch, decoder_input_tokens=corrupt_codes(
          batch["decoder_input_tokens"], noise_key, *self.code_noise))
    loss, metrics = loss_fn(self.model, params, batch, key, z_loss=self.z_loss,
                            label_smoothing=self.label_smoothing)
    return loss, (extra, metrics)

  def batch(self, step: int) -> dict:
    return self.batch_fn(step)

  def param_shardings(self, mesh, abstract_params):
    specs = param_logical_specs(self.model)
    partitioning.check_divisible(mesh, abstract_params, specs)
    return partitioning.mesh_shardings(mesh, specs)

  def evaluate(self, params, extra) -> dict:
    """Cross-entropy (without z-loss) and token accuracy on the fixed validation batches,
    then the seqio evaluator's task metrics when one is set."""
    report = {}
    if self.eval_batches:
      scores = [jax.device_get(self._eval_loss(params, b)) for b in self.eval_batches]
      tokens = sum(float(s["target_tokens"]) for s in scores)
      report = {"validation_loss": sum(float(s["loss"]) * float(s["target_tokens"])
                                       for s in scores) / tokens,
                "validation_accuracy": sum(float(s["accuracy"]) * float(s["target_tokens"])
                                           for s in scores) / tokens}
    if self.seqio_evaluator is not None:
      report.update(self.seqio_evaluator(params))
    return report
