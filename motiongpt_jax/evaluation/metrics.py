"""The paper's motion metrics over evaluator embeddings and joint positions (pure numpy/JAX).

Protocol (MotionGPT ``mGPT/metrics/t2m.py``, after Guo et al. 2022):
- R-precision top-1/2/3: in each batch of 32 (text, motion) pairs, rank the 32 motions by
  Euclidean distance to each text; a hit at k when the paired motion is among the k nearest.
- Matching score (MM-Dist): mean distance between each text and its paired motion.
- FID: Frechet distance between Gaussians fitted to real and generated motion embeddings.
- Diversity: mean distance between 300 random pairs of motions (sampled with replacement).
- MultiModality: for each of 100 captions, 30 generations; mean distance between 10 random
  pairs of a caption's generations.
- Every figure is repeated (20 replications by default) and reported as the mean with a 95%
  confidence interval of 1.96 * std / sqrt(replications).
ADE / FDE: mean per-joint position error over the frames being predicted, and at the last one.

Every metric refuses embeddings, joints or distances that are not finite (``NonFiniteError``,
naming the metric and the number of bad rows): a NaN compares false with everything, so it
would otherwise pass as a perfect R-precision or vanish into a mean.
"""

from __future__ import annotations

import numpy as np


class NonFiniteError(ValueError):
  """A metric's input (or a distance computed from it) holds NaN or inf."""


def check_finite(metric: str, what: str, x, row_axes: int = 1) -> np.ndarray:
  """``x`` as float64 after checking it is finite; raises NonFiniteError counting the bad
  rows (a row: the leading ``row_axes`` axes, e.g. one embedding or one frame)."""
  x = np.asarray(x, np.float64)
  finite = np.isfinite(x)
  if not finite.all():
    rows = finite.reshape(x.shape[:row_axes] + (-1,)).all(-1) if x.ndim > row_axes else finite
    total = rows.size
    bad = total - int(rows.sum())
    raise NonFiniteError(f"{metric}: {bad} of {total} {what} {'is' if bad == 1 else 'are'} "
                         f"not finite (NaN or inf)")
  return x


def _finite_result(metric: str, value: float, hint: str = "") -> float:
  if not np.isfinite(value):
    raise NonFiniteError(f"{metric}: the result is {value} (not finite){hint}")
  return float(value)


def distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Euclidean distances [N, M] between the rows of a [N, D] and b [M, D]."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  with np.errstate(over="ignore", invalid="ignore"):  # overflow: inf/NaN, refused by callers
    squared = (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :]
    return np.sqrt(np.maximum(squared, 0.0))


def r_precision(text: np.ndarray, motion: np.ndarray, batch_size: int = 32,
                top_k: int = 3) -> tuple[np.ndarray, float]:
  """(top-1..top-k hit rates, matching score) of paired embeddings, in batches of 32.

  A trailing partial batch is dropped, as the reference's ``drop_last`` loader does.
  """
  text, motion = np.asarray(text), np.asarray(motion)
  text = check_finite("R-precision", "text embeddings", text)
  motion = check_finite("R-precision", "motion embeddings", motion)
  if text.shape != motion.shape:
    raise ValueError(f"text {text.shape} and motion {motion.shape} embeddings differ")
  batches = len(text) // batch_size
  if batches == 0:
    raise ValueError(f"R-precision needs at least {batch_size} pairs, got {len(text)}")
  hits, matching = np.zeros(top_k), 0.0
  for b in range(batches):
    sl = slice(b * batch_size, (b + 1) * batch_size)
    dist = check_finite("R-precision", "rows of text-motion distances",
                        distance_matrix(text[sl], motion[sl]))
    # rank of the paired motion among the batch's motions (0 = nearest); ties count as hits
    rank = (dist < np.diag(dist)[:, None]).sum(1)
    hits += np.array([(rank < k).sum() for k in range(1, top_k + 1)])
    matching += np.trace(dist)
  n = batches * batch_size
  return hits / n, matching / n


