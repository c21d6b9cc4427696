"""``argmax`` and ``argmin`` along the last axis, written so that XLA:CPU vectorises them.

``jnp.argmax`` lowers to one variadic reduce over (value, index) pairs, which XLA:CPU runs
element by element: 15-18 ms for a [2304, 1152] float32 array on the 2-core development
machines, against 0.5 ms for ``jnp.max`` of the same array. Here the index is found as two
plain reductions: the maximum, then the smallest position holding it, with positions as
float32 (exact below 2**24) because float min-reductions vectorise where int32 ones did not
(3.7 ms for the same array; docs/performance.md, finding 5). Same results as ``jnp.argmax``
and ``jnp.argmin``, ties and NaN included: the first maximum (minimum) wins, and a row holding
NaN gives its first NaN.
"""

from __future__ import annotations

import jax.numpy as jnp


def _first_position(x, extreme_fn, fallback_fn):
  n = x.shape[-1]
  if n >= 2 ** 24:  # positions would not be exact in float32
    return fallback_fn(x, axis=-1).astype(jnp.int32)
  hit = x == extreme_fn(x, axis=-1, keepdims=True)
  if jnp.issubdtype(x.dtype, jnp.floating):
    hit = hit | jnp.isnan(x)  # such a row's max/min is NaN; argmax/argmin give its first NaN
  positions = jnp.arange(n, dtype=jnp.float32)
  return jnp.min(jnp.where(hit, positions, jnp.float32(n)), axis=-1).astype(jnp.int32)


def argmax(x):
  """Index of the first maximum along the last axis (``jnp.argmax(x, -1)``), int32."""
  return _first_position(x, jnp.max, jnp.argmax)


def argmin(x):
  """Index of the first minimum along the last axis (``jnp.argmin(x, -1)``), int32."""
  return _first_position(x, jnp.min, jnp.argmin)
