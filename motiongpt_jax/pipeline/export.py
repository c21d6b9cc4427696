"""``motiongpt export-t5``: a trained language model as a T5X checkpoint or a Hugging Face
folder, for use outside this project.

Folder written (``--format hf``)::

  config.json              transformers T5 config (+ motiongpt_real_vocab_size)
  generation_config.json   decoder start / pad 0, EOS, padding rows as suppress_tokens
  model.safetensors        float32 weights under transformers' T5 names
  spiece.model             the run's SentencePiece model (text ids), when the run has one
  motiongpt_vocab.json     id layout: text ids, motion codes, start/end/mask, padding rows

(``--format t5x``): ``checkpoint_STEP/`` (T5X msgpack ``checkpoint`` + one TensorStore zarr
folder per parameter; optimizer state not included), ``motiongpt_t5.json`` (the T5Config,
which T5X keeps in gin instead), ``spiece.model``, ``motiongpt_vocab.json``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

from motiongpt_jax import protocol, runs
from motiongpt_jax.pipeline.report import Reporter
from motiongpt_jax.t5 import checkpoints as t5_checkpoints
from motiongpt_jax.t5 import t5x_checkpoints

FORMATS = ("t5x", "hf")
VOCAB_FILE = "motiongpt_vocab.json"


@dataclasses.dataclass
class ExportResult:
  out: str
  format: str
  step: int
  files: list[str]


def _vocabulary(run_config, t5_config) -> tuple[dict, str | None]:
  """(id layout, SentencePiece model path or None) of a run, without loading TensorFlow."""
  data = run_config.get("data", {})
  spm, tokens = data.get("spm"), data.get("tokens")
  codes = 512
  if tokens and os.path.exists(os.path.join(tokens, runs.TOKENS)):
    codes = int(runs.read_tokens_meta(tokens)["num_codes"])
  used = t5_config.real_vocab_size or t5_config.vocab_size
  text = used - codes - 3  # train_lm: real_vocab_size = text ids + codes + start/end/mask
  eos = 1
  if spm and os.path.exists(spm):
    import sentencepiece
    eos = int(sentencepiece.SentencePieceProcessor(model_file=spm).eos_id())
  else:
    spm = None
  layout = {
      "text_ids": [0, text], "num_motion_codes": codes, "motion_offset": text,
      "motion_token": "<motion_id_K> is id motion_offset + K",
      "motion_start_id": text + protocol.start_code(codes),
      "motion_end_id": text + protocol.end_code(codes),
      "motion_mask_id": text + protocol.mask_code(codes),
      "real_vocab_size": used, "embedding_rows": t5_config.vocab_size,
      "padding_rows": [used, t5_config.vocab_size], "pad_id": 0, "eos_id": eos,
      "decoder_start_id": 0,
      "spiece_model": "spiece.model" if spm else None,
      "note": "text ids 0..T-1 are spiece.model's pieces followed by its 100 <extra_id_*> "
              "sentinels (seqio); rows from real_vocab_size on are padding: mask them"}
  return layout, spm


def export_t5(workdir: str, out: str, fmt: str, step: int | None = None,
              dtype: str = "float32", report: Reporter | None = None) -> ExportResult:
  """Writes the language model of the run ``workdir`` (its latest checkpoint, or ``step``)
  to the new or empty folder ``out`` as ``fmt`` ("t5x" or "hf")."""
  report = report or Reporter()
  if fmt not in FORMATS:
    raise ValueError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
  if fmt == "hf" and dtype != "float32":
    raise ValueError(f"--dtype {dtype}: Hugging Face exports are float32")
  if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
    raise FileExistsError(f"{out}: exists and is not an empty folder; choose a new --out")
  run_config, t5_config, step, params = runs.load_lm(workdir, step)
  layout, spm = _vocabulary(run_config, t5_config)
  os.makedirs(out, exist_ok=True)
  if fmt == "hf":
    t5_checkpoints.export_hf_t5(out, t5_config, params, eos_id=layout["eos_id"])
  else:
    t5x_checkpoints.write_t5x_checkpoint(out, t5_config, params, step=step, dtype=dtype)
  if spm:
    shutil.copyfile(spm, os.path.join(out, "spiece.model"))
  layout["source"] = {"workdir": os.path.abspath(workdir), "step": step}
  with open(os.path.join(out, VOCAB_FILE), "w") as f:
    json.dump(layout, f, indent=2)
  files = sorted(os.listdir(out))
  report.log(f"exported {workdir} (step {step}) as {fmt} to {out}: {', '.join(files)}")
  return ExportResult(out=out, format=fmt, step=step, files=files)
