"""T5 building blocks with T5X's parameter names and logical axis annotations.

Parameter names and shapes follow T5X's minimal T5 (``t5x/examples/t5/layers.py``):
DenseGeneral ``kernel`` (no biases), RMS LayerNorm ``scale``, Embed ``embedding``,
RelativePositionBiases ``rel_embedding`` [heads, buckets]. Logical axes: 'embed', 'mlp',
'heads', 'kv', 'vocab', 'relpos_buckets' for parameters; 'batch', 'length' for activations.
As in T5X, the query projection's 1/sqrt(head_dim) scaling is folded into its
initialisation, so attention logits are not scaled at run time (same as Hugging Face T5).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# The one masking value for logits and attention biases (T5X's): softmax gives exactly 0.
NEG_INF = -1e10
Initializer = Callable[..., jnp.ndarray]

default_kernel_init = nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal")


def constrain(x, axes):
  """Logical sharding constraint on an activation (no-op outside a mesh/rules context)."""
  return nn.with_logical_constraint(x, axes)


@jax.custom_vjp
def add_batch_shared(x, bias):
  """``x + bias`` for ``bias`` [1, ...] shared by every row of ``x`` [B, ...].

  The same function; only the gradient of ``bias`` is formed differently: XLA:CPU reduces
  the batch axis of a [32, 4, 128, 128] cotangent ~75x slower than a product with a vector
  of ones (docs/performance.md), and this sum ran four times per tiny-T5 training step
  (the relative position biases of each self-attention layer).
  """
  return x + bias


def _add_batch_shared_fwd(x, bias):
  return x + bias, bias


def _add_batch_shared_bwd(bias, g):
  ones = jnp.ones((g.shape[0],), g.dtype)
  summed = jax.lax.dot_general(ones, g, (((0,), (0,)), ((), ())))
  return g, summed[None].astype(bias.dtype)


add_batch_shared.defvjp(_add_batch_shared_fwd, _add_batch_shared_bwd)


def _canonical_axes(axis, ndim):
  axis = (axis,) if isinstance(axis, int) else tuple(axis)
  return tuple(a % ndim for a in axis)


class DenseGeneral(nn.Module):
  """A linear map over one or more input axes to one or more output axes, no bias."""
  features: int | Sequence[int]
  axis: int | Sequence[int] = -1
  kernel_axes: tuple[str, ...] = ()
  dtype: Any = jnp.float32
  kernel_init: Initializer = default_kernel_init

  @nn.compact
  def __call__(self, inputs):
    features = (self.features,) if isinstance(self.features, int) else tuple(self.features)
    axis = _canonical_axes(self.axis, inputs.ndim)
    in_shape = tuple(inputs.shape[a] for a in axis)
    kernel_shape = in_shape + features
    # Initialise as a 2-D matrix so fan-in/fan-out are those of the flattened map (as T5X).
    flat_shape = (int(np.prod(in_shape)), int(np.prod(features)))

    def init(key, shape, dtype):
      return jnp.reshape(self.kernel_init(key, flat_shape, dtype), shape)

    kernel = self.param("kernel", nn.with_logical_partitioning(init, self.kernel_axes),
                        kernel_shape, jnp.float32)
    kernel = jnp.asarray(kernel, self.dtype)
    inputs = jnp.asarray(inputs, self.dtype)
    # As one 2-D matmul [rows, in] x [in, out]: XLA:CPU runs the weight gradient of a
    # batched dot_general several times slower than the same plain GEMM.
    batch_axes = tuple(a for a in range(inputs.ndim) if a not in axis)
    x = jnp.transpose(inputs, batch_axes + axis) if axis != tuple(
        range(inputs.ndim - len(axis), inputs.ndim)) else inputs
    batch_shape = tuple(inputs.shape[a] for a in batch_axes)
    y = x.reshape(-1, flat_shape[0]) @ kernel.reshape(flat_shape)
    return y.reshape(batch_shape + features)


class LayerNorm(nn.Module):
  """T5's RMS norm: scale * x / sqrt(mean(x^2) + eps), computed in float32."""
  epsilon: float = 1e-6
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    x = jnp.asarray(x, jnp.float32)
    variance = jnp.mean(jnp.square(x), axis=-1, keepdims=True)
    y = jnp.asarray(x * jax.lax.rsqrt(variance + self.epsilon), self.dtype)
    scale = self.param("scale", nn.with_logical_partitioning(nn.initializers.ones, ("embed",)),
                       (x.shape[-1],), jnp.float32)
    return y * jnp.asarray(scale, self.dtype)


