"""Postprocessors and metric functions attached to the SeqIO tasks.

Postprocessors turn decoded model output into what a metric compares: motion outputs into
code lists, length answers into numbers, captions into stripped text. The metrics here are
the ones that need no learned model (token accuracy, length error, exact match, unigram F1);
the paper's FID / R-precision / BLEU / CIDEr / BERTScore plug in next to them.
"""

from __future__ import annotations

import re

import numpy as np

from motiongpt_jax import protocol

MOTION_ID = protocol.MOTION_ID
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def postprocess_motion(output, example=None, is_target=False, *, num_codes: int):
  """The codes of a decoded motion answer; ``num_codes`` is the vocabulary's codebook size
  (the tasks bind it when they are registered)."""
  text = output if isinstance(output, str) else output.decode()
  return protocol.codes_from_text(text, num_codes)


def postprocess_number(output, example=None, is_target=False):
  text = output if isinstance(output, str) else output.decode()
  match = NUMBER.search(text)
  return float(match.group()) if match else float("nan")


def postprocess_text(output, example=None, is_target=False):
  text = output if isinstance(output, str) else output.decode()
  return " ".join(MOTION_ID.sub(" ", text).split())


def motion_token_metrics(targets, predictions) -> dict:
  """Position-wise code accuracy and the relative length error of generated motions."""
  accuracy, length_error = [], []
  for t, p in zip(targets, predictions):
    n = max(len(t), 1)
    accuracy.append(sum(a == b for a, b in zip(t, p)) / n)
    length_error.append(abs(len(p) - len(t)) / n)
  return {"motion_token_accuracy": 100 * float(np.mean(accuracy)),
          "motion_length_error": 100 * float(np.mean(length_error))}


def number_metrics(targets, predictions) -> dict:
  errors = [abs(t - p) if np.isfinite(p) else abs(t) for t, p in zip(targets, predictions)]
  valid = [np.isfinite(p) for p in predictions]
  return {"length_abs_error": float(np.mean(errors)),
          "length_answered": 100 * float(np.mean(valid))}


def caption_metrics(targets, predictions) -> dict:
  exact, f1 = [], []
  for t, p in zip(targets, predictions):
    exact.append(t.lower() == p.lower())
    tw, pw = t.lower().split(), p.lower().split()
    common = sum(min(tw.count(w), pw.count(w)) for w in set(pw))
    precision, recall = common / max(len(pw), 1), common / max(len(tw), 1)
    f1.append(0.0 if common == 0 else 2 * precision * recall / (precision + recall))
  return {"caption_exact_match": 100 * float(np.mean(exact)),
          "caption_unigram_f1": 100 * float(np.mean(f1))}
