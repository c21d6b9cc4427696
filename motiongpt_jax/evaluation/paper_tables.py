"""MotionGPT's evaluation tables for a trained model, with the real-data and baseline rows.

- Text-to-motion (Table 2 of the paper): per replication, one random caption per test motion,
  one generated motion per caption; R-precision top-1/2/3, FID, MM-Dist, Diversity, and
  MultiModality (``mm_captions`` captions x ``mm_repeats`` generations). Rows: real motion
  (under the reference's evaluation-time crop), MotionGPT, and motions decoded from uniformly
  random tokens of the real lengths (what FID is compared against).
- Motion-to-text (Table 3): greedy captions of the whole test motions against all their
  reference captions: R-precision and MM-Dist (generated text vs real motion), BLEU@1/@4,
  ROUGE-L, CIDEr, BERTScore (when a ``bertscore.BertScore`` is given; its settings go in the
  table's info). Rows: real captions, MotionGPT, and
  the caption of a random training motion.
- Motion prediction and in-between (Table 5): the first 20% of the tokens continued, or the
  middle half filled; FID, Diversity, ADE and FDE (metres, global joint positions, over the
  generated span). Rows: MotionGPT and the pose held from the last seen frame.
Every figure is a mean over replications with its 95% confidence half-width.

Scoring protocols (``protocol``, printed in each table's header and kept in results.json):
- ``motiongpt`` (default), as the paper scored (OpenMotionLab/MotionGPT ``mGPT/metrics/m2t.py``
  through nlgmetricverse): BLEU as tensorflow/nmt's ``compute_bleu`` (brevity against the
  shortest reference; text lower-cased, punctuation split off), CIDEr-D (coco-caption's
  ``Cider``: clipped tf-idf, Gaussian length penalty, sigma 6, x10, on whitespace tokens),
  references = the lemmatised word parts of a motion's ``word/POS`` caption tokens, cut or
  padded (by repetition) to three; real motions re-cropped per replication as Guo et al.'s
  evaluation loader does (``protocol.eval_crop``). BERTScore: MotionGPT's ``bert_score.score``
  call (``bertscore.py``) against those three references.
- ``raw``: BLEU with the closest reference's length, plain CIDEr, the raw captions as
  references, whole real motions as the FID reference. BERTScore: the same scorer against all
  of a motion's raw captions (idf counted over those).
The evaluator reads padded motions as Guo et al.'s packed GRU does (the padding never enters
an embedding); MotionGPT's released code pads to the longest motion of each batch, which makes
an embedding depend on its batch, so it is not offered.
"""

from __future__ import annotations

import json
import time
from typing import Callable

import numpy as np

from motiongpt_jax import protocol
from motiongpt_jax.data import humanml3d
from motiongpt_jax.evaluation import metrics as M
from motiongpt_jax.evaluation import text_metrics as TM
from motiongpt_jax.inference import splice
from motiongpt_jax.motion import features as F

UNIT = protocol.FRAMES_PER_TOKEN
eval_crop = protocol.eval_crop
PROTOCOLS = ("motiongpt", "raw")
MOTIONGPT_REFERENCES = 3  # MotionGPT scores against exactly three references per motion


def check_protocol(name: str) -> str:
  if name not in PROTOCOLS:
    raise ValueError(f"--protocol {name!r}: expected one of {', '.join(PROTOCOLS)}")
  return name


def caption_references(sample: humanml3d.Sample, protocol_name: str = "motiongpt") -> list[str]:
  """A motion's reference captions under a protocol (see the module docstring)."""
  if protocol_name == "raw":
    return [c.text for c in sample.captions]
  lemmas = [" ".join(t.split("/")[0] for t in c.tokens) for c in sample.captions]
  return [lemmas[i % len(lemmas)] for i in range(MOTIONGPT_REFERENCES)]