class Embed(nn.Module):
  """Token embedding; ``attend`` gives logits against the same table (tied output)."""
  num_embeddings: int
  features: int
  dtype: Any = jnp.float32
  attend_dtype: Any = jnp.float32
  embedding_init: Initializer = nn.initializers.normal(stddev=1.0)

  def setup(self):
    self.embedding = self.param(
        "embedding", nn.with_logical_partitioning(self.embedding_init, ("vocab", "embed")),
        (self.num_embeddings, self.features), jnp.float32)

  def __call__(self, ids):
    if not jnp.issubdtype(ids.dtype, jnp.integer):
      raise ValueError(f"token ids must be integers, got {ids.dtype}")
    # A gather; T5X's one-hot matmul variant is for TPUs without fast gathers.
    return jnp.asarray(jnp.take(self.embedding, ids, axis=0), self.dtype)

  def attend(self, query):
    query = jnp.asarray(query, self.attend_dtype)
    return jnp.dot(query, jnp.asarray(self.embedding, self.attend_dtype).T)


def relative_position_bucket(relative_position, bidirectional: bool, num_buckets: int,
                             max_distance: int, xp=np):
  """T5's bucketing of key-minus-query offsets: exact for small ones, log-spaced up to
  ``max_distance``, one bucket beyond. Half the buckets per direction when bidirectional.
  ``xp=jnp`` for traced positions (decoding)."""
  ret = 0
  n = -relative_position
  if bidirectional:
    num_buckets //= 2
    ret += (n < 0).astype(np.int32) * num_buckets
    n = xp.abs(n)
  else:
    n = xp.maximum(n, 0)
  max_exact = num_buckets // 2
  is_small = n < max_exact
  val_if_large = max_exact + (
      xp.log(n.astype(np.float32) / max_exact + np.finfo(np.float32).eps)
      / np.log(max_distance / max_exact) * (num_buckets - max_exact)).astype(np.int32)
  val_if_large = xp.minimum(val_if_large, num_buckets - 1)
  return ret + xp.where(is_small, n, val_if_large)


class RelativePositionBiases(nn.Module):
  num_buckets: int
  max_distance: int
  num_heads: int
  dtype: Any = jnp.float32
  embedding_init: Initializer = nn.initializers.variance_scaling(1.0, "fan_avg", "uniform")

  @nn.compact
  def __call__(self, qlen: int, klen: int, bidirectional: bool = True, query_offset=None):
    """Bias [1, heads, qlen, klen]. ``query_offset`` (traced) places the queries at
    positions offset..offset+qlen-1, for one-token-at-a-time decoding."""
    context = np.arange(qlen, dtype=np.int32)[:, None]
    memory = np.arange(klen, dtype=np.int32)[None, :]
    rel_embedding = self.param(
        "rel_embedding",
        nn.with_logical_partitioning(self.embedding_init, ("heads", "relpos_buckets")),
        (self.num_heads, self.num_buckets), jnp.float32)
    if query_offset is None:
      buckets = relative_position_bucket(memory - context, bidirectional, self.num_buckets,
                                         self.max_distance)
      buckets = jnp.asarray(buckets)
    else:
      buckets = relative_position_bucket(memory - (context + query_offset), bidirectional,
                                         self.num_buckets, self.max_distance, xp=jnp)
    values = jnp.take(jnp.asarray(rel_embedding, self.dtype), buckets, axis=1)  # [h, q, k]
    return values[None]


