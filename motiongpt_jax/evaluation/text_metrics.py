"""Caption metrics: corpus BLEU@1/@4, ROUGE-L and CIDEr, written here from their papers.

All take ``predictions: list[str]`` and ``references: list[list[str]]`` (several captions per
motion) and return percentages, as MotionGPT's tables do.
- BLEU (Papineni et al. 2002): corpus-level clipped n-gram precisions, geometric mean of
  orders 1..N, no smoothing. Two brevity penalties: ``bleu_nmt`` follows tensorflow/nmt's
  ``compute_bleu`` (the shortest reference's length), which MotionGPT's m2t table used
  (through nlgmetricverse); ``bleu_closest`` (also ``bleu``) the closest reference's length,
  as in Papineni et al. and coco-caption.
- ROUGE-L (Lin 2004): longest common subsequence F1 per caption, best reference, averaged.
- CIDEr (Vedantam et al. 2015): tf-idf n-gram vectors (n = 1..4, document frequency over the
  reference sets of the scored corpus), cosine similarity averaged over references and
  orders, times 10. ``cider_d`` is CIDEr-D, what coco-caption's (and pycocoevalcap's and
  nlgmetricverse's) ``Cider`` computes: candidate weights clipped to the reference's and a
  Gaussian length penalty (sigma 6). ``cider_plain`` (also ``cider``) has neither.
BERTScore is the bert-score package's, in ``bertscore.py``.
"""

from __future__ import annotations

import collections
import math
import re
import string
from typing import Callable, Sequence

import numpy as np

WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words(text: str) -> list[str]:
  """Lower-cased words without punctuation: the tokenisation every metric here uses."""
  return WORD.findall(text.lower())


PUNCTUATION = re.compile("[" + re.escape(string.punctuation) + "]")


def punctuation_split(text: str) -> list[str]:
  """ASCII punctuation to spaces, lower case, split on white space: nlgmetricverse's default
  tokeniser (its BLEU and ROUGE use it; its CIDEr splits the raw text: ``str.split``)."""
  return PUNCTUATION.sub(" ", text).lower().split()


Tokenizer = Callable[[str], list]


def ngrams(tokens: Sequence[str], n: int) -> collections.Counter:
  return collections.Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _check(predictions, references):
  if len(predictions) != len(references):
    raise ValueError(f"{len(predictions)} predictions but {len(references)} reference sets")
  if not predictions:
    raise ValueError("no captions to score")
  for i, refs in enumerate(references):
    if isinstance(refs, str) or not refs:
      raise ValueError(f"references[{i}] must be a non-empty list of captions")


def _bleu_counts(predictions, references, max_order: int, tokenize: Tokenizer,
                 reference_length: Callable[[list, list], int]):
  """(clipped n-gram matches [max_order], candidate n-grams [max_order], candidate length,
  reference length) summed over a corpus; a candidate n-gram counts at most as often as in
  the reference that has it most; ``reference_length(hyp, refs)`` picks a caption's
  reference length for the brevity penalty."""
  _check(predictions, references)
  matches, totals = np.zeros(max_order), np.zeros(max_order)
  hyp_len = ref_len = 0
  for pred, refs in zip(predictions, references):
    hyp, ref_tokens = tokenize(pred), [tokenize(r) for r in refs]
    hyp_len += len(hyp)
    ref_len += reference_length(hyp, ref_tokens)
    for n in range(1, max_order + 1):
      allowed = collections.Counter()
      for r in ref_tokens:
        allowed |= ngrams(r, n)
      matches[n - 1] += sum((ngrams(hyp, n) & allowed).values())
      totals[n - 1] += max(len(hyp) - n + 1, 0)
  return matches, totals, hyp_len, ref_len


def bleu_closest(predictions: Sequence[str], references: Sequence[Sequence[str]],
                 max_order: int = 4) -> float:
  """Corpus BLEU with the brevity penalty against the closest reference length (shorter on
  ties), in percent."""
  matches, totals, hyp_len, ref_len = _bleu_counts(
      predictions, references, max_order, words,
      lambda hyp, refs: min((abs(len(r) - len(hyp)), len(r)) for r in refs)[1])
  if np.any(matches == 0):
    return 0.0
  log_precision = np.mean(np.log(matches / totals))
  brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / max(hyp_len, 1))
  return float(100 * brevity * math.exp(log_precision))


bleu = bleu_closest  # the name callers used before bleu_nmt existed


def bleu_nmt(predictions: Sequence[str], references: Sequence[Sequence[str]],
             max_order: int = 4, smooth: bool = False, tokenize: Tokenizer = words) -> float:
  """Corpus BLEU as tensorflow/nmt's ``compute_bleu`` computes it, in percent.

  Clipped n-gram matches against the union (max counts) of a caption's references, summed
  over the corpus; precision p_n = matches / (candidate n-grams), 0 where no candidate has an
  n-gram of that order; score = BP * exp(mean_n log p_n), 0 if any p_n is 0. ``smooth`` adds
  one to every order's matches and totals (Lin and Och 2004). Brevity: r = the sum over
  captions of the *shortest* reference's length, c = the sum of candidate lengths,
  BP = 1 if c > r else exp(1 - r / c). MotionGPT (via nlgmetricverse) tokenised with
  ``punctuation_split``.
  """
  matches, totals, hyp_len, ref_len = _bleu_counts(
      predictions, references, max_order, tokenize,
      lambda hyp, refs: min(len(r) for r in refs))
  if smooth:
    precisions = (matches + 1) / (totals + 1)
  else:
    precisions = np.divide(matches, totals, out=np.zeros(max_order), where=totals > 0)
  if precisions.min() <= 0:
    return 0.0
  if ref_len == 0:
    brevity = 1.0
  else:
    ratio = hyp_len / ref_len
    brevity = 1.0 if ratio > 1.0 else math.exp(1 - 1 / ratio)
  return float(100 * brevity * math.exp(np.mean(np.log(precisions))))


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
  row = [0] * (len(b) + 1)
  for x in a:
    previous = 0
    for j, y in enumerate(b):
      current = row[j + 1]
      row[j + 1] = previous + 1 if x == y else max(row[j + 1], row[j])
      previous = current
  return row[-1]


