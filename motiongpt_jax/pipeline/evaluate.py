"""The paper's evaluation tables for a trained run (``motiongpt eval``)."""

from __future__ import annotations

import os

from motiongpt_jax import runs
from motiongpt_jax.data import humanml3d
from motiongpt_jax.evaluation import paper_tables
from motiongpt_jax.evaluation.evaluator import Evaluator
from motiongpt_jax.evaluation.bertscore import BertScore
from motiongpt_jax.inference import MotionGPT, check_sampling
from motiongpt_jax.pipeline.report import Reporter

TASKS = ("t2m", "m2t", "m2m")


def evaluate_run(workdir: str, evaluator_dir: str, out: str | None = None,
                 data: str | None = None, split: str = "test", tasks=TASKS,
                 replications: int = 20, mm_captions: int = 100, mm_repeats: int = 30,
                 m2m_replications: int = 3, limit: int = 0, bert_model: str | None = None,
                 seed: int = 0, top_k: int = 50, temperature: float = 1.0,
                 protocol: str = "motiongpt", report: Reporter | None = None) -> dict:
  """The tables of ``tasks`` for the run in ``workdir``, judged by the evaluator in
  ``evaluator_dir``; writes OUT/results.json and OUT/results.md (OUT defaults to
  WORKDIR/eval) and returns the tables. ``protocol``: how captions are scored and real
  motions cropped (``paper_tables.PROTOCOLS``; ``motiongpt`` is the paper's)."""
  report = report or Reporter()
  paper_tables.check_protocol(protocol)
  unknown = set(tasks) - set(TASKS)
  if unknown:
    raise ValueError(f"--tasks: unknown {sorted(unknown)}; choose from {', '.join(TASKS)}")
  check_sampling(temperature, top_k)
  if replications < 1 or m2m_replications < 1:
    raise ValueError("--replications and --m2m-replications must be at least 1")
  out = out or os.path.join(workdir, runs.EVAL)
  model = MotionGPT.load(workdir)
  evaluator = Evaluator.load(evaluator_dir)
  data = data or model.config.data.path
  if evaluator.config.feature_dim != model.tokenizer.feature_dim:
    raise ValueError(f"{evaluator_dir}: an evaluator of {evaluator.config.feature_dim} "
                     f"features cannot judge a model of {model.tokenizer.feature_dim}")
  everything = humanml3d.read_split(data, split, normalize=False)
  whole = humanml3d.read_split(data, split, normalize=False, include_spans=False)
  if limit:
    everything, whole = everything[:limit], whole[:limit]
  if len(everything) < 32 or len(whole) < 32:
    raise ValueError(f"{data} split {split!r}: {len(whole)} motions; R-precision needs "
                     f"at least 32")
  bert_scorer = BertScore(bert_model) if bert_model else None  # MotionGPT's settings
  os.makedirs(out, exist_ok=True)
  tables = {}
  if "t2m" in tasks:
    report.log(f"text-to-motion ({protocol} protocol): {len(everything)} captioned motions, "
               f"{replications} replications")
    tables["text_to_motion"] = paper_tables.text_to_motion(
        model, evaluator, everything, replications, mm_captions, mm_repeats, seed, top_k,
        temperature, log=report.log, protocol_name=protocol)
  if "m2t" in tasks:
    report.log(f"motion-to-text ({protocol} protocol): {len(whole)} motions")
    train_captions = [c.text for s in humanml3d.read_split(data, "train", normalize=False,
                                                           include_spans=False)
                      for c in s.captions]
    tables["motion_to_text"] = paper_tables.motion_to_text(
        model, evaluator, whole, train_captions, bert_scorer, seed, log=report.log,
        protocol_name=protocol)
  if "m2m" in tasks:
    report.log(f"prediction and in-between: {len(whole)} motions, {m2m_replications} "
               f"replications")
    tables["motion_to_motion"] = paper_tables.motion_to_motion(
        model, evaluator, whole, m2m_replications, seed, top_k, temperature, log=report.log)
  paper_tables.write(tables, os.path.join(out, "results.json"),
                     os.path.join(out, "results.md"))
  report.log(f"tables written to {out}/results.json and {out}/results.md")
  return tables