class MultiHeadDotProductAttention(nn.Module):
  """Multi-head attention with T5X's names (query/key/value/out) and an optional
  key/value cache for incremental decoding (collection 'cache')."""
  num_heads: int
  head_dim: int
  dtype: Any = jnp.float32
  dropout_rate: float = 0.0
  kernel_init: Initializer = nn.initializers.variance_scaling(1.0, "fan_in", "normal")
  float32_logits: bool = True
  cross_attention: bool = False

  @nn.compact
  def __call__(self, inputs_q, inputs_kv, mask=None, bias=None, *, decode: bool = False,
               deterministic: bool = True, max_decode_length: int | None = None):
    projection = functools.partial(DenseGeneral, axis=-1, features=(self.num_heads,
                                                                    self.head_dim),
                                   kernel_axes=("embed", "heads", "kv"), dtype=self.dtype)
    depth_scaling = jnp.sqrt(self.head_dim).astype(jnp.float32)

    def query_init(*args):
      return self.kernel_init(*args) / depth_scaling

    query = projection(kernel_init=query_init, name="query")(inputs_q)
    query = constrain(query, ("batch", "length", "heads", "kv"))
    key_proj = projection(kernel_init=self.kernel_init, name="key")
    value_proj = projection(kernel_init=self.kernel_init, name="value")

    # Keys and values are [batch, length, heads, kv] while training. The decoding caches hold
    # them heads-major, [batch, heads, length, kv]: the layout the per-step attention products
    # read directly. (Stored [b, l, h, d], XLA:CPU transposed every cache on every decoding
    # step, a cost that grew with batch x length and dominated batched sampling.)
    heads_major = False
    if decode and self.cross_attention:
      # Keys/values of the encoder output are the same at every step: project them once,
      # when the cache is created, and read them back afterwards.
      heads_major = True
      created = self.has_variable("cache", "cached_key")
      if created:
        key = self.get_variable("cache", "cached_key")
        value = self.get_variable("cache", "cached_value")
      else:
        key = key_proj(inputs_kv).transpose(0, 2, 1, 3)
        value = value_proj(inputs_kv).transpose(0, 2, 1, 3)
        self.put_variable("cache", "cached_key", key)
        self.put_variable("cache", "cached_value", value)
    else:
      key = constrain(key_proj(inputs_kv), ("batch", "length", "heads", "kv"))
      value = constrain(value_proj(inputs_kv), ("batch", "length", "heads", "kv"))

    if decode and not self.cross_attention:
      # Self-attention over a cache of max_decode_length positions, one position per call.
      if max_decode_length is None:
        raise ValueError("decode=True needs max_decode_length")
      heads_major = True
      created = self.has_variable("cache", "cached_key")
      shape = (key.shape[0], key.shape[2], max_decode_length, key.shape[3])
      cached_key = self.variable("cache", "cached_key", jnp.zeros, shape, key.dtype)
      cached_value = self.variable("cache", "cached_value", jnp.zeros, shape, value.dtype)
      cache_index = self.variable("cache", "cache_index", lambda: jnp.array(0, jnp.int32))
      if inputs_q.shape[1] != 1:
        raise ValueError(f"incremental decoding takes one token per step, got "
                         f"{inputs_q.shape[1]}")
      if created:
        index = cache_index.value
        key = jax.lax.dynamic_update_slice(
            cached_key.value, key.transpose(0, 2, 1, 3).astype(cached_key.value.dtype),
            (0, 0, index, 0))
        value = jax.lax.dynamic_update_slice(
            cached_value.value, value.transpose(0, 2, 1, 3).astype(cached_value.value.dtype),
            (0, 0, index, 0))
        cached_key.value, cached_value.value = key, value
        cache_index.value = index + 1
        visible = (jnp.arange(max_decode_length) <= index)[None, None, None, :]
        mask = visible if mask is None else jnp.logical_and(mask, visible)
      else:
        key, value = cached_key.value, cached_value.value

    if self.float32_logits:
      query, key = query.astype(jnp.float32), key.astype(jnp.float32)
    kv = "bhkd" if heads_major else "bkhd"
    logits = jnp.einsum(f"bqhd,{kv}->bhqk", query, key)
    if mask is not None:  # [b, 1, q, k]: 0 where attended, NEG_INF elsewhere
      logits = logits + jax.lax.select(mask > 0, jnp.zeros(mask.shape, logits.dtype),
                                       jnp.full(mask.shape, NEG_INF, logits.dtype))
    if bias is not None:  # the position biases [1, h, q, k] (or [b, h, q, k])
      bias = bias.astype(logits.dtype)
      logits = (add_batch_shared(logits, bias) if bias.shape[0] == 1 < logits.shape[0]
                else logits + bias)
    weights = jax.nn.softmax(logits).astype(self.dtype)
    if not deterministic and self.dropout_rate > 0:
      keep = jax.random.bernoulli(self.make_rng("dropout"), 1.0 - self.dropout_rate,
                                  weights.shape)
      weights = weights * keep.astype(self.dtype) / (1.0 - self.dropout_rate)
    x = jnp.einsum(f"bhqk,{kv}->bqhd", weights, value.astype(self.dtype))
    x = constrain(x, ("batch", "length", "heads", "kv"))
    return DenseGeneral(features=inputs_q.shape[-1], axis=(-2, -1),
                        kernel_axes=("heads", "kv", "embed"), kernel_init=self.kernel_init,
                        dtype=self.dtype, name="out")(x)


