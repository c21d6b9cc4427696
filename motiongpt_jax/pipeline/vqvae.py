"""Stage 1: train the motion VQ-VAE, measure its reconstruction, tokenize a data folder."""

from __future__ import annotations

import dataclasses
import os

from motiongpt_jax import runs
from motiongpt_jax.data import humanml3d
from motiongpt_jax.motion import render
from motiongpt_jax.pipeline.common import resolve_config, training_run
from motiongpt_jax.pipeline.report import Reporter
from motiongpt_jax.train import trainer
from motiongpt_jax.vqvae import token_files
from motiongpt_jax.vqvae.tokenizer import MotionTokenizer
from motiongpt_jax.vqvae.vq_task import VQVAETask, reconstruction_report

DEFAULT_CONFIG = "vqvae.py:tiny"


def load_training_data(folder: str, report: Reporter):
  """(kind, mean, std, train motions, val samples) of a folder that passes ``data check``;
  whole motion files, as the reference VQ-VAE loader (caption spans are text-level).

  The train motions stay on disk (``humanml3d.StoredSample``: ``len`` and slicing read
  and normalise just the window a batch needs, with the values an in-memory copy would
  have), so memory does not grow with the data set; ``check_folder`` has just read and
  checked every file, so indexing them reads only the .npy headers."""
  check = humanml3d.check_folder(folder)
  report.log(check.summary().splitlines()[0])
  kind = humanml3d.detect_kind(folder)
  mean, std = humanml3d.load_mean_std(folder, humanml3d.SPECS[kind])
  train = humanml3d.index_samples(folder, "train", kind=kind, include_spans=False,
                                  validate=False)
  val = humanml3d.read_split(folder, "val", include_spans=False)
  return kind, mean, std, train, val


def train_vqvae(data: str, workdir: str, config=None, overrides=(), eval_samples: int = 64,
                report: Reporter | None = None) -> trainer.TrainResult:
  """Trains (or resumes) the VQ-VAE of ``config`` (a ConfigDict or a config file spec;
  default ``configs/vqvae.py:tiny``) on ``data`` in ``workdir``."""
  report = report or Reporter()
  config = resolve_config(config, overrides, DEFAULT_CONFIG)
  kind, mean, std, train, val = load_training_data(data, report)
  with config.unlocked():
    config.data.feature_dim = int(mean.shape[0])
    config.data.path = os.path.abspath(data)
    config.data.kind = kind
  task = VQVAETask(config, train, val[:eval_samples], mean, std)
  with training_run(workdir, config):
    report.log(f"VQ-VAE {config.variant}: {len(task.windows.motions)} training motions of "
               f">= {config.data.window} frames, {len(val)} validation samples")
    return trainer.train(task, config.train, workdir, log=report.log)


def reconstruct(vqvae: str, data: str, split: str = "test", limit: int = 0, gifs: int = 4,
                out: str | None = None, report: Reporter | None = None) -> dict:
  """Reconstruction error of a split through the VQ-VAE, and side-by-side GIFs in ``out``
  (default ``VQVAE/reconstructions``); returns the report (MPJPE, perplexity, codes used,
  the GIF paths)."""
  report = report or Reporter()
  out = out or os.path.join(vqvae, "reconstructions")
  tokenizer = MotionTokenizer.load(vqvae)
  kind = humanml3d.detect_kind(data)
  # The statistics the VQ-VAE was trained with (an imported run's own, see normalisation).
  mean, std = token_files.normalisation(tokenizer, data, humanml3d.SPECS[kind])
  samples = [dataclasses.replace(s, motion=(s.motion - mean) / std)
             for s in humanml3d.read_split(data, split, include_spans=False, normalize=False)]
  if limit:
    samples = samples[:limit]
  result = reconstruction_report(tokenizer, samples, mean, std, keep=gifs)
  report.log(f"{split} split, {len(samples)} motions, VQ-VAE step {tokenizer.step}: "
             f"MPJPE {result['mpjpe_mm']:.1f} mm (root-aligned), "
             f"{result['mpjpe_global_mm']:.1f} mm (global), "
             f"perplexity {result['perplexity']:.1f}, codes used {result['codes_used']}"
             f"/{tokenizer.num_codes}")
  result["gifs"] = []
  examples = result.pop("examples", [])
  if examples:
    os.makedirs(out, exist_ok=True)
  for sample, original, recon in examples:
    path = os.path.join(out, f"{sample.name}.gif")
    render.render_animation([original, recon], path,
                            [sample.captions[0].text, "VQ-VAE reconstruction"], stride=2)
    report.log(f"  {path}")
    result["gifs"].append(path)
  return result


def tokenize(vqvae: str, data: str, out: str, report: Reporter | None = None) -> dict:
  """Writes the tokens of every motion of ``data`` (and of its mirror image) into ``out``;
  returns tokens.json's content."""
  report = report or Reporter()
  # The folder's files, captions and shapes are checked first; the values (NaN/inf) of each
  # motion as tokenizing reads it (load_motion), before any token file is written: one
  # read of every motion, not two.
  humanml3d.check_folder(data, read_motions=False)
  tokenizer = MotionTokenizer.load(vqvae)
  meta = token_files.tokenize_folder(tokenizer, data, out, vqvae,
                                     progress=report.progress("tokenizing"))
  report.log(f"wrote tokens of {meta['count']} motions (and their mirror images) to {out} "
             f"with the VQ-VAE of {vqvae} at step {tokenizer.step}"
             + (f"; skipped {len(meta['skipped'])} motions shorter than one token"
                if meta["skipped"] else ""))
  return meta


def tokens_current(tokens_dir: str, vqvae: str, step: int) -> bool:
  """Whether ``tokens_dir`` holds the tokens of the VQ-VAE run ``vqvae`` at ``step``."""
  try:
    meta = runs.read_tokens_meta(tokens_dir)
  except runs.RunError:
    return False
  return (meta.get("vqvae_step") == step
          and os.path.realpath(meta["vqvae"]) == os.path.realpath(vqvae))
