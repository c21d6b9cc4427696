"""The demo: the whole pipeline on the procedural data set, every stage measured.

Every stage resumes or is skipped when its output exists, so an interrupted demo continues
where it stopped. Budgets, prompts, sampling and evaluation sizes come from
``configs/demo.py``.
"""

from __future__ import annotations

import dataclasses
import os
import time

from motiongpt_jax import config_utils, runs
from motiongpt_jax.data import humanml3d
from motiongpt_jax.data.synth import generator
from motiongpt_jax.inference import MotionGPT
from motiongpt_jax.motion import features as F
from motiongpt_jax.motion import render
from motiongpt_jax.pipeline.common import resolve_config
from motiongpt_jax.pipeline.evaluate import evaluate_run
from motiongpt_jax.pipeline.evaluator import train_evaluator
from motiongpt_jax.pipeline.lm import train_lm
from motiongpt_jax.pipeline.report import Reporter
from motiongpt_jax.pipeline.vocabulary import train_vocabulary
from motiongpt_jax.pipeline.vqvae import reconstruct, tokenize, tokens_current, train_vqvae

DEFAULT_CONFIG = "demo.py"
STAGES = 12


@dataclasses.dataclass
class DemoResult:
  workdir: str
  preempted: bool = False
  interrupted: bool = False  # a stage stopped by Ctrl-C (SIGINT) rather than SIGTERM
  steps: list = dataclasses.field(default_factory=list)    # one line per stage done
  tables: dict = dataclasses.field(default_factory=dict)   # the evaluation tables
  targets: list = dataclasses.field(default_factory=list)  # (passed, text) per target
  minutes: float = 0.0


def demo_targets(tables: dict, targets) -> list[tuple[bool, str]]:
  """The demo's quality targets, checked on the tables: (passed, text) each."""
  lines = []
  t2m = tables.get("text_to_motion")
  if t2m:
    ours, real, rand = t2m["MotionGPT"], t2m["Real motion"], t2m["Random tokens"]
    k = targets.t2m_r3_of_real
    lines.append((ours["R@3"][0] >= k * real["R@3"][0],
                  f"text-to-motion R@3 {ours['R@3'][0]:.3f} >= {k:g} x real "
                  f"{real['R@3'][0]:.3f}"))
    k = targets.t2m_fid_of_random
    lines.append((ours["FID"][0] <= k * rand["FID"][0],
                  f"text-to-motion FID {ours['FID'][0]:.3f} <= {k:g} x random tokens "
                  f"{rand['FID'][0]:.3f}"))
  m2t = tables.get("motion_to_text")
  if m2t:
    ours, rand = m2t["MotionGPT"]["BLEU@4"][0], m2t["Random caption"]["BLEU@4"][0]
    k = targets.m2t_bleu4_of_random
    lines.append((ours > k * rand, f"motion-to-text BLEU@4 {ours:.2f} > {k:g} x random "
                                   f"caption {rand:.2f}"))
  m2m = tables.get("motion_to_motion")
  if m2m:
    for task in ("Prediction", "In-between"):
      ours, held = m2m[f"{task}: MotionGPT"]["ADE"][0], m2m[f"{task}: hold last pose"]["ADE"][0]
      lines.append((ours < held, f"{task.lower()} ADE {ours:.3f} m < held pose {held:.3f} m"))
  return lines