_ACTIVATIONS = {"relu": nn.relu, "gelu": nn.gelu, "linear": lambda x: x,
                "gelu_exact": functools.partial(nn.gelu, approximate=False)}


class MlpBlock(nn.Module):
  """Position-wise MLP: wi (one activation) or wi_0, wi_1, ... (gated product), then wo."""
  intermediate_dim: int
  activations: Sequence[str] = ("relu",)
  kernel_init: Initializer = nn.initializers.variance_scaling(1.0, "fan_in", "truncated_normal")
  intermediate_dropout_rate: float = 0.1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, inputs, deterministic: bool = True):
    hidden = []
    for i, name in enumerate(self.activations):
      layer = "wi" if len(self.activations) == 1 else f"wi_{i}"
      x = DenseGeneral(self.intermediate_dim, kernel_axes=("embed", "mlp"),
                       kernel_init=self.kernel_init, dtype=self.dtype, name=layer)(inputs)
      hidden.append(_ACTIVATIONS[name](x))
    x = functools.reduce(jnp.multiply, hidden)
    x = nn.Dropout(self.intermediate_dropout_rate, broadcast_dims=(-2,))(
        x, deterministic=deterministic)
    x = constrain(x, ("batch", "length", "mlp"))
    return DenseGeneral(inputs.shape[-1], kernel_axes=("mlp", "embed"),
                        kernel_init=self.kernel_init, dtype=self.dtype, name="wo")(x)


def make_attention_mask(query_input, key_input, dtype=jnp.float32):
  """[b, q] x [b, k] booleans -> [b, 1, q, k]."""
  mask = jnp.logical_and(query_input[..., :, None], key_input[..., None, :])
  return mask[:, None].astype(dtype)


def make_causal_mask(x, dtype=jnp.float32):
  """Lower-triangular [b, 1, len, len] mask for the tokens [b, len]."""
  idx = jnp.broadcast_to(jnp.arange(x.shape[-1], dtype=jnp.int32), x.shape)
  return (idx[..., :, None] >= idx[..., None, :])[:, None].astype(dtype)


def combine_masks(*masks):
  masks = [m for m in masks if m is not None]
  if not masks:
    return None
  out = masks[0]
  for m in masks[1:]:
    out = jnp.logical_and(out, m)
  return out.astype(jnp.float32)
