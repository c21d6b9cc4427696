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
  stage_minutes: list = dataclasses.field(default_factory=list)  # (stage, minutes) this run

  def stage_table(self) -> str:
    return "\n".join(f"  {minutes:5.1f} min  {stage}" for stage, minutes in self.stage_minutes)


def demo_targets(tables: dict, targets) -> list[tuple[bool, str]]:
  """The demo's quality targets, checked on the tables: (passed, text) each."""
  lines = []
  t2m = tables.get("text_to_motion")
  if t2m:
    ours, real, rand = t2m["MotionGPT"], t2m["Real motion"], t2m["Random tokens"]
    k = targets.real_r3
    lines.append((real["R@3"][0] >= k, f"the evaluator matches real motions to their "
                                       f"captions: R@3 {real['R@3'][0]:.3f} >= {k:g}"))
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
    lines.append((ours >= k * rand, f"motion-to-text BLEU@4 {ours:.2f} >= {k:g} x random "
                                    f"caption {rand:.2f}"))
  m2m = tables.get("motion_to_motion")
  if m2m:
    for task in ("Prediction", "In-between"):
      for metric in ("ADE", "FDE"):
        ours = m2m[f"{task}: MotionGPT"][metric][0]
        held = m2m[f"{task}: hold last pose"][metric][0]
        lines.append((ours < held, f"{task.lower()} {metric} {ours:.3f} m < held pose "
                                   f"{held:.3f} m"))
  return lines


class _Demo:
  """The demo's stages over one work directory; each adds a line to ``result.steps``."""

  def __init__(self, workdir: str, c, report: Reporter):
    self.c, self.report, self.started = c, report, time.perf_counter()
    self.result = DemoResult(workdir)
    self._stage = None  # (header, start minute) of the stage running
    self.data = os.path.join(workdir, "data", "synth")
    self.pictures = os.path.join(workdir, "pictures")
    self.vqvae, self.pretrain, self.instruct, self.evaluator = (
        os.path.join(workdir, n) for n in ("vqvae", "pretrain", "instruct", "evaluator"))
    self.results = os.path.join(workdir, "eval")
    os.makedirs(self.pictures, exist_ok=True)

  def header(self, k: int, text: str) -> None:
    minutes = (time.perf_counter() - self.started) / 60
    self._close_stage(minutes)
    self._stage = (f"[{k}/{STAGES}] {text}", minutes)
    self.report.log(f"[{k}/{STAGES}] {text}  ({minutes:.1f} min so far)")

  def _close_stage(self, minutes: float) -> None:
    """Adds the stage begun last (if any) to ``result.stage_minutes``."""
    if self._stage:
      self.result.stage_minutes.append((self._stage[0], minutes - self._stage[1]))
    self._stage = None

  def finish(self) -> None:
    self.result.minutes = (time.perf_counter() - self.started) / 60
    self._close_stage(self.result.minutes)

  def data_set(self) -> None:
    c, data, report = self.c, self.data, self.report
    if os.path.exists(os.path.join(data, "Std.npy")):
      self.header(1, f"data set already at {data} (delete it to re-synthesise)")
    else:
      self.header(1, f"synthesising {c.num} procedural motions into {data}")
      s = generator.synthesize(data, c.num, c.seed, progress=report.progress("  synthesising"))
      self.result.steps.append(f"synthesised {c.num} motions in {s['seconds']:.1f}s")
    self.header(2, "checking the data folder")
    check = humanml3d.check_folder(data)
    report.log(check.summary())
    self.result.steps.append(f"checked {data}: {check.split_sizes}")
    self.header(3, "rendering test motions")
    test = humanml3d.read_split(data, "test", normalize=False)[:c.pictures]
    for sample in test:
      out = os.path.join(self.pictures, f"{sample.name}.gif")
      if not os.path.exists(out):
        render.render_animation([sample.motion], out, [sample.captions[0].text], stride=2)
      report.log(f"  {out}: {sample.captions[0].text}")
    self.result.steps.append(f"rendered {len(test)} GIFs of real motions into {self.pictures}")

  def train(self, name: str, train_fn, workdir: str, extra=()) -> bool:
    """One training stage at the demo's budget; False when it was stopped by a signal."""
    steps = self.c.steps[name]
    # The demo's own stages score the VQ-VAE (test reconstruction) and the language model
    # (the paper's tables); the evaluator reports its validation R-precision at its last step.
    overrides = [f"--config.train.steps={steps}", f"--config.train.seed={self.c.seed}",
                 f"--config.train.eval_every={steps if name == 'evaluator' else 0}"]
    if name != "vqvae":
      overrides += [f"--config.train.checkpoint_every={max(steps // 3, 1)}"]
    overrides += list(extra) + self.c.overrides[name].split()
    trained = train_fn(self.data, workdir, config_utils.project_config(self.c.configs[name]),
                       overrides, report=self.report)
    if trained.preempted:
      self.result.preempted, self.result.interrupted = True, trained.interrupted
      return False
    self.result.steps.append(f"trained {name} to step {trained.step} "
                             f"({trained.seconds:.0f}s this run)")
    self.last_step = trained.step
    return True

  def tokens_and_vocabulary(self) -> None:
    data, report, vqvae = self.data, self.report, self.vqvae
    self.header(5, "VQ-VAE reconstruction of the test split")
    rec = reconstruct(vqvae, data, "test", 0, min(self.c.pictures, 2),
                      os.path.join(self.pictures, "reconstructions"), report=report)
    self.result.steps.append(f"test reconstruction: MPJPE {rec['mpjpe_mm']:.1f} mm, "
                             f"{rec['codes_used']} codes used, GIFs in "
                             f"{self.pictures}/reconstructions")
    self.header(6, "tokenizing every motion and its mirror image")
    tokens_dir = os.path.join(data, "tokens")
    if tokens_current(tokens_dir, vqvae, self.last_step):
      report.log(f"  tokens of step {self.last_step} already in {tokens_dir}")
      meta = runs.read_tokens_meta(tokens_dir)
    else:
      meta = tokenize(vqvae, data, tokens_dir, report=report)
    self.result.steps.append(f"tokenized {meta['count']} motions into {tokens_dir}")
    spm = os.path.join(data, "spiece.model")
    self.header(7, "training the text vocabulary on the captions and instruction templates")
    if os.path.exists(spm):
      report.log(f"  {spm} already there")
    else:
      train_vocabulary(data, spm, self.c.vocab_size, motion_codes=meta["num_codes"],
                       report=report)
    self.result.steps.append(f"trained the text vocabulary {spm}")

  def evaluate(self) -> None:
    e, sampling = self.c.eval, self.c.sampling
    self.header(11, f"evaluating as in the paper ({e.replications} replications, "
                    f"MultiModality {e.mm_captions} x {e.mm_repeats}, top-k {sampling.top_k}, "
                    f"temperature {sampling.temperature})")
    self.result.tables = evaluate_run(
        self.instruct, self.evaluator, self.results, self.data, "test",
        replications=e.replications, mm_captions=e.mm_captions, mm_repeats=e.mm_repeats,
        m2m_replications=e.m2m_replications, limit=e.limit, top_k=sampling.top_k,
        temperature=sampling.temperature, report=self.report)
    self.result.steps.append(f"evaluation tables in {self.results}/results.md")
    self.header(12, "generating motions for a few prompts")
    generated = os.path.join(self.pictures, "generated")
    render_examples(MotionGPT.load(self.instruct), self.data, generated, self.c.prompts,
                    sampling, self.report)
    self.result.steps.append(f"GIFs of generated motions in {generated}")


