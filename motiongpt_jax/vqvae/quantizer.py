"""EMA vector quantiser with dead-code reset, as pure functions.

The codebook is not trained by gradients: after each training step every code moves to the
exponential moving average of the encoder outputs assigned to it, and a code whose
smoothed usage count falls below one is re-seeded with a random encoder output from the
batch ("dead-code reset"). Rules and constants follow T2M-GPT's ``QuantizeEMAReset``,
which MotionGPT uses: the sums start at the codebook itself with counts of one.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from motiongpt_jax import reductions


@flax.struct.dataclass
class CodebookState:
  codebook: jnp.ndarray    # [K, D] the codes
  code_sum: jnp.ndarray    # [K, D] EMA of the sum of vectors assigned to each code
  code_count: jnp.ndarray  # [K] EMA of how many vectors each code received


def init_codebook(vectors: jnp.ndarray, num_codes: int, key: jax.Array) -> CodebookState:
  """Codes seeded with random encoder outputs (with repetition if there are too few)."""
  vectors = jnp.asarray(vectors, jnp.float32).reshape(-1, vectors.shape[-1])
  pick = jax.random.choice(key, vectors.shape[0], (num_codes,),
                           replace=vectors.shape[0] < num_codes)
  codebook = vectors[pick]
  # Separate buffers for the two fields, so both can be donated to a jitted step.
  return CodebookState(codebook, jnp.array(codebook, copy=True),
                       jnp.ones((num_codes,), jnp.float32))


def nearest_codes(vectors: jnp.ndarray, codebook: jnp.ndarray) -> jnp.ndarray:
  """Index of the closest code (squared L2) for each vector [..., D] -> [...]."""
  flat = vectors.reshape(-1, vectors.shape[-1]).astype(jnp.float32)
  distance = (jnp.sum(flat ** 2, axis=1, keepdims=True) - 2.0 * flat @ codebook.T
              + jnp.sum(codebook ** 2, axis=1)[None, :])
  return reductions.argmin(distance).reshape(vectors.shape[:-1])


def lookup(codes: jnp.ndarray, codebook: jnp.ndarray) -> jnp.ndarray:
  return jnp.take(codebook, codes, axis=0)


def perplexity(counts: jnp.ndarray) -> jnp.ndarray:
  """exp(entropy) of a code histogram: the effective number of codes in use."""
  p = counts / jnp.maximum(jnp.sum(counts), 1e-9)
  return jnp.exp(-jnp.sum(p * jnp.log(p + 1e-7)))


def ema_update(state: CodebookState, vectors: jnp.ndarray, codes: jnp.ndarray,
               decay: float, key: jax.Array) -> tuple[CodebookState, dict]:
  """One EMA step on a batch of encoder outputs and their assigned codes.

  Returns the new state and statistics of the batch (perplexity, codes used, codes reset).
  """
  num_codes = state.codebook.shape[0]
  flat = jax.lax.stop_gradient(vectors).reshape(-1, vectors.shape[-1]).astype(jnp.float32)
  onehot = jax.nn.one_hot(codes.reshape(-1), num_codes, dtype=jnp.float32)  # [N, K]
  batch_sum = onehot.T @ flat
  batch_count = jnp.sum(onehot, axis=0)
  code_sum = decay * state.code_sum + (1.0 - decay) * batch_sum
  code_count = decay * state.code_count + (1.0 - decay) * batch_count
  alive = code_count >= 1.0
  pick = jax.random.choice(key, flat.shape[0], (num_codes,), replace=flat.shape[0] < num_codes)
  replacement = flat[pick]
  codebook = jnp.where(alive[:, None], code_sum / jnp.maximum(code_count, 1e-9)[:, None],
                       replacement)
  stats = {"perplexity": perplexity(batch_count),
           "codes_used": jnp.sum(batch_count > 0),
           "codes_reset": jnp.sum(~alive)}
  return CodebookState(codebook, code_sum, code_count), stats
