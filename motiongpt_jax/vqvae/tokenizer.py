"""``MotionTokenizer``: a trained VQ-VAE as encode/decode functions, loaded from a workdir.

Inputs are *normalised* features (``(x - Mean) / Std`` of the data set the VQ-VAE was
trained on); ``encode`` crops a length that is not a multiple of 4 down to one (see
``model``'s length rule). Both accept one motion [T, D] or a batch [B, T, D] of equal
lengths and are jitted (one compilation per distinct shape).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from motiongpt_jax import runs
from motiongpt_jax.vqvae import model as vq_model
from motiongpt_jax.vqvae import quantizer


@functools.lru_cache(maxsize=8)
def _jitted_functions(model: vq_model.MotionVQVAE):
  """encode/decode compiled once per model (and shape), shared by all tokenizers of it."""

  def encode(params, codebook, x):
    z = model.apply({"params": params}, x, method=vq_model.MotionVQVAE.encode)
    return quantizer.nearest_codes(z, codebook).astype(jnp.int32)

  def decode(params, codebook, codes, lengths=None):
    z = quantizer.lookup(codes, codebook)
    return model.apply({"params": params}, z, lengths, method=vq_model.MotionVQVAE.decode)

  return jax.jit(encode), jax.jit(decode)


LENGTH_BUCKET = 8  # decode_many pads code sequences to a multiple of this many tokens


class MotionTokenizer:

  def __init__(self, model: vq_model.MotionVQVAE, params, codebook, config=None):
    self.model = model
    self.params = params
    self.codebook = jnp.asarray(codebook)
    self.config = config
    self.unit = vq_model.frames_per_token(model)

    self._encode, self._decode = _jitted_functions(model)

  @property
  def num_codes(self) -> int:
    return int(self.codebook.shape[0])

  @property
  def feature_dim(self) -> int:
    return self.model.feature_dim

  def encode(self, features) -> np.ndarray:
    """[T, D] -> [T // 4] or [B, T, D] -> [B, T // 4] int32 codes."""
    x = np.asarray(features, np.float32)
    if x.ndim not in (2, 3) or x.shape[-1] != self.feature_dim:
      raise ValueError(f"expected features [T, {self.feature_dim}] or "
                       f"[B, T, {self.feature_dim}], got shape {x.shape}")
    x = vq_model.crop_to_tokens(x, self.unit)
    single = x.ndim == 2
    codes = self._encode(self.params, self.codebook, x[None] if single else x)
    codes = np.asarray(codes)
    return codes[0] if single else codes

  def encode_many(self, motions, batch_size: int = 64) -> list[np.ndarray]:
    """Each of many motions [T, D] -> its codes [T // 4], as ``encode`` gives them one by
    one: motions of the same token length are encoded together in batches of
    ``batch_size`` rows (the shape ``token_files.tokenize_folder`` compiles, so the two
    share their compilations), one compilation per length."""
    crops = [vq_model.crop_to_tokens(np.asarray(m, np.float32), self.unit) for m in motions]
    for x in crops:
      if x.ndim != 2 or x.shape[-1] != self.feature_dim:
        raise ValueError(f"expected features [T, {self.feature_dim}], got shape {x.shape}")
    by_length: dict[int, list[int]] = {}
    for i, x in enumerate(crops):
      by_length.setdefault(len(x), []).append(i)
    out: list = [None] * len(crops)
    for frames, rows in sorted(by_length.items()):
      for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        x = np.zeros((batch_size, frames, self.feature_dim), np.float32)
        for j, i in enumerate(chunk):
          x[j] = crops[i]
        codes = np.asarray(self._encode(self.params, self.codebook, x)) if frames else \
            np.zeros((batch_size, 0), np.int32)
        for j, i in enumerate(chunk):
          out[i] = codes[j]
    return out

  def decode(self, codes) -> np.ndarray:
    """[N] -> [4N, D] or [B, N] -> [B, 4N, D] normalised features."""
    c = np.asarray(codes)
    if c.ndim not in (1, 2) or not np.issubdtype(c.dtype, np.integer):
      raise ValueError(f"expected integer codes [N] or [B, N], got {c.dtype} {c.shape}")
    if c.size and (c.min() < 0 or c.max() >= self.num_codes):
      raise ValueError(f"codes must lie in [0, {self.num_codes}), got {c.min()}..{c.max()}")
    single = c.ndim == 1
    out = np.asarray(self._decode(self.params, self.codebook,
                                  jnp.asarray(c[None] if single else c, jnp.int32)))
    return out[0] if single else out

  def decode_many(self, code_lists, batch_size: int = 64,
                  longest: int | None = None) -> list[np.ndarray]:
    """Each of many code sequences -> its normalised features [4N, D], as ``decode`` gives
    them one by one (to float round-off). Sequences are padded to a multiple of
    ``LENGTH_BUCKET`` tokens and decoded together with their lengths (the decoder reads
    zeros past each row's end, see ``model``), in batches of ``batch_size`` rows (or 8 for a
    short remainder), so a whole evaluation compiles a handful of shapes instead of one per
    length and batch. ``longest``: the longest length the caller can give (no bucket is
    padded past it), so calls whose longest sequences differ share shapes."""
    code_lists = [np.asarray(c) for c in code_lists]
    for c in code_lists:
      if c.ndim != 1 or not np.issubdtype(c.dtype, np.integer):
        raise ValueError(f"expected integer code sequences [N], got {c.dtype} {c.shape}")
      if c.size and (c.min() < 0 or c.max() >= self.num_codes):
        raise ValueError(f"codes must lie in [0, {self.num_codes}), got {c.min()}..{c.max()}")
    longest = max(max(map(len, code_lists), default=0), longest or 0)
    by_bucket: dict[int, list[int]] = {}
    for i, c in enumerate(code_lists):  # the longest length is a bucket of its own
      by_bucket.setdefault(min(-(-len(c) // LENGTH_BUCKET) * LENGTH_BUCKET, longest),
                           []).append(i)
    out: list = [None] * len(code_lists)
    for bucket, rows in sorted(by_bucket.items()):
      if bucket == 0:
        for i in rows:
          out[i] = np.zeros((0, self.feature_dim), np.float32)
        continue
      for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        width = min(8, batch_size) if len(chunk) <= 8 else batch_size  # two batch shapes
        codes = np.zeros((width, bucket), np.int32)
        lengths = np.ones(width, np.int32)  # padding rows: one token of code 0
        for j, i in enumerate(chunk):
          codes[j, :len(code_lists[i])] = code_lists[i]
          lengths[j] = len(code_lists[i])
        decoded = np.asarray(self._decode(self.params, self.codebook, codes, lengths))
        for j, i in enumerate(chunk):
          out[i] = decoded[j, :self.unit * lengths[j]]
    return out

  @classmethod
  def load(cls, workdir: str, step: int | None = None) -> "MotionTokenizer":
    """From a ``motiongpt train-vqvae`` work directory (the latest step by default)."""
    config, model, step, params, codebook = runs.load_vqvae(workdir, step)
    tok = cls(model, params, codebook.codebook, config)
    tok.step = step
    return tok