def run_demo(workdir: str, config=None, overrides=(), report: Reporter | None = None
             ) -> DemoResult:
  """Runs (or continues) the demo of ``config`` (default ``configs/demo.py``) in ``workdir``;
  a stage stopped by SIGTERM/SIGINT returns the result with ``preempted`` set."""
  c = resolve_config(config, overrides, DEFAULT_CONFIG)
  demo = _Demo(workdir, c, report or Reporter())
  demo.data_set()
  demo.header(4, f"training the motion VQ-VAE (configs/{c.configs.vqvae}) in {demo.vqvae}")
  if not demo.train("vqvae", train_vqvae, demo.vqvae):
    return demo.result
  demo.tokens_and_vocabulary()
  demo.header(8, f"pre-training the T5 on motiongpt_pretrain in {demo.pretrain}")
  if not demo.train("pretrain", train_lm, demo.pretrain):
    return demo.result
  demo.header(9, f"instruction-tuning it in {demo.instruct}")
  if not demo.train("instruct", train_lm, demo.instruct,
                    [f"--config.init_from={os.path.abspath(demo.pretrain)}"]):
    return demo.result
  demo.header(10, f"training the text-motion evaluator in {demo.evaluator}")
  if not demo.train("evaluator", train_evaluator, demo.evaluator):
    return demo.result
  demo.evaluate()
  demo.finish()
  demo.result.targets = demo_targets(demo.result.tables, c.targets)
  return demo.result


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
