"""The motion VQ-VAE network (1-D convolutions over time) and its loss.

Layout [batch, frames, channels]. Architecture of T2M-GPT / MotionGPT (``mgpt_vq.py``):
encoder = conv3 -> ReLU -> ``down_t`` x (strided conv4/2 -> residual stack) -> conv3;
decoder = conv3 -> ReLU -> ``down_t`` x (residual stack -> nearest x2 upsample -> conv3)
-> conv3 -> ReLU -> conv3. A residual block is pre-activation: x + conv1(ReLU(conv3_d(ReLU(x))))
with dilation d; a stack runs dilations growth**(depth-1) .. 1. No normalisation layers.

Length rule: the encoder maps T frames to T / 2**down_t tokens when T is a multiple of
2**down_t (4). Other lengths are cropped down to the last multiple of 4 by ``encode`` (the
reference data loaders crop the same way), so ``decode(encode(x))`` has ``T // 4 * 4`` frames.

Padded batches: ``decode(z, lengths)`` decodes rows of different lengths in one shape. Every
convolution of the decoder reads zeros beyond a row's own length (as its zero padding gives
a row decoded alone), so each row's first ``4 * length`` frames equal its decoding alone;
the frames after them are meaningless.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from motiongpt_jax.vqvae import quantizer


def _conv(features: int, kernel: int, name: str, stride: int = 1, dilation: int = 1,
          padding: int | None = None, dtype: Any = jnp.float32) -> nn.Conv:
  pad = dilation * (kernel - 1) // 2 if padding is None else padding
  return nn.Conv(features, (kernel,), strides=(stride,), kernel_dilation=(dilation,),
                 padding=[(pad, pad)], dtype=dtype, param_dtype=jnp.float32, name=name)


def _zero_after(x, valid):
  """x [B, T, C] with the frames where ``valid`` [B, T, 1] is False set to zero."""
  return x if valid is None else jnp.where(valid, x, jnp.zeros((), x.dtype))


def _valid(lengths, frames: int):
  return None if lengths is None else (jnp.arange(frames)[None, :] < lengths[:, None])[..., None]


class ResidualStack(nn.Module):
  width: int
  depth: int
  growth: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, valid=None):
    for i, dilation in enumerate(reversed([self.growth ** d for d in range(self.depth)])):
      h = _conv(self.width, 3, f"block_{i}_conv_dilated", dilation=dilation,
                dtype=self.dtype)(_zero_after(nn.relu(x), valid))
      h = _conv(self.width, 1, f"block_{i}_conv_1x1", dtype=self.dtype)(nn.relu(h))
      x = x + h
    return x


class Encoder(nn.Module):
  width: int
  code_dim: int
  down_t: int
  depth: int
  growth: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    x = nn.relu(_conv(self.width, 3, "conv_in", dtype=self.dtype)(x.astype(self.dtype)))
    for i in range(self.down_t):
      x = _conv(self.width, 4, f"down_{i}", stride=2, padding=1, dtype=self.dtype)(x)
      x = ResidualStack(self.width, self.depth, self.growth, self.dtype, name=f"res_{i}")(x)
    return _conv(self.code_dim, 3, "conv_out", dtype=self.dtype)(x)


class Decoder(nn.Module):
  width: int
  feature_dim: int
  down_t: int
  depth: int
  growth: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, lengths=None):
    """z [B, N, code_dim] -> [B, 4N, feature_dim]; ``lengths`` [B] (tokens) or None (all N)."""
    valid = _valid(lengths, z.shape[1])
    x = nn.relu(_conv(self.width, 3, "conv_in", dtype=self.dtype)(
        _zero_after(z.astype(self.dtype), valid)))
    for i in range(self.down_t):
      x = ResidualStack(self.width, self.depth, self.growth, self.dtype, name=f"res_{i}")(
          x, valid)
      x = jnp.repeat(x, 2, axis=1)  # nearest-neighbour upsampling in time
      lengths = None if lengths is None else 2 * lengths
      valid = _valid(lengths, x.shape[1])
      x = _conv(self.width, 3, f"up_{i}", dtype=self.dtype)(_zero_after(x, valid))
    x = nn.relu(_conv(self.width, 3, "conv_mid", dtype=self.dtype)(_zero_after(x, valid)))
    return _conv(self.feature_dim, 3, "conv_out", dtype=self.dtype)(
        _zero_after(x, valid)).astype(jnp.float32)


class MotionVQVAE(nn.Module):
  """Encoder and decoder; the codebook lives outside the parameters (see quantizer)."""
  feature_dim: int
  width: int = 512
  code_dim: int = 512
  down_t: int = 2
  depth: int = 3
  growth: int = 3
  dtype: Any = jnp.float32

  def setup(self):
    self.encoder = Encoder(self.width, self.code_dim, self.down_t, self.depth, self.growth,
                           self.dtype)
    self.decoder = Decoder(self.width, self.feature_dim, self.down_t, self.depth,
                           self.growth, self.dtype)

  def __call__(self, x):
    return self.decoder(self.encoder(x))

  def encode(self, x):
    return self.encoder(x).astype(jnp.float32)

  def decode(self, z, lengths=None):
    return self.decoder(z, lengths)


def build_model(model_config, feature_dim: int) -> MotionVQVAE:
  return MotionVQVAE(feature_dim=feature_dim, width=model_config.width,
                     code_dim=model_config.code_dim, down_t=model_config.down_t,
                     depth=model_config.depth, growth=model_config.dilation_growth,
                     dtype=jnp.dtype(model_config.dtype))


def frames_per_token(model: MotionVQVAE) -> int:
  return 2 ** model.down_t


def joint_position_dims(feature_dim: int) -> slice:
  """The root-relative joint positions, which the reference's 'velocity' loss term uses
  (``4:(joints - 1) * 3 + 4``: dims 4..66 for HumanML3D's 22 joints)."""
  from motiongpt_jax.motion.skeleton import skeleton_for_feature_dim
  joints = skeleton_for_feature_dim(feature_dim).num_joints
  return slice(4, 4 + (joints - 1) * 3)


def forward_with_codebook(model: MotionVQVAE, params, codebook: jnp.ndarray, x: jnp.ndarray):
  """Encode, quantise (straight-through), decode. Returns (reconstruction, z, codes, z_q)."""
  z = model.apply({"params": params}, x, method=MotionVQVAE.encode)
  codes = quantizer.nearest_codes(z, codebook)
  z_q = quantizer.lookup(codes, codebook)
  z_st = z + jax.lax.stop_gradient(z_q - z)  # straight-through estimator
  recon = model.apply({"params": params}, z_st, method=MotionVQVAE.decode)
  return recon, z, codes, z_q


def vqvae_loss(model: MotionVQVAE, params, codebook_state: quantizer.CodebookState,
               motion: jnp.ndarray, key: jax.Array, loss_config, ema_decay: float):
  """Training loss and the codebook's EMA update for one batch [B, T, D] (T % 4 == 0).

  Loss = smooth-L1(recon, x) + velocity_weight * smooth-L1 on the joint-position dims
  + commit_weight * MSE(z, stop_gradient(z_q)). The codebook update uses the codes chosen
  with the codebook from before the step, as the reference does.
  """
  recon, z, codes, z_q = forward_with_codebook(model, params, codebook_state.codebook, motion)
  dims = joint_position_dims(motion.shape[-1])
  reconstruction = jnp.mean(optax.huber_loss(recon, motion, delta=1.0))
  velocity = jnp.mean(optax.huber_loss(recon[..., dims], motion[..., dims], delta=1.0))
  commitment = jnp.mean((z - jax.lax.stop_gradient(z_q)) ** 2)
  loss = (reconstruction + loss_config.velocity_weight * velocity
          + loss_config.commit_weight * commitment)
  new_state, stats = quantizer.ema_update(codebook_state, z, codes, ema_decay, key)
  metrics = {"loss": loss, "reconstruction": reconstruction, "velocity": velocity,
             "commitment": commitment, **stats}
  return loss, (new_state, metrics)


def crop_to_tokens(x, unit: int = 4):
  """Drop trailing frames so the length is a multiple of ``unit`` (the documented rule)."""
  length = x.shape[-2] // unit * unit
  if length == 0:
    raise ValueError(f"a motion of {x.shape[-2]} frames is shorter than one token "
                     f"({unit} frames)")
  return x[..., :length, :]