def run_demo(workdir: str, config=None, overrides=(), report: Reporter | None = None
             ) -> DemoResult:
  """Runs (or continues) the demo of ``config`` (default ``configs/demo.py``) in ``workdir``."""
  report = report or Reporter()
  c = resolve_config(config, overrides, DEFAULT_CONFIG)
  started = time.perf_counter()
  result = DemoResult(workdir)
  data = os.path.join(workdir, "data", "synth")
  pictures = os.path.join(workdir, "pictures")
  vqvae = os.path.join(workdir, "vqvae")
  pretrain, instruct = (os.path.join(workdir, n) for n in ("pretrain", "instruct"))
  evaluator = os.path.join(workdir, "evaluator")
  os.makedirs(pictures, exist_ok=True)

  def header(k, text):
    minutes = (time.perf_counter() - started) / 60
    report.log(f"[{k}/{STAGES}] {text}  ({minutes:.1f} min so far)")

  def stage_config(name: str) -> str:
    return config_utils.project_config(c.configs[name])

  if os.path.exists(os.path.join(data, "Std.npy")):
    header(1, f"data set already at {data} (delete it to re-synthesise)")
  else:
    header(1, f"synthesising {c.num} procedural motions into {data}")
    s = generator.synthesize(data, c.num, c.seed,
                             progress=report.progress("  synthesising"))
    result.steps.append(f"synthesised {c.num} motions in {s['seconds']:.1f}s")
  header(2, "checking the data folder")
  check = humanml3d.check_folder(data)
  report.log(check.summary())
  result.steps.append(f"checked {data}: {check.split_sizes}")
  header(3, "rendering test motions")
  test = humanml3d.read_split(data, "test", normalize=False)[:c.pictures]
  for sample in test:
    out = os.path.join(pictures, f"{sample.name}.gif")
    if not os.path.exists(out):
      render.render_animation([sample.motion], out, [sample.captions[0].text], stride=2)
    report.log(f"  {out}: {sample.captions[0].text}")
  result.steps.append(f"rendered {len(test)} GIFs of real motions into {pictures}")

  header(4, f"training the motion VQ-VAE (configs/{c.configs.vqvae}) in {vqvae}")
  trained = train_vqvae(data, vqvae, stage_config("vqvae"),
                        [f"--config.train.steps={c.steps.vqvae}"], report=report)
  if trained.preempted:
    result.preempted, result.interrupted = True, trained.interrupted
    return result
  result.steps.append(f"trained the VQ-VAE to step {trained.step} "
                      f"({trained.seconds:.0f}s this run)")
  header(5, "VQ-VAE reconstruction of the test split")
  rec = reconstruct(vqvae, data, "test", 0, min(c.pictures, 2),
                    os.path.join(pictures, "reconstructions"), report=report)
  result.steps.append(f"test reconstruction: MPJPE {rec['mpjpe_mm']:.1f} mm, "
                      f"{rec['codes_used']} codes used, GIFs in {pictures}/reconstructions")
  header(6, "tokenizing every motion and its mirror image")
  tokens_dir = os.path.join(data, "tokens")
  if tokens_current(tokens_dir, vqvae, trained.step):
    report.log(f"  tokens of step {trained.step} already in {tokens_dir}")
    meta = runs.read_tokens_meta(tokens_dir)
  else:
    meta = tokenize(vqvae, data, tokens_dir, report=report)
  result.steps.append(f"tokenized {meta['count']} motions into {tokens_dir}")
  spm = os.path.join(data, "spiece.model")
  header(7, "training the text vocabulary on the captions and instruction templates")
  if os.path.exists(spm):
    report.log(f"  {spm} already there")
  else:
    train_vocabulary(data, spm, c.vocab_size, motion_codes=meta["num_codes"], report=report)
  result.steps.append(f"trained the text vocabulary {spm}")

  stages = (
      (8, f"pre-training the tiny T5 on motiongpt_pretrain in {pretrain}", "pre-trained the T5",
       train_lm, "pretrain", [], pretrain),
      (9, f"instruction-tuning it on motiongpt_instruct_core in {instruct}",
       "instruction-tuned the T5", train_lm, "instruct",
       [f"--config.init_from={os.path.abspath(pretrain)}"], instruct),
      (10, f"training the text-motion evaluator in {evaluator}", "trained the evaluator",
       train_evaluator, "evaluator", [], evaluator))
  for k, text, done, train_fn, name, extra, stage_dir in stages:
    header(k, text)
    steps = c.steps[name]
    trained = train_fn(data, stage_dir, stage_config(name),
                       [f"--config.train.steps={steps}", f"--config.train.eval_every={steps}",
                        f"--config.train.checkpoint_every={max(steps // 3, 1)}", *extra],
                       report=report)
    if trained.preempted:
      result.preempted, result.interrupted = True, trained.interrupted
      return result
    result.steps.append(f"{done} to step {trained.step} ({trained.seconds:.0f}s this run)")

  e, sampling = c.eval, c.sampling
  header(11, f"evaluating as in the paper ({e.replications} replications, MultiModality "
             f"{e.mm_captions} x {e.mm_repeats}, top-k {sampling.top_k}, temperature "
             f"{sampling.temperature})")
  results = os.path.join(workdir, "eval")
  result.tables = evaluate_run(
      instruct, evaluator, results, data, "test", replications=e.replications,
      mm_captions=e.mm_captions, mm_repeats=e.mm_repeats,
      m2m_replications=e.m2m_replications, limit=e.limit, top_k=sampling.top_k,
      temperature=sampling.temperature, report=report)
  result.steps.append(f"evaluation tables in {results}/results.md")

  header(12, "generating motions for a few prompts")
  generated = os.path.join(pictures, "generated")
  render_examples(MotionGPT.load(instruct), data, generated, c.prompts, sampling, report)
  result.steps.append(f"GIFs of generated motions in {generated}")

  result.minutes = (time.perf_counter() - started) / 60
  result.targets = demo_targets(result.tables, c.targets)
  return result


def render_examples(model: MotionGPT, data: str, out: str, prompts, sampling,
                    report: Reporter) -> None:
  """GIFs of two samples per prompt, of prediction and in-between of a test motion, and
  the caption of that motion."""
  os.makedirs(out, exist_ok=True)
  for k, prompt in enumerate(prompts):
    path = os.path.join(out, f"prompt_{k}.gif")
    motions = model.generate(prompt, n=2, seed=k, top_k=sampling.top_k,
                             temperature=sampling.temperature)
    render.render_animation(motions, path, [f"{prompt} ({i + 1})" for i in range(2)],
                            stride=2)
    report.log(f"  {path}: {prompt}")
  sample = humanml3d.read_split(data, "test", normalize=False, include_spans=False)[0]
  real = F.features_to_joints(sample.motion)
  for name, joints in (("prediction", model.predict(sample.motion)),
                       ("inbetween", model.inbetween(sample.motion))):
    path = os.path.join(out, f"{name}.gif")
    render.render_animation([real, joints], path, ["real", name], stride=2)
    report.log(f"  {path}: {sample.captions[0].text}")
  caption = model.caption(sample.motion)
  report.log(f"  caption of test motion {sample.name}: {caption!r} (reference: "
             f"{sample.captions[0].text!r})")
