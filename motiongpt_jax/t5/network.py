"""The T5 encoder-decoder, module for module as T5X's minimal T5 (``network.py``).

Parameter tree::

  token_embedder/embedding                                   [vocab, embed]
  encoder/relpos_bias/rel_embedding                          [heads, buckets]
  encoder/layers_N/{pre_attention_layer_norm, attention/{query,key,value,out},
                    pre_mlp_layer_norm, mlp/{wi | wi_0, wi_1, wo}}
  encoder/encoder_norm/scale
  decoder/relpos_bias/rel_embedding
  decoder/layers_N/{pre_self_attention_layer_norm, self_attention,
                    pre_cross_attention_layer_norm, encoder_decoder_attention,
                    pre_mlp_layer_norm, mlp}
  decoder/decoder_norm/scale
  decoder/logits_dense/kernel                                [embed, vocab] (untied only)

Usage as T5X: ``Transformer(config).apply({'params': p}, encoder_input_tokens,
decoder_input_tokens, decoder_target_tokens, enable_dropout=False) -> logits``. Packed
batches (several examples per row, seqio's ``EncDecFeatureConverter(pack=True)``) also pass
``encoder_segment_ids`` and ``decoder_segment_ids``: attention then stays inside each example,
so every example's logits equal those of it alone (relative position biases depend only on
the distance between two tokens of one example).
Token id 0 is padding. If ``config.real_vocab_size`` is set, logits of the rows past it
(padding added to reach a multiple of 128) are pushed to -1e10 so they are never predicted.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from motiongpt_jax.t5 import layers
from motiongpt_jax.t5.config import T5Config


class EncoderLayer(nn.Module):
  config: T5Config
  relative_embedding: nn.Module

  @nn.compact
  def __call__(self, inputs, encoder_mask=None, deterministic=False):
    cfg = self.config
    length = inputs.shape[-2]
    bias = self.relative_embedding(length, length, True)
    x = layers.LayerNorm(cfg.layer_norm_epsilon, cfg.activation_dtype,
                         name="pre_attention_layer_norm")(inputs)
    x = layers.MultiHeadDotProductAttention(
        cfg.num_heads, cfg.head_dim, cfg.activation_dtype, cfg.dropout_rate,
        float32_logits=cfg.float32_attention_logits, name="attention")(
            x, x, encoder_mask, bias, deterministic=deterministic)
    x = nn.Dropout(cfg.dropout_rate, broadcast_dims=(-2,))(x, deterministic=deterministic)
    x = x + inputs
    y = layers.LayerNorm(cfg.layer_norm_epsilon, cfg.activation_dtype,
                         name="pre_mlp_layer_norm")(x)
    y = layers.MlpBlock(cfg.mlp_dim, cfg.mlp_activations,
                        intermediate_dropout_rate=cfg.dropout_rate,
                        dtype=cfg.activation_dtype, name="mlp")(y, deterministic=deterministic)
    y = nn.Dropout(cfg.dropout_rate, broadcast_dims=(-2,))(y, deterministic=deterministic)
    return layers.constrain(y + x, ("batch", "length", "embed"))


class DecoderLayer(nn.Module):
  config: T5Config
  relative_embedding: nn.Module

  @nn.compact
  def __call__(self, inputs, encoded, decoder_mask=None, encoder_decoder_mask=None,
               deterministic=False, decode=False, max_decode_length=None):
    cfg = self.config
    length = inputs.shape[-2]
    if decode:
      # One query position (the cache index) against all max_decode_length keys.
      bias = None  # computed inside via the cache index; see _decode_bias
    else:
      bias = self.relative_embedding(length, length, False)
    x = layers.LayerNorm(cfg.layer_norm_epsilon, cfg.activation_dtype,
                         name="pre_self_attention_layer_norm")(inputs)
    attention = layers.MultiHeadDotProductAttention(
        cfg.num_heads, cfg.head_dim, cfg.activation_dtype, cfg.dropout_rate,
        float32_logits=cfg.float32_attention_logits, name="self_attention")
    if decode:
      bias = self._decode_bias(attention, max_decode_length)
    x = attention(x, x, decoder_mask, bias, decode=decode, deterministic=deterministic,
                  max_decode_length=max_decode_length)
    x = nn.Dropout(cfg.dropout_rate, broadcast_dims=(-2,))(x, deterministic=deterministic)
    x = x + inputs
    y = layers.LayerNorm(cfg.layer_norm_epsilon, cfg.activation_dtype,
                         name="pre_cross_attention_layer_norm")(x)
    y = layers.MultiHeadDotProductAttention(
        cfg.num_heads, cfg.head_dim, cfg.activation_dtype, cfg.dropout_rate,
        float32_logits=cfg.float32_attention_logits, cross_attention=True,
        name="encoder_decoder_attention")(
            y, encoded, encoder_decoder_mask, decode=decode, deterministic=deterministic)
    y = nn.Dropout(cfg.dropout_rate, broadcast_dims=(-2,))(y, deterministic=deterministic)
    y = y + x
    z = layers.LayerNorm(cfg.layer_norm_epsilon, cfg.activation_dtype,
                         name="pre_mlp_layer_norm")(y)
    z = layers.MlpBlock(cfg.mlp_dim, cfg.mlp_activations,
                        intermediate_dropout_rate=cfg.dropout_rate,
                        dtype=cfg.activation_dtype, name="mlp")(z, deterministic=deterministic)
    z = nn.Dropout(cfg.dropout_rate, broadcast_dims=(-2,))(z, deterministic=deterministic)
    return layers.constrain(z + y, ("batch", "length", "embed"))

  def _decode_bias(self, attention, max_decode_length):
    # The position of the token being decoded is the attention cache's index (0 at init).
    if attention.has_variable("cache", "cache_index"):
      index = attention.get_variable("cache", "cache_index")
    else:
      index = jnp.array(0, jnp.int32)
    return self.relative_embedding(1, max_decode_length, False, query_offset=index)


class Encoder(nn.Module):
  config: T5Config
  shared_embedding: nn.Module

  @nn.compact
  def __call__(self, encoder_input_tokens, encoder_mask=None, deterministic=False):
    cfg = self.config
    rel_emb = layers.RelativePositionBiases(
        cfg.relative_attention_num_buckets, cfg.relative_attention_max_distance,
        cfg.num_heads, cfg.activation_dtype, name="relpos_bias")
    x = self.shared_embedding(encoder_input_tokens.astype(jnp.int32))
    x = nn.Dropout(cfg.dropout_rate, broadcast_dims=(-2,))(x, deterministic=deterministic)
    x = x.astype(cfg.activation_dtype)
    for i in range(cfg.num_encoder_layers):
      x = EncoderLayer(cfg, rel_emb, name=f"layers_{i}")(x, encoder_mask, deterministic)
    x = layers.LayerNorm(cfg.layer_norm_epsilon, cfg.activation_dtype, name="encoder_norm")(x)
    return nn.Dropout(cfg.dropout_rate)(x, deterministic=deterministic)


class Decoder(nn.Module):
  config: T5Config
  shared_embedding: nn.Module

  @nn.compact
  def __call__(self, encoded, decoder_input_tokens, decoder_mask=None,
               encoder_decoder_mask=None, deterministic=False, decode=False,
               max_decode_length=None):
    cfg = self.config
    rel_emb = layers.RelativePositionBiases(
        cfg.relative_attention_num_buckets, cfg.relative_attention_max_distance,
        cfg.num_heads, cfg.activation_dtype, name="relpos_bias")
    y = self.shared_embedding(decoder_input_tokens.astype(jnp.int32))
    y = nn.Dropout(cfg.dropout_rate, broadcast_dims=(-2,))(y, deterministic=deterministic)
    y = y.astype(cfg.activation_dtype)
    for i in range(cfg.num_decoder_layers):
      y = DecoderLayer(cfg, rel_emb, name=f"layers_{i}")(
          y, encoded, decoder_mask, encoder_decoder_mask, deterministic, decode,
          max_decode_length)
    y = layers.LayerNorm(cfg.layer_norm_epsilon, cfg.activation_dtype, name="decoder_norm")(y)
    y = nn.Dropout(cfg.dropout_rate, broadcast_dims=(-2,))(y, deterministic=deterministic)
    if cfg.logits_via_embedding:
      # Tied output: rescale by 1/sqrt(d_model) as Mesh TF / T5X / Hugging Face do.
      logits = self.shared_embedding.attend(y) / jnp.sqrt(y.shape[-1])
    else:
      logits = layers.DenseGeneral(cfg.vocab_size, kernel_axes=("embed", "vocab"),
                                   dtype=jnp.float32, name="logits_dense")(y)
    logits = logits.astype(jnp.float32)
    if cfg.real_vocab_size is not None and cfg.real_vocab_size < cfg.vocab_size:
      usable = jnp.arange(cfg.vocab_size) < cfg.real_vocab_size
      logits = jnp.where(usable, logits, layers.NEG_INF)
    return layers.constrain(logits, ("batch", "length", "vocab"))


class Transformer(nn.Module):
  config: T5Config

  def setup(self):
    cfg = self.config
    self.token_embedder = layers.Embed(cfg.vocab_size, cfg.emb_dim, cfg.activation_dtype,
                                       attend_dtype=jnp.float32, name="token_embedder")
    self.encoder = Encoder(cfg, self.token_embedder)
    self.decoder = Decoder(cfg, self.token_embedder)

  def encode(self, encoder_input_tokens, encoder_segment_ids=None, enable_dropout=True):
    mask = layers.combine_masks(
        layers.make_attention_mask(encoder_input_tokens > 0, encoder_input_tokens > 0),
        _same_segment(encoder_segment_ids, encoder_segment_ids))
    return self.encoder(encoder_input_tokens, mask, deterministic=not enable_dropout)

  def decode(self, encoded, encoder_input_tokens, decoder_input_tokens, decoder_target_tokens,
             encoder_segment_ids=None, decoder_segment_ids=None, enable_dropout=True,
             decode=False, max_decode_length=None):
    if decode:
      decoder_mask = None  # the cache index masks the future
      encoder_decoder_mask = layers.make_attention_mask(
          jnp.ones_like(decoder_target_tokens) > 0, encoder_input_tokens > 0)
    else:
      decoder_mask = layers.combine_masks(
          layers.make_causal_mask(decoder_target_tokens),
          layers.make_attention_mask(decoder_target_tokens > 0, decoder_target_tokens > 0),
          _same_segment(decoder_segment_ids, decoder_segment_ids))
      encoder_decoder_mask = layers.combine_masks(
          layers.make_attention_mask(decoder_target_tokens > 0, encoder_input_tokens > 0),
          _same_segment(decoder_segment_ids, encoder_segment_ids))
    return self.decoder(encoded, decoder_input_tokens, decoder_mask, encoder_decoder_mask,
                        deterministic=not enable_dropout, decode=decode,
                        max_decode_length=max_decode_length)

  def __call__(self, encoder_input_tokens, decoder_input_tokens, decoder_target_tokens,
               encoder_segment_ids=None, decoder_segment_ids=None, enable_dropout=True,
               decode=False, max_decode_length=None):
    if (encoder_segment_ids is None) != (decoder_segment_ids is None):
      raise ValueError("a packed batch needs both encoder_segment_ids and decoder_segment_ids")
    encoded = self.encode(encoder_input_tokens, encoder_segment_ids, enable_dropout)
    return self.decode(encoded, encoder_input_tokens, decoder_input_tokens,
                       decoder_target_tokens, encoder_segment_ids, decoder_segment_ids,
                       enable_dropout, decode, max_decode_length)


def _same_segment(query_segments, key_segments):
  """[b, 1, q, k]: query and key belong to the same packed example (None if not packed)."""
  if query_segments is None or key_segments is None:
    return None
  return (query_segments[:, None, :, None] == key_segments[:, None, None, :]).astype(
      jnp.float32)


def init_variables(model: Transformer, key, input_length: int = 8, target_length: int = 8):
  """Boxed variables (parameters with logical axis metadata)."""
  enc = jnp.ones((1, input_length), jnp.int32)
  dec = jnp.ones((1, target_length), jnp.int32)
  return model.init(key, enc, dec, dec, enable_dropout=False)


def abstract_params(config: T5Config):
  """Shapes and dtypes of the parameter tree (no memory used)."""
  model = Transformer(config)
  return nn.unbox(jax.eval_shape(lambda: init_variables(model, jax.random.PRNGKey(0)))["params"])