def gaussian_stats(embeddings: np.ndarray, metric: str = "FID",
                   what: str = "embeddings") -> tuple[np.ndarray, np.ndarray]:
  x = check_finite(metric, what, embeddings)
  mu, sigma = x.mean(0), np.cov(x, rowvar=False)
  check_finite(metric, f"dimensions of the mean of the {what}", mu)
  check_finite(metric, f"rows of the covariance of the {what}", sigma)
  return mu, sigma


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
  values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
  return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
  """|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)).

  tr((S1 S2)^(1/2)) equals tr((S1^(1/2) S2 S1^(1/2))^(1/2)), whose argument is symmetric
  positive semi-definite, so two symmetric eigendecompositions replace the general matrix
  square root (no complex parts, stable for singular covariances).
  """
  mu1 = check_finite("FID", "dimensions of the first mean", mu1)
  mu2 = check_finite("FID", "dimensions of the second mean", mu2)
  s1 = check_finite("FID", "rows of the first covariance", sigma1)
  s2 = check_finite("FID", "rows of the second covariance", sigma2)
  if mu1.shape != mu2.shape or s1.shape != s2.shape:
    raise ValueError(f"statistics differ in shape: {mu1.shape}/{s1.shape} vs "
                     f"{mu2.shape}/{s2.shape}")
  root1 = _sqrt_psd(s1)
  inner = root1 @ s2 @ root1
  trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum()
  diff = mu1 - mu2
  return _finite_result("FID", diff @ diff + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt,
                        " (embeddings too large?)")


def fid(real: np.ndarray, generated: np.ndarray) -> float:
  return frechet_distance(*gaussian_stats(real, "FID", "real motion embeddings"),
                          *gaussian_stats(generated, "FID", "generated motion embeddings"))


def diversity(embeddings: np.ndarray, times: int = 300, rng=None) -> float:
  """Mean distance between ``times`` random pairs (indices drawn with replacement)."""
  x = check_finite("Diversity", "motion embeddings", embeddings)
  if len(x) < 2:
    raise ValueError(f"diversity needs at least 2 motions, got {len(x)}")
  rng = np.random.default_rng(rng)
  first, second = rng.choice(len(x), times), rng.choice(len(x), times)
  with np.errstate(over="ignore", invalid="ignore"):
    distances = check_finite("Diversity", "pair distances",
                             np.linalg.norm(x[first] - x[second], axis=1))
  return _finite_result("Diversity", distances.mean())


def multimodality(embeddings: np.ndarray, times: int = 10, rng=None) -> float:
  """Mean distance between ``times`` random pairs of generations of the same caption.

  ``embeddings`` is [captions, repeats, D]; pairs are drawn within each caption's repeats.
  """
  x = np.asarray(embeddings, np.float64)
  if x.ndim != 3 or x.shape[1] < 2:
    raise ValueError(f"multimodality needs [captions, repeats >= 2, D], got {x.shape}")
  check_finite("MultiModality", "generation embeddings (captions x repeats)", x, row_axes=2)
  rng = np.random.default_rng(rng)
  first, second = rng.choice(x.shape[1], times), rng.choice(x.shape[1], times)
  with np.errstate(over="ignore", invalid="ignore"):
    distances = check_finite("MultiModality", "pair distances (captions x pairs)",
                             np.linalg.norm(x[:, first] - x[:, second], axis=-1), row_axes=2)
  return _finite_result("MultiModality", distances.mean())


def mean_and_interval(values) -> tuple[float, float]:
  """(mean, 95% confidence half-width 1.96 * std / sqrt(n)) of one figure's replications."""
  v = np.asarray(values, np.float64).reshape(-1)
  if len(v) == 0:
    raise ValueError("mean and interval of no replications")
  check_finite("mean and interval", "replications", v)
  return float(v.mean()), float(1.96 * v.std() / np.sqrt(len(v)))


def displacement_errors(predicted: np.ndarray, target: np.ndarray) -> tuple[float, float]:
  """(ADE, FDE) in the units of the joints: mean joint error over all frames, and at the last.

  ``predicted`` and ``target`` are joints [T, J, 3] over the same frames (the span being
  predicted); the caller aligns them (the shorter length wins).
  """
  p, t = np.asarray(predicted, np.float64), np.asarray(target, np.float64)
  n = min(len(p), len(t))
  if n == 0 or p.shape[1:] != t.shape[1:]:
    raise ValueError(f"cannot compare joints {p.shape} with {t.shape}")
  p = check_finite("ADE/FDE", "predicted frames", p[:n])
  t = check_finite("ADE/FDE", "target frames", t[:n])
  with np.errstate(over="ignore", invalid="ignore"):
    error = check_finite("ADE/FDE", "frame errors",
                         np.linalg.norm(p - t, axis=-1).mean(-1))  # [n] mean over joints
  return _finite_result("ADE", error.mean()), _finite_result("FDE", error[-1])