def caption_scores(texts, references, protocol_name: str = "motiongpt") -> dict:
  """BLEU@1, BLEU@4, ROUGE-L and CIDEr of captions under a protocol."""
  if protocol_name == "raw":
    return {"BLEU@1": TM.bleu_closest(texts, references, 1),
            "BLEU@4": TM.bleu_closest(texts, references),
            "ROUGE-L": TM.rouge_l(texts, references),
            "CIDEr": TM.cider_plain(texts, references)}
  return {"BLEU@1": TM.bleu_nmt(texts, references, 1, tokenize=TM.punctuation_split),
          "BLEU@4": TM.bleu_nmt(texts, references, 4, tokenize=TM.punctuation_split),
          "ROUGE-L": TM.rouge_l(texts, references),
          "CIDEr": TM.cider_d(texts, references, tokenize=str.split)}


def _summarise(per_replication: list[dict]) -> dict:
  keys = per_replication[0].keys()
  return {k: M.mean_and_interval([r[k] for r in per_replication]) for k in keys}


def _generation_figures(text_emb, motion_emb, real_emb, order, rng) -> dict:
  top, matching = M.r_precision(text_emb[order], motion_emb[order])
  return {"R@1": top[0], "R@2": top[1], "R@3": top[2], "FID": M.fid(real_emb, motion_emb),
          "MM-Dist": matching, "Diversity": M.diversity(motion_emb, 300, rng)}


def _embed_codes(model, evaluator, code_lists, chunk: int = 1024) -> np.ndarray:
  """Evaluator embeddings of the motions decoded from ``code_lists``, decoded and embedded
  ``chunk`` at a time, so a whole split's features (1.4 GB for HumanML3D's test split) are
  never held at once. Rows are independent: the same embeddings as one call."""
  return np.concatenate([evaluator.embed_motions(model.features_many(code_lists[i:i + chunk]))
                         for i in range(0, len(code_lists), chunk)])


