"""The seeded data order the trainers share: every epoch visits each item once, in a
permutation fixed by (seed, epoch), so the batch of any step is a pure function of the step
(what makes resumed runs see the same data)."""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=8)
def _permutation(seed: int, size: int, epoch: int) -> np.ndarray:
  return np.random.default_rng([seed, 0, epoch]).permutation(size)


def item_at(position: int, size: int, seed: int) -> int:
  """Index of the item at ``position`` of the endless epoch-by-epoch order."""
  return int(_permutation(seed, size, position // size)[position % size])