def rouge_l(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> float:
  _check(predictions, references)
  scores = []
  for pred, refs in zip(predictions, references):
    hyp, best = words(pred), 0.0
    for ref in refs:
      r = words(ref)
      common = _lcs(hyp, r)
      if common:
        precision, recall = common / len(hyp), common / len(r)
        best = max(best, 2 * precision * recall / (precision + recall))
    scores.append(best)
  return float(100 * np.mean(scores))


def cider_plain(predictions: Sequence[str], references: Sequence[Sequence[str]],
                max_order: int = 4) -> float:
  """CIDEr without clipping or length penalty (not what coco-caption reports), in percent."""
  _check(predictions, references)
  refs_ngrams = [[[ngrams(words(r), n) for n in range(1, max_order + 1)] for r in refs]
                 for refs in references]
  document_frequency = collections.Counter()
  for refs in refs_ngrams:
    document_frequency.update({g for ref in refs for counts in ref for g in counts})
  log_documents = math.log(len(references))

  def vector(counts_by_order):
    vecs, norms = [], []
    for counts in counts_by_order:
      v = {g: c * (log_documents - math.log(max(1.0, document_frequency[g])))
           for g, c in counts.items()}
      vecs.append(v)
      norms.append(math.sqrt(sum(x * x for x in v.values())))
    return vecs, norms

  scores = []
  for pred, refs in zip(predictions, refs_ngrams):
    hyp = words(pred)
    hyp_vec, hyp_norm = vector([ngrams(hyp, n) for n in range(1, max_order + 1)])
    total = np.zeros(max_order)
    for ref in refs:
      ref_vec, ref_norm = vector(ref)
      for n in range(max_order):
        dot = sum(x * ref_vec[n].get(g, 0.0) for g, x in hyp_vec[n].items())
        if hyp_norm[n] and ref_norm[n]:
          total[n] += dot / (hyp_norm[n] * ref_norm[n])
    scores.append(10.0 * total.mean() / len(refs))
  return float(100 * np.mean(scores))


cider = cider_plain  # the name callers used before cider_d existed


def cider_d(predictions: Sequence[str], references: Sequence[Sequence[str]],
            max_order: int = 4, sigma: float = 6.0, tokenize: Tokenizer = words) -> float:
  """CIDEr-D (Vedantam et al. 2015; coco-caption's ``Cider``), in percent (x 100).

  Per order n = 1..max_order, each caption is a tf-idf vector g(x) = count(x) * log(N / df(x))
  with N the number of captions scored and df(x) the number of them whose reference set has
  x (at least 1). Against one reference r the candidate c scores, per order,
  sum_x min(g_c(x), g_r(x)) g_r(x) / (|g_c| |g_r|) * exp(-(l_c - l_r)^2 / (2 sigma^2)):
  candidate weights clipped to the reference's, and a Gaussian length penalty. Lengths l are
  counted as coco-caption counts them, in bigrams (words - 1 for a non-empty caption).
  A caption's score: 10 x (sum over references, mean over orders) / number of references;
  the corpus score is the mean. coco-caption tokenises with the PTB tokenizer and lower
  case; nlgmetricverse's CIDEr (MotionGPT's) splits the raw text on white space
  (``tokenize=str.split``: case and punctuation kept).
  """
  _check(predictions, references)
  orders = range(1, max_order + 1)

  def counts(text):
    tokens = tokenize(text)
    # coco-caption's length is the number of bigrams it counted (none when max_order is 1)
    return [ngrams(tokens, n) for n in orders], max(len(tokens) - 1, 0) * (max_order > 1)

  candidates = [counts(p) for p in predictions]
  reference_sets = [[counts(r) for r in refs] for refs in references]
  document_frequency = collections.Counter()
  for refs in reference_sets:
    document_frequency.update({g for by_order, _ in refs for c in by_order for g in c})
  log_documents = math.log(len(reference_sets))

  def weights(by_order):
    out = []
    for c in by_order:
      w = {g: k * (log_documents - math.log(max(1, document_frequency[g])))
           for g, k in c.items()}
      out.append((w, math.sqrt(sum(x * x for x in w.values()))))
    return out

  scores = []
  for (cand, cand_len), refs in zip(candidates, reference_sets):
    cand_w = weights(cand)
    total = np.zeros(max_order)
    for ref, ref_len in refs:
      penalty = math.exp(-((cand_len - ref_len) ** 2) / (2 * sigma ** 2))
      for n, ((wc, norm_c), (wr, norm_r)) in enumerate(zip(cand_w, weights(ref))):
        overlap = sum(min(x, wr[g]) * wr[g] for g, x in wc.items() if g in wr)
        if norm_c and norm_r:
          overlap /= norm_c * norm_r
        total[n] += overlap * penalty
    scores.append(10.0 * total.mean() / len(refs))
  return float(100 * np.mean(scores))
