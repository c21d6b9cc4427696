"""BERTScore (Zhang et al. 2020) through the ``bert-score`` package, from a local model folder.

MotionGPT (``mGPT/metrics/m2t.py``) calls ``bert_score.score(predictions, references,
lang="en", idf=True, rescale_with_baseline=True)`` and reports ``F1.mean()``. That is:
- model roberta-large, hidden layer 17 (the package's tuned layer for it); each caption is
  encoded with <s> and </s> around it and a space before it, as transformers 4 did;
- greedy cosine matching: precision averages, over the candidate's tokens, the best cosine with
  a reference token, recall the other way; F1 = 2PR / (P + R); <s> and </s> take part in the
  matching but weigh 0;
- idf weights log((M + 1) / (m_t + 1)): M the references of all motions together (repeats
  counted), m_t those holding token t; without idf every other token weighs 1;
- several references per caption (MotionGPT's three): the best P, R and F1 over them, each
  on its own;
- F1 rescaled by the package's baseline b for the model and layer, (F1 - b) / (1 - b)
  (``rescale_baseline/en/roberta-large.tsv``, layer 17: b = 0.83122575);
- the mean over captions; here in percent, as the paper's tables.
``BertScore`` makes the same call with a local folder (nothing is downloaded). The folder's
name says which model it holds (``.../roberta-large``, or a Hugging Face cache snapshot
``.../models--FacebookAI--roberta-large/snapshots/<commit>``), which picks the package's layer
and baseline; other models need both given.
"""

from __future__ import annotations

import os
import warnings
from typing import Sequence

PAPER_MODEL = "roberta-large"
INSTALL = "pip install 'motiongpt-jax[bertscore]'"


def model_name(model_dir: str) -> str:
  """The model a folder holds, by the folder's name (see the module docstring)."""
  parent, name = os.path.split(os.path.abspath(model_dir))
  repo = os.path.basename(os.path.dirname(parent))
  if os.path.basename(parent) == "snapshots" and repo.startswith("models--"):
    name = repo.split("--")[-1]
  return name


def _import_package():
  try:
    import bert_score
    import bert_score.utils
    import transformers
  except ImportError as e:
    raise ImportError(f"BERTScore needs the bert-score package ({e}); {INSTALL}") from None
  return bert_score, transformers


def resolve(model_dir: str, layer: int | None = None,
            baseline: str | bool | None = None) -> tuple[str, int, str | None]:
  """(model name, layer, baseline file or None) for a model folder.

  ``layer`` and ``baseline`` (a ``LAYER,P,R,F`` csv, or False: no rescaling) default to the
  package's for the model the folder is named after.
  """
  if not os.path.isdir(model_dir):
    raise FileNotFoundError(f"{model_dir}: no such model folder (a local Hugging Face model "
                            f"for BERTScore; the paper's is {PAPER_MODEL})")
  bert_score, _ = _import_package()
  name = model_name(model_dir)
  # the package's names, e.g. "roberta-large", "microsoft/deberta-xlarge-mnli"
  known = {k.split("/")[-1]: k for k in bert_score.utils.model2layers}
  if layer is None:
    if name not in known:
      raise ValueError(f"{model_dir}: bert-score has no layer for a model named {name!r}; name "
                       f"the folder after the model it holds (e.g. {PAPER_MODEL}) or give "
                       f"the layer")
    layer = bert_score.utils.model2layers[known[name]]
  if baseline is None:
    baseline = os.path.join(os.path.dirname(bert_score.__file__), "rescale_baseline", "en",
                            known.get(name, name) + ".tsv")
    if not os.path.isfile(baseline):
      raise ValueError(f"{model_dir}: bert-score ships no rescaling baseline for a model named "
                       f"{name!r} ({baseline}); give a baseline file, or none (no rescaling)")
  elif baseline and not os.path.isfile(baseline):
    raise FileNotFoundError(f"{baseline}: no such BERTScore baseline file (LAYER,P,R,F rows)")
  return name, layer, baseline or None


class BertScore:
  """Mean BERTScore F1 in percent: ``BertScore(folder)(predictions, references)``, where
  ``references`` holds a list of captions per prediction. Defaults: MotionGPT's call."""

  def __init__(self, model_dir: str, layer: int | None = None, idf: bool = True,
               baseline: str | bool | None = None, device: str | None = None,
               batch_size: int = 64):
    self.name, self.layer, self.baseline = resolve(model_dir, layer, baseline)
    path = os.path.abspath(model_dir)
    if "t5" in path and "t5" not in self.name:
      raise ValueError(f"{model_dir}: bert-score loads a model whose path contains 't5' as a "
                       f"T5 encoder; move the folder to a path without 't5'")
    bert_score, transformers = _import_package()
    self.idf, self.batch_size, self.version = idf, batch_size, bert_score.__version__
    self._package_dir = os.path.dirname(bert_score.__file__) + os.sep
    self._scorer = bert_score.BERTScorer(
        model_type=path, num_layers=self.layer, idf=idf, nthreads=0, batch_size=batch_size,
        device=device, lang="en", rescale_with_baseline=self.baseline is not None,
        baseline_path=self.baseline)
    if isinstance(self._scorer._tokenizer, (transformers.GPT2Tokenizer,
                                            transformers.RobertaTokenizer)):
      # bert-score asks encode() for the leading space, which transformers 5 ignores; a
      # tokenizer made with the space puts it there under transformers 4 and 5 alike
      self._scorer._tokenizer = transformers.AutoTokenizer.from_pretrained(
          path, use_fast=False, add_prefix_space=True)

  @property
  def description(self) -> str:
    """The scorer and its settings, for the tables."""
    baseline = "not rescaled"
    if self.baseline:  # the package's own file by its place in the package
      baseline = "rescaled by " + (os.path.relpath(self.baseline, self._package_dir)
                                   if self.baseline.startswith(self._package_dir)
                                   else self.baseline)
    return (f"F1 of bert-score {self.version}, {self.name} layer {self.layer}, "
            f"{'idf' if self.idf else 'no idf'}, {baseline}")

  def __call__(self, predictions: Sequence[str],
               references: Sequence[Sequence[str]]) -> float:
    if len(predictions) != len(references) or not predictions:
      raise ValueError(f"BERTScore: {len(predictions)} predictions and {len(references)} "
                       f"reference sets; expected as many, at least one")
    for i, refs in enumerate(references):
      if isinstance(refs, str) or not refs:
        raise ValueError(f"BERTScore: references[{i}] must be a non-empty list of captions")
    if self.idf:  # over this corpus's references, as bert_score.score does
      with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Overwriting the previous importance")
        self._scorer.compute_idf([r for refs in references for r in refs])
    _, _, f1 = self._scorer.score(list(predictions), [list(r) for r in references],
                                  batch_size=self.batch_size)
    return float(100 * f1.mean())
