"""T5X's training loss: cross-entropy with z-loss and optional label smoothing.

loss_i = -sum_v q_v log softmax(logits)_v + z_loss * logsumexp(logits)^2, where q is the
one-hot target smoothed to (1 - ls) on the target and ls / (V - 1) elsewhere; the constant
entropy of q is subtracted so a perfect prediction scores 0 (T5X ``compute_weighted_cross_entropy``).
Padding targets (id 0) get weight 0; the sum is divided by the number of real target tokens
("NUM_REAL_TARGET_TOKENS" normalisation) unless ``normalize`` is False.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from motiongpt_jax import reductions


def cross_entropy_with_z_loss(logits, targets, z_loss: float = 1e-4,
                              label_smoothing: float = 0.0, real_vocab_size: int | None = None):
  """Per-token (loss, z_loss part) [b, l] from float logits [b, l, V] and ids [b, l]."""
  logits = logits.astype(jnp.float32)
  vocab = real_vocab_size or logits.shape[-1]
  confidence = 1.0 - label_smoothing
  low = label_smoothing / (vocab - 1)
  normalizing_constant = -(confidence * jnp.log(confidence)
                           + (vocab - 1) * low * jnp.log(low + 1e-20)) if label_smoothing else 0.0
  log_z = jax.nn.logsumexp(logits, axis=-1)
  log_softmax = logits - log_z[..., None]
  # -sum_v q_v log p_v without materialising the one-hot [b, l, V] target.
  target_logp = jnp.take_along_axis(log_softmax, targets[..., None].astype(jnp.int32),
                                    axis=-1)[..., 0]
  loss = -(confidence - low) * target_logp - normalizing_constant
  if label_smoothing:
    real = jnp.arange(logits.shape[-1]) < vocab
    loss = loss - low * jnp.sum(jnp.where(real, log_softmax, 0.0), axis=-1)
  z_term = z_loss * jnp.square(log_z)
  return loss + z_term, z_term


def weighted_loss(logits, targets, weights=None, z_loss: float = 1e-4,
                  label_smoothing: float = 0.0, normalize: bool = True,
                  real_vocab_size: int | None = None):
  """(loss, metrics) over a batch; weights default to ``targets > 0``."""
  if weights is None:
    weights = (targets > 0).astype(jnp.float32)
  per_token, z_term = cross_entropy_with_z_loss(logits, targets, z_loss, label_smoothing,
                                                real_vocab_size)
  total = jnp.sum(per_token * weights)
  num_tokens = jnp.maximum(jnp.sum(weights), 1.0)
  loss = total / num_tokens if normalize else total
  correct = (reductions.argmax(logits) == targets).astype(jnp.float32)
  metrics = {"loss": loss, "z_loss": jnp.sum(z_term * weights) / num_tokens,
             "accuracy": jnp.sum(correct * weights) / num_tokens,
             "target_tokens": jnp.sum(weights)}
  return loss, metrics