def text_to_motion(model, evaluator, samples: list[humanml3d.Sample], replications: int = 20,
                   mm_captions: int = 100, mm_repeats: int = 30, seed: int = 0,
                   top_k: int = 50, temperature: float = 1.0,
                   log: Callable[[str], None] = print,
                   protocol_name: str = "motiongpt") -> dict:
  """The text-to-motion rows. ``samples`` hold un-normalised features."""
  check_protocol(protocol_name)
  real = [s.motion for s in samples]
  whole_emb = evaluator.embed_motions(real)
  rows = {"Real motion": [], "MotionGPT": [], "Random tokens": []}
  generated_per_second = []
  for r in range(replications):
    rng = np.random.default_rng([seed, r])
    real_emb = whole_emb
    if protocol_name == "motiongpt":  # Guo et al.'s loader crops the references anew
      real_emb = evaluator.embed_motions(
          [eval_crop(m, np.random.default_rng([seed, 13, r, i])) for i, m in enumerate(real)])
    captions = [s.captions[rng.integers(len(s.captions))] for s in samples]
    order = rng.permutation(len(samples))
    text_emb = evaluator.embed_texts([c.tokens for c in captions])
    start = time.perf_counter()
    codes = model.motion_codes([model.t2m_prompt(c.text) for c in captions], 1000 * seed + r,
                               top_k, temperature)
    gen_emb = _embed_codes(model, evaluator, codes)
    generated_per_second.append(len(codes) / (time.perf_counter() - start))
    cropped_emb = evaluator.embed_motions([eval_crop(m, rng) for m in real])
    random_codes = [rng.integers(0, model.vocab.num_motion_codes, max(len(m) // UNIT, 1))
                    for m in real]
    random_emb = _embed_codes(model, evaluator, random_codes)
    rows["Real motion"].append(_generation_figures(text_emb, cropped_emb, real_emb, order, rng))
    rows["MotionGPT"].append(_generation_figures(text_emb, gen_emb, real_emb, order, rng))
    rows["Random tokens"].append(_generation_figures(text_emb, random_emb, real_emb, order,
                                                     rng))
    if mm_captions and mm_repeats > 1:
      chosen = order[:min(mm_captions, len(samples))]
      prompts = [model.t2m_prompt(captions[i].text) for i in chosen for _ in range(mm_repeats)]
      mm_codes = model.motion_codes(prompts, 10_000 + 1000 * seed + r, top_k, temperature)
      mm_emb = _embed_codes(model, evaluator, mm_codes)
      rows["MotionGPT"][-1]["MModality"] = M.multimodality(
          mm_emb.reshape(len(chosen), mm_repeats, -1), 10, rng)
    row = rows["MotionGPT"][-1]
    log(f"  text-to-motion replication {r + 1}/{replications}: R@3 {row['R@3']:.3f} "
        f"FID {row['FID']:.3f} MM-Dist {row['MM-Dist']:.3f} "
        f"({generated_per_second[-1]:.1f} motions/s)")
  table = {name: _summarise(values) for name, values in rows.items()}
  table["_info"] = {"protocol": protocol_name, "motions": len(samples),
                    "replications": replications, "mm_captions": mm_captions, "mm_repeats": mm_repeats, "top_k": top_k,
                    "temperature": temperature,
                    "generated_motions_per_second": float(np.mean(generated_per_second))}
  return table


def motion_to_text(model, evaluator, samples: list[humanml3d.Sample],
                   train_captions: list[str], bert_scorer=None, seed: int = 0,
                   log: Callable[[str], None] = print,
                   protocol_name: str = "motiongpt") -> dict:
  """The motion-to-text rows over whole test motions (greedy decoding: one replication)."""
  check_protocol(protocol_name)
  rng = np.random.default_rng([seed, 7])
  references = [caption_references(s, protocol_name) for s in samples]
  codes = [model.codes_of(s.motion) for s in samples]
  start = time.perf_counter()
  predictions = model.caption_codes(codes)
  seconds = time.perf_counter() - start
  baseline = [train_captions[i] for i in rng.integers(0, len(train_captions), len(samples))]
  motion_emb = evaluator.embed_motions([s.motion for s in samples])
  table = {}
  for name, texts, tokens in (
      ("Real captions", [s.captions[0].text for s in samples],
       [s.captions[0].tokens for s in samples]),
      ("MotionGPT", predictions, [evaluator.tag(t) for t in predictions]),
      ("Random caption", baseline, [evaluator.tag(t) for t in baseline])):
    text_emb = evaluator.embed_texts(tokens)
    top, matching = M.r_precision(text_emb, motion_emb)
    row = {"R@1": top[0], "R@2": top[1], "R@3": top[2], "MM-Dist": matching}
    if name != "Real captions":  # the references include the real caption itself
      row.update(caption_scores(texts, references, protocol_name))
      if bert_scorer is not None:
        row["BERTScore"] = bert_scorer(texts, references)
    table[name] = {k: (float(v), 0.0) for k, v in row.items()}
  table["_info"] = {"protocol": protocol_name, "motions": len(samples),
                    "captions_per_second": len(samples) / seconds,
                    "examples": [{"references": r, "prediction": p}
                                 for r, p in list(zip(references, predictions))[:5]]}
  if bert_scorer is not None:
    table["_info"]["bertscore"] = bert_scorer.description
  log(f"  motion-to-text: BLEU@4 {table['MotionGPT']['BLEU@4'][0]:.2f} vs random caption "
      f"{table['Random caption']['BLEU@4'][0]:.2f}")
  return table


def span_errors(real: np.ndarray, generated: np.ndarray, first: int, last: int):
  """(model ADE, FDE), (held-pose ADE, FDE) over frames [first, last) of the real motion.

  ``generated`` is the model's whole motion (features); its frames from ``first`` on follow
  the real ones before. A model motion that ends early holds its final pose; the baseline
  holds the last seen real pose (frame ``first - 1``).
  """
  target = F.features_to_joints(real)[first:last]
  ours = F.features_to_joints(splice(real, generated, first))[first:last]
  if len(ours) < len(target):
    ours = np.concatenate([ours, np.repeat(ours[-1:], len(target) - len(ours), axis=0)])
  held = np.repeat(F.features_to_joints(real[:first])[-1:], len(target), axis=0)
  return M.displacement_errors(ours, target), M.displacement_errors(held, target)


def motion_to_motion(model, evaluator, samples: list[humanml3d.Sample], replications: int = 3,
                     seed: int = 0, top_k: int = 50, temperature: float = 1.0,
                     log: Callable[[str], None] = print) -> dict:
  """Prediction and in-between rows (sampled decoding, so several replications)."""
  codes = [model.codes_of(s.motion) for s in samples]
  real = [s.motion[:UNIT * len(c)] for s, c in zip(samples, codes)]
  real_emb = evaluator.embed_motions(real)
  rows = {"Prediction: MotionGPT": [], "Prediction: hold last pose": [],
          "In-between: MotionGPT": [], "In-between: hold last pose": []}
  for r in range(replications):
    rng = np.random.default_rng([seed, 11, r])
    keeps = [protocol.prediction_keep(len(c)) for c in codes]
    predicted = model.predict_codes([c[:k] for c, k in zip(codes, keeps)], 2000 + r, top_k,
                                    temperature)
    filled = model.inbetween_codes(codes, 3000 + r, top_k, temperature)
    for task, outputs, spans in (
        ("Prediction", predicted, [(UNIT * k, UNIT * len(c)) for c, k in zip(codes, keeps)]),
        ("In-between", filled, [tuple(UNIT * b for b in protocol.inbetween_bounds(len(c)))
                                for c in codes])):
      features = model.features_many(outputs)
      model_errors, held_errors = [], []
      for f, real_f, (first, last) in zip(features, real, spans):
        ours, base = span_errors(real_f, f, first, last)
        model_errors.append(ours)
        held_errors.append(base)
      emb = evaluator.embed_motions(features)
      ours, base = np.mean(model_errors, 0), np.mean(held_errors, 0)
      rows[f"{task}: MotionGPT"].append({"FID": M.fid(real_emb, emb),
                                         "Diversity": M.diversity(emb, 300, rng),
                                         "ADE": ours[0], "FDE": ours[1]})
      rows[f"{task}: hold last pose"].append({"ADE": base[0], "FDE": base[1]})
    log(f"  prediction/in-between replication {r + 1}/{replications}: prediction ADE "
        f"{rows['Prediction: MotionGPT'][-1]['ADE']:.3f} m (held pose "
        f"{rows['Prediction: hold last pose'][-1]['ADE']:.3f}), in-between ADE "
        f"{rows['In-between: MotionGPT'][-1]['ADE']:.3f} m (held pose "
        f"{rows['In-between: hold last pose'][-1]['ADE']:.3f})")
  table = {name: _summarise(values) for name, values in rows.items()}
  table["_info"] = {"motions": len(samples), "replications": replications, "top_k": top_k,
                    "temperature": temperature}
  return table


# ------------------------------------------------------------------------------ output

COLUMNS = {
    "text_to_motion": ["R@1", "R@2", "R@3", "FID", "MM-Dist", "Diversity", "MModality"],
    "motion_to_text": ["R@1", "R@2", "R@3", "MM-Dist", "BLEU@1", "BLEU@4", "ROUGE-L", "CIDEr",
                       "BERTScore"],
    "motion_to_motion": ["FID", "Diversity", "ADE", "FDE"],
}
TITLES = {"text_to_motion": "Text-to-motion", "motion_to_text": "Motion-to-text",
          "motion_to_motion": "Motion prediction and in-between (ADE/FDE in metres)"}


def _cell(value) -> str:
  if value is None:
    return "-"
  mean, interval = value
  return f"{mean:.3f}" if not interval else f"{mean:.3f} ±{interval:.3f}"


def to_markdown(tables: dict) -> str:
  lines = []
  for key, table in tables.items():
    if key not in COLUMNS:
      continue
    columns = [c for c in COLUMNS[key]
               if any(c in row for name, row in table.items() if name != "_info")]
    info = table.get("_info", {})
    lines += [f"### {TITLES[key]}", ""]
    if info:
      lines += [", ".join(f"{k.replace('_', ' ')}: {v:.1f}" if isinstance(v, float) else
                          f"{k.replace('_', ' ')}: {v}" for k, v in info.items()
                          if not isinstance(v, list)), ""]
    lines.append("| | " + " | ".join(columns) + " |")
    lines.append("|---" * (len(columns) + 1) + "|")
    for name, row in table.items():
      if name != "_info":
        lines.append(f"| {name} | " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    lines.append("")
  return "\n".join(lines)


def write(tables: dict, json_path: str, markdown_path: str) -> None:
  def plain(x):
    if isinstance(x, dict):
      return {k: plain(v) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
      return [plain(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
      return x.item()
    return x
  with open(json_path, "w") as f:
    json.dump(plain(tables), f, indent=1)
  with open(markdown_path, "w") as f:
    f.write(to_markdown(tables))
