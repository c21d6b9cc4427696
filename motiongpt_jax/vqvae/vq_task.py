"""Training the VQ-VAE with the shared trainer: data windows, the task, evaluation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from motiongpt_jax.data import humanml3d, order
from motiongpt_jax.motion import features as F
from motiongpt_jax.vqvae import model as vq_model
from motiongpt_jax.vqvae import quantizer
from motiongpt_jax.vqvae.tokenizer import MotionTokenizer


class MotionWindows:
  """Random fixed-length crops of whole motions, in an order fixed by the seed.

  Every epoch visits each motion once in a seeded permutation; the crop offsets of step
  ``s`` come from a generator seeded with (seed, s). So ``batch(s)`` is a pure function of
  ``s``, which is what makes resumed runs repeat the same data.
  """

  def __init__(self, motions: list[np.ndarray], window: int, batch_size: int, seed: int):
    self.motions = [m for m in motions if len(m) >= window]
    if not self.motions:
      raise humanml3d.DataError(f"no motion has the {window} frames a training window "
                                f"needs; lower --config.data.window")
    self.window, self.batch_size, self.seed = window, batch_size, seed

  def batch(self, step: int) -> dict:
    n = len(self.motions)
    rng = np.random.default_rng([self.seed, 1, step])
    rows = []
    for j in range(self.batch_size):
      position = step * self.batch_size + j
      motion = self.motions[order.item_at(position, n, self.seed)]
      start = rng.integers(0, len(motion) - self.window + 1)
      rows.append(motion[start:start + self.window])
    return {"motion": np.stack(rows).astype(np.float32)}


class VQVAETask:
  """The VQ-VAE as a ``TrainTask``."""

  def __init__(self, config, train_motions: list[np.ndarray],
               eval_samples: list[humanml3d.Sample] | None = None,
               mean: np.ndarray | None = None, std: np.ndarray | None = None):
    self.config = config
    self.model = vq_model.build_model(config.model, config.data.feature_dim)
    self.windows = MotionWindows(train_motions, config.data.window, config.train.batch_size,
                                 config.train.seed)
    self.eval_samples, self.mean, self.std = eval_samples, mean, std

  def init(self, key):
    init_key, seed_key = jax.random.split(key)
    # The codebook starts from encoder outputs of the first batch (as the reference's
    # lazy initialisation), so it lies where the data is.
    first = jnp.asarray(self.windows.batch(0)["motion"])
    params = self.model.init(init_key, first[:1])["params"]
    z = self.model.apply({"params": params}, first, method=vq_model.MotionVQVAE.encode)
    codebook = quantizer.init_codebook(z, self.config.model.num_codes, seed_key)
    return params, codebook

  def loss_fn(self, params, codebook_state, batch, key):
    return vq_model.vqvae_loss(self.model, params, codebook_state, batch["motion"], key,
                               self.config.loss, self.config.model.ema_decay)

  def batch(self, step: int) -> dict:
    return self.windows.batch(step)

  def param_shardings(self, mesh, abstract_params):
    return None  # a few MB of conv kernels: replicate

  def evaluate(self, params, codebook_state) -> dict:
    if not self.eval_samples:
      return {}
    tokenizer = MotionTokenizer(self.model, params, codebook_state.codebook)
    return reconstruction_report(tokenizer, self.eval_samples, self.mean, self.std)


def reconstruction_report(tokenizer: MotionTokenizer, samples, mean, std,
                          keep: int = 0) -> dict:
  """Reconstruction quality over whole motions.

  mpjpe_mm: mean per-joint position error in millimetres of joints recovered from the
  features, with each frame's root joint aligned (as MotionGPT's MRMetrics);
  mpjpe_global_mm: the same without alignment (includes root drift);
  perplexity and codes_used: over all tokens of the samples.
  If ``keep`` > 0 the first ``keep`` (sample, original joints, reconstructed joints) are
  returned under "examples".
  """
  errors, global_errors, counts, examples = [], [], np.zeros(tokenizer.num_codes), []
  all_codes = tokenizer.encode_many([sample.motion for sample in samples])
  recons = tokenizer.decode_many(all_codes)
  for sample, codes, recon in zip(samples, all_codes, recons):
    original = sample.motion[:len(recon)]
    joints_a = F.features_to_joints(original * std + mean)
    joints_b = F.features_to_joints(recon * std + mean)
    global_errors.append(np.linalg.norm(joints_a - joints_b, axis=-1).mean())
    aligned_a = joints_a - joints_a[:, :1]
    aligned_b = joints_b - joints_b[:, :1]
    errors.append(np.linalg.norm(aligned_a - aligned_b, axis=-1).mean())
    np.add.at(counts, codes, 1)
    if len(examples) < keep:
      examples.append((sample, joints_a, joints_b))
  report = {"mpjpe_mm": 1000.0 * float(np.mean(errors)),
            "mpjpe_global_mm": 1000.0 * float(np.mean(global_errors)),
            "perplexity": float(quantizer.perplexity(jnp.asarray(counts))),
            "codes_used": int(np.sum(counts > 0))}
  if keep:
    report["examples"] = examples
  return report
