"""Jitted incremental decoding for the T5 of ``network``: sampling and beam search.

The encoder runs once; the decoder runs one token per step against a key/value cache (the
'cache' collection: self-attention keys/values of past positions and the projected encoder
keys/values), inside one ``lax.while_loop`` that stops at ``max_decode_length`` or when every
sequence has produced EOS. Sequences start from token 0, T5's decoder start id.

``logits_mask_fn(step, sequences, logits) -> logits`` lets a caller restrict what may be
generated: ``sequences`` [B, max_len + 1] holds the start token and what has been chosen so
far, ``step`` the position being chosen. Return logits with forbidden ids set to ``NEG_INF``
(see ``allow_only``).
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from motiongpt_jax import reductions
from motiongpt_jax.t5.network import Transformer

from motiongpt_jax.t5.layers import NEG_INF  # noqa: E402  one masking value for logits


def allow_only(allowed: np.ndarray) -> Callable:
  """A logits mask hook permitting only the ids where ``allowed`` [V] is True."""
  candidates = np.flatnonzero(allowed)
  allowed = jnp.asarray(allowed, bool)

  def mask(step, sequences, logits):
    return jnp.where(allowed, logits, NEG_INF)
  return with_candidates(mask, candidates)


def with_candidates(mask_fn: Callable, ids) -> Callable:
  """Declares that ``mask_fn`` masks every id outside ``ids`` at every step; ``sample`` then
  draws among those ids only (top-k and the draw over |ids| entries instead of the whole
  vocabulary: 515 of 32,128 for MotionGPT's motion tokens). Same distribution."""
  mask_fn.candidates = tuple(int(i) for i in np.asarray(ids).ravel())
  return mask_fn


def _decoder_step(model: Transformer, params, cache, encoded, encoder_tokens, tokens,
                  max_len):
  logits, variables = model.apply(
      {"params": params, "cache": cache}, encoded, encoder_tokens, tokens[:, None],
      tokens[:, None], enable_dropout=False, decode=True, max_decode_length=max_len,
      method=Transformer.decode, mutable=["cache"])
  return logits[:, 0], variables["cache"]


def init_cache(model: Transformer, params, encoded, encoder_tokens, max_len: int):
  """The decoding cache: empty self-attention slots, projected encoder keys/values."""
  batch = encoded.shape[0]
  start = jnp.zeros((batch,), jnp.int32)
  _, variables = model.apply(
      {"params": params}, encoded, encoder_tokens, start[:, None], start[:, None],
      enable_dropout=False, decode=True, max_decode_length=max_len,
      method=Transformer.decode, mutable=["cache"])
  return variables["cache"]


def kth_largest(x, k: int):
  """The k-th largest value along the last axis (as ``lax.top_k(x, k)[0][..., -1]``, ties
  counted), found by bisection over the 32 bits of float32's order-preserving unsigned image:
  32 counting passes over ``x``. XLA:CPU implements ``top_k`` as a sort, which made top-k
  sampling over a 32k vocabulary ~25x slower than this at batch 16 (bench/eval_bench.py)."""
  k = min(int(k), x.shape[-1])
  bits = jax.lax.bitcast_convert_type(x.astype(jnp.float32), jnp.uint32)
  sign = jnp.uint32(0x80000000)
  ordered = jnp.where(bits >= sign, ~bits, bits | sign)
  lo = jnp.zeros(x.shape[:-1], jnp.uint32)  # invariant: count(ordered >= lo) >= k
  hi = jnp.full(x.shape[:-1], 0xFFFFFFFF, jnp.uint32)

  def halve(_, bounds):
    lo, hi = bounds
    mid = lo + ((hi - lo) >> 1) + ((hi - lo) & 1)
    enough = jnp.sum(ordered >= mid[..., None], axis=-1) >= k
    return jnp.where(enough, mid, lo), jnp.where(enough, hi, mid - 1)

  lo, _ = jax.lax.fori_loop(0, 32, halve, (lo, hi))
  value = jnp.where(lo >= sign, lo & jnp.uint32(0x7FFFFFFF), ~lo)
  return jax.lax.bitcast_convert_type(value, jnp.float32).astype(x.dtype)


def _last_positive(p):
  """Index of the last entry > 0 along the last axis (0 when there is none)."""
  positive = p > 0
  return p.shape[-1] - 1 - jnp.argmax(positive[..., ::-1], axis=-1)


def categorical(key, logits, block: int = 128):
  """One draw per row from softmax(logits) by inverting the cumulative distribution with one
  uniform number per row. ``jax.random.categorical`` draws a Gumbel number per vocabulary
  entry ([B, V] random bits per step), and a cumulative sum over the whole vocabulary is an
  associative scan of log2(V) passes on CPU; here the scan runs over the sums of blocks of
  ``block`` entries, then within the one block the draw falls in."""
  p = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
  rows, vocab = p.shape[:-1], p.shape[-1]
  p = jnp.pad(p, [(0, 0)] * len(rows) + [(0, -vocab % block)])
  blocks = p.reshape(rows + (-1, block))
  sums = blocks.sum(-1)
  cumulative = jnp.cumsum(sums, axis=-1)
  # u in (0, total]: never 0, so a leading zero-probability entry cannot be chosen; the
  # clamps below keep float round-off from landing on a trailing zero-probability one.
  u = (1.0 - jax.random.uniform(key, rows + (1,))) * cumulative[..., -1:]
  j = jnp.minimum(jnp.sum(cumulative < u, axis=-1), _last_positive(sums))[..., None]
  before = (jnp.take_along_axis(cumulative, j, -1) - jnp.take_along_axis(sums, j, -1))
  inner = jnp.take_along_axis(blocks, j[..., None], -2)[..., 0, :]
  i = jnp.minimum(jnp.sum(before + jnp.cumsum(inner, axis=-1) < u, axis=-1),
                  _last_positive(inner))
  return j[..., 0] * block + i


def _filter_logits(logits, top_k: int, top_p: float):
  if top_k and top_k > 0:
    kth = kth_largest(logits, top_k)[..., None]
    logits = jnp.where(logits < kth, NEG_INF, logits)
  if top_p and top_p < 1.0:
    order = jnp.argsort(-logits, axis=-1)
    sorted_logits = jnp.take_along_axis(logits, order, axis=-1)
    cumulative = jnp.cumsum(jax.nn.softmax(sorted_logits, axis=-1), axis=-1)
    # Drop a token if the tokens ranked above it already reach top_p (keeps the first).
    drop_sorted = (cumulative - jax.nn.softmax(sorted_logits, axis=-1)) >= top_p
    drop = jnp.zeros_like(drop_sorted).at[
        jnp.arange(logits.shape[0])[:, None], order].set(drop_sorted)
    logits = jnp.where(drop, NEG_INF, logits)
  return logits


@functools.partial(jax.jit, static_argnames=("model", "max_decode_length", "temperature",
                                             "top_k", "top_p", "eos_id", "logits_mask_fn"))
def sample(model: Transformer, params, encoder_tokens, rng, *, max_decode_length: int,
           temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0, eos_id: int = 1,
           logits_mask_fn: Callable | None = None):
  """Greedy (temperature 0) or sampled decoding. Returns (tokens [B, L], log_probs [B]).

  After EOS a sequence is padded with 0.
  """
  batch = encoder_tokens.shape[0]
  candidates = getattr(logits_mask_fn, "candidates", None)  # see with_candidates
  encoded = model.apply({"params": params}, encoder_tokens, enable_dropout=False,
                        method=Transformer.encode)
  cache = init_cache(model, params, encoded, encoder_tokens, max_decode_length)
  sequences = jnp.zeros((batch, max_decode_length + 1), jnp.int32)
  ended = jnp.zeros((batch,), bool)
  log_probs = jnp.zeros((batch,), jnp.float32)

  def cond(state):
    i, _, _, ended, _, _ = state
    return jnp.logical_and(i < max_decode_length, ~jnp.all(ended))

  def body(state):
    i, sequences, cache, ended, rng, log_probs = state
    logits, cache = _decoder_step(model, params, cache, encoded, encoder_tokens,
                                  sequences[:, i], max_decode_length)
    if logits_mask_fn is not None:
      logits = logits_mask_fn(i, sequences, logits)
    rng, key = jax.random.split(rng)
    if temperature == 0.0:
      chosen = reductions.argmax(logits)
      scaled = logits
      token_logp = jnp.take_along_axis(jax.nn.log_softmax(scaled), chosen[:, None], -1)[:, 0]
    else:
      if candidates is not None:  # the mask allows nothing else: sample among these ids
        logits = jnp.take(logits, jnp.asarray(candidates, jnp.int32), axis=-1)
      scaled = _filter_logits(logits / temperature, top_k, top_p)
      pick = categorical(key, scaled).astype(jnp.int32)
      token_logp = jnp.take_along_axis(jax.nn.log_softmax(scaled), pick[:, None], -1)[:, 0]
      chosen = pick if candidates is None else jnp.asarray(candidates, jnp.int32)[pick]
    chosen = jnp.where(ended, 0, chosen)
    log_probs = log_probs + jnp.where(ended, 0.0, token_logp)
    sequences = sequences.at[:, i + 1].set(chosen)
    ended = jnp.logical_or(ended, chosen == eos_id)
    return i + 1, sequences, cache, ended, rng, log_probs

  state = (jnp.array(0), sequences, cache, ended, rng, log_probs)
  _, sequences, _, _, _, log_probs = jax.lax.while_loop(cond, body, state)
  return sequences[:, 1:], log_probs


def _brevity_penalty(alpha: float, length):
  """T5X / GNMT length normalisation ((5 + length) / 6) ** alpha."""
  return jnp.power((5.0 + length) / 6.0, alpha)


def _gather_beams(tree, beam_indices, batch: int, beams: int):
  """Reorders the beam dimension of every [batch * beams, ...] leaf (scalars untouched)."""
  def gather(x):
    if x.ndim == 0:
      return x
    x = x.reshape((batch, beams) + x.shape[1:])
    x = jnp.take_along_axis(x, beam_indices.reshape(
        (batch, beam_indices.shape[1]) + (1,) * (x.ndim - 2)), axis=1)
    return x.reshape((batch * beam_indices.shape[1],) + x.shape[2:])
  return jax.tree_util.tree_map(gather, tree)


@functools.partial(jax.jit, static_argnames=("model", "max_decode_length", "num_beams",
                                             "alpha", "eos_id", "logits_mask_fn"))
def beam_search(model: Transformer, params, encoder_tokens, *, max_decode_length: int,
                num_beams: int = 4, alpha: float = 0.6, eos_id: int = 1,
                logits_mask_fn: Callable | None = None):
  """Beam search with length penalty. Returns (tokens [B, beams, L], scores [B, beams]),
  best first; scores are log-probabilities divided by the brevity penalty."""
  batch, k = encoder_tokens.shape[0], num_beams
  encoder_tokens_k = jnp.repeat(encoder_tokens, k, axis=0)
  encoded = model.apply({"params": params}, encoder_tokens_k, enable_dropout=False,
                        method=Transformer.encode)
  cache = init_cache(model, params, encoded, encoder_tokens_k, max_decode_length)
  length = max_decode_length + 1
  alive_seqs = jnp.zeros((batch, k, length), jnp.int32)
  alive_logp = jnp.tile(jnp.array([0.0] + [NEG_INF] * (k - 1)), (batch, 1))
  finished_seqs = jnp.zeros((batch, k, length), jnp.int32)
  finished_scores = jnp.full((batch, k), NEG_INF)

  def cond(state):
    i, _, alive_logp, _, finished_scores, _ = state
    # Stop when the best alive beam, even at its best possible length, cannot beat the
    # worst finished one.
    best_possible = alive_logp[:, 0] / _brevity_penalty(alpha, max_decode_length)
    worst_finished = jnp.min(finished_scores, axis=1)
    done = jnp.all((worst_finished > NEG_INF / 2) & (worst_finished > best_possible))
    return jnp.logical_and(i < max_decode_length, ~done)

  def body(state):
    i, alive_seqs, alive_logp, finished_seqs, finished_scores, cache = state
    flat_seqs = alive_seqs.reshape(batch * k, length)
    logits, cache = _decoder_step(model, params, cache, encoded, encoder_tokens_k,
                                  flat_seqs[:, i], max_decode_length)
    if logits_mask_fn is not None:
      logits = logits_mask_fn(i, flat_seqs, logits)
    vocab = logits.shape[-1]
    logp = jax.nn.log_softmax(logits).reshape(batch, k, vocab)
    candidates = (alive_logp[:, :, None] + logp).reshape(batch, k * vocab)
    top_logp, top_idx = jax.lax.top_k(candidates, 2 * k)
    beam_idx, token = top_idx // vocab, (top_idx % vocab).astype(jnp.int32)
    seqs = jnp.take_along_axis(alive_seqs, beam_idx[:, :, None], axis=1)
    seqs = seqs.at[:, :, i + 1].set(token)
    is_eos = token == eos_id
    # New alive beams: the best k candidates that did not end.
    alive_rank = jnp.where(is_eos, NEG_INF, top_logp)
    keep_logp, keep = jax.lax.top_k(alive_rank, k)
    alive_seqs = jnp.take_along_axis(seqs, keep[:, :, None], axis=1)
    cache = _gather_beams(cache, jnp.take_along_axis(beam_idx, keep, axis=1), batch, k)
    # Finished beams: merge the candidates that ended with the ones already finished.
    new_scores = jnp.where(is_eos, top_logp / _brevity_penalty(alpha, i + 1), NEG_INF)
    all_scores = jnp.concatenate([finished_scores, new_scores], axis=1)
    all_seqs = jnp.concatenate([finished_seqs, seqs], axis=1)
    finished_scores, best = jax.lax.top_k(all_scores, k)
    finished_seqs = jnp.take_along_axis(all_seqs, best[:, :, None], axis=1)
    return i + 1, alive_seqs, keep_logp, finished_seqs, finished_scores, cache

  state = (jnp.array(0), alive_seqs, alive_logp, finished_seqs, finished_scores, cache)
  i, alive_seqs, alive_logp, finished_seqs, finished_scores, _ = jax.lax.while_loop(
      cond, body, state)
  # A batch item with no finished beam returns its alive beams.
  none_finished = jnp.all(finished_scores <= NEG_INF / 2, axis=1)
  alive_scores = alive_logp / _brevity_penalty(alpha, i)
  seqs = jnp.where(none_finished[:, None, None], alive_seqs, finished_seqs)
  scores = jnp.where(none_finished[:, None], alive_scores, finished_scores)
  return seqs[:, :, 1:], scores
