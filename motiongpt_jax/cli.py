"""The ``motiongpt`` command.

Subcommands: ``data synth|check|tfds``, ``render``, ``train-vqvae``, ``tokenize``,
``reconstruct`` and ``demo``. Each has ``--help``. Training commands take a config file
(``--config configs/x.py:variant``) and any number of ``--config.key=value`` overrides. Errors in the user's input are printed as one line naming
the file and the fault, with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

import numpy as np


def _progress_printer(label: str):
  start = time.time()
  last = [0.0]

  def show(done: int, total: int):
    if done < total and time.time() - last[0] < 2.0:
      return
    last[0] = time.time()
    elapsed = time.time() - start
    rate = done / max(elapsed, 1e-9)
    eta = (total - done) / max(rate, 1e-9)
    print(f"{label}: {done}/{total} ({rate:.0f}/s, ETA {eta:.0f}s)", flush=True)

  return show


def cmd_data_synth(args) -> int:
  from motiongpt_jax.data.synth import generator
  summary = generator.synthesize(args.out, args.num, args.seed, args.workers,
                                 progress=_progress_printer("synthesising"))
  print(f"wrote {summary['num']} motions to {args.out} in {summary['seconds']:.1f}s: "
        f"splits {summary['splits']}, {len(summary['families'])} action families, "
        f"frames {summary['min_len']}..{summary['max_len']}")
  return 0


def cmd_data_check(args) -> int:
  from motiongpt_jax.data import humanml3d
  report = humanml3d.check_folder(args.folder, strict=args.strict)
  print(report.summary())
  return 0


def cmd_data_tfds(args) -> int:
  from motiongpt_jax.data import tfds_builder
  builder = tfds_builder.prepare(args.folder, args.data_dir)
  print(f"prepared {builder.info.full_name} in {args.data_dir}: "
        + ", ".join(f"{k} {v.num_examples}" for k, v in builder.info.splits.items()))
  return 0


def _load_motion(path: str) -> np.ndarray:
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path}: no such file")
  if not path.endswith(".npy"):
    raise ValueError(f"{path}: expected a .npy file of joints [T, 22, 3] or features [T, 263]")
  return np.load(path)


def cmd_render(args) -> int:
  from motiongpt_jax.data import humanml3d
  from motiongpt_jax.motion import render
  motions = [_load_motion(p) for p in args.files]
  mean = std = None
  if args.normalized:
    if not args.data:
      raise ValueError("--normalized needs --data DIR (the folder with Mean.npy and Std.npy)")
    kind = humanml3d.detect_kind(args.data)
    mean, std = humanml3d.load_mean_std(args.data, humanml3d.SPECS[kind])
  titles = args.title or [os.path.basename(p) for p in args.files]
  if args.out.endswith(".png"):
    render.render_frame(motions, args.out, args.frame, titles, mean, std)
  else:
    render.render_animation(motions, args.out, titles, mean, std, stride=args.stride)
  print(f"wrote {args.out}")
  return 0


def _load_training_data(folder: str, check: bool = True):
  """Train motions and validation samples of a data folder that passes ``data check``."""
  from motiongpt_jax.data import humanml3d
  if check:
    report = humanml3d.check_folder(folder)
    print(report.summary().splitlines()[0])
  kind = humanml3d.detect_kind(folder)
  mean, std = humanml3d.load_mean_std(folder, humanml3d.SPECS[kind])
  # Whole motion files, as the reference VQ-VAE loader (caption spans are text-level).
  train = [s.motion for s in humanml3d.iter_samples(folder, "train", include_spans=False)]
  val = humanml3d.read_split(folder, "val", include_spans=False)
  return kind, mean, std, train, val


def cmd_vocab_train(args) -> int:
  from motiongpt_jax import vocab
  from motiongpt_jax.data import humanml3d
  sentences = []
  for split in args.splits.split(","):
    for name in humanml3d.read_split_names(args.data, split):
      sentences += [c.text for c in humanml3d.read_captions(
          os.path.join(args.data, "texts", name + ".txt"))]
  if not sentences:
    raise humanml3d.DataError(f"{args.data}: no captions in splits {args.splits}")
  if not args.captions_only:
    from tasks.instructions import template_sentences
    sentences += template_sentences()
  prefix = args.out[:-len(".model")] if args.out.endswith(".model") else args.out
  os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
  path = vocab.train_sentencepiece(sentences, prefix, args.size)
  v = vocab.MotionTextVocabulary(path, args.motion_codes)
  print(f"wrote {path}: {v.text.tokenizer.GetPieceSize() - 100} pieces from "
        f"{len(sentences)} captions and template phrasings; with 100 sentinels and {args.motion_codes} + 3 motion "
        f"tokens the vocabulary has {v.vocab_size} ids")
  return 0


def _import_tasks(args):
  """Registers the tasks for --data/--tokens/--spm (or the MOTIONGPT_* environment)."""
  if args.data:
    os.environ["MOTIONGPT_DATA"] = args.data
  if args.tokens:
    os.environ["MOTIONGPT_TOKENS"] = args.tokens
  if args.spm:
    os.environ["MOTIONGPT_SPM"] = args.spm
  import tasks
  from tasks import pretraining
  tasks.register(*pretraining.default_paths())
  return tasks


def cmd_tasks_list(args) -> int:
  import seqio
  _import_tasks(args)
  from tasks import pretraining
  names = sorted(n for n in seqio.TaskRegistry.names() if n.startswith("motiongpt_"))
  print(f"{'task':40}{'train':>8}{'validation':>12}{'test':>8}")
  for name in names:
    sizes = [pretraining.task_size(name, s) for s in ("train", "validation", "test")]
    print(f"{name:40}" + "".join(f"{n:>{w}}" for n, w in zip(sizes, (8, 12, 8))))
  for name in sorted(n for n in seqio.MixtureRegistry.names() if n.startswith("motiongpt_")):
    mixture = seqio.get_mixture_or_task(name)
    sizes = [sum(pretraining.task_size(t.name, s) for t in mixture.tasks)
             for s in ("train", "validation", "test")]
    rates = ", ".join(f"{t.name} ({mixture.get_rate(t):g})" for t in mixture.tasks)
    print(f"{'mixture ' + name:40}" + "".join(f"{n:>{w}}" for n, w in zip(sizes, (8, 12, 8)))
          + f"\n    rates: {rates}")
  return 0


def cmd_tasks_show(args) -> int:
  import seqio
  _import_tasks(args)
  try:
    task = seqio.get_mixture_or_task(args.name)
  except ValueError:
    names = sorted(n for n in seqio.TaskRegistry.names() if n.startswith("motiongpt_"))
    raise ValueError(f"no task or mixture {args.name!r}; registered: {', '.join(names)}")
  ds = task.get_dataset({"inputs": 512, "targets": 512}, split=args.split,
                        shuffle=args.seed is not None, seed=args.seed)
  vocab = task.output_features["targets"].vocabulary
  for i, ex in enumerate(ds.take(args.n)):
    print(f"--- {args.name} [{args.split}] example {i}")
    print(f"inputs  ({len(ex['inputs'])} ids): {vocab.decode(ex['inputs'].numpy().tolist())}")
    print(f"targets ({len(ex['targets'])} ids): {vocab.decode(ex['targets'].numpy().tolist())}")
  return 0


def _lm_init(config, vocab, model_config):
  """(model config, initial params or None) from ``config.init_from``."""
  from motiongpt_jax.t5 import checkpoints as t5_checkpoints
  source = config.init_from
  if not source:
    return model_config, None
  if os.path.exists(os.path.join(source, "t5_config.json")):  # an earlier stage's workdir
    from motiongpt_jax.t5.training import load_run
    _, earlier, step, params = load_run(source)
    if earlier.vocab_size != model_config.vocab_size:
      raise ValueError(f"{source} was trained with a vocabulary of {earlier.vocab_size} rows, "
                       f"this data's vocabulary needs {model_config.vocab_size}")
    print(f"starting from {source} at step {step}")
    return earlier.replace(dtype=model_config.dtype,
                           dropout_rate=model_config.dropout_rate), params
  hf_config, params = t5_checkpoints.load_hf_t5(source)
  hf_config, params = t5_checkpoints.enlarge_vocab(
      hf_config, params, vocab.num_motion_codes + 3, used_vocab=vocab.text_size)
  if hf_config.real_vocab_size != vocab.vocab_size:
    raise ValueError(f"{source}: after adding the motion tokens the checkpoint has "
                     f"{hf_config.real_vocab_size} ids but the vocabulary has "
                     f"{vocab.vocab_size}; use the checkpoint's own spiece.model")
  print(f"starting from the Hugging Face checkpoint {source}")
  return hf_config.replace(dtype=model_config.dtype,
                           dropout_rate=model_config.dropout_rate), params


def train_lm(config_spec: str, overrides: list[str], data: str, workdir: str,
             tokens: str | None = None, spm: str | None = None):
  """Stage 2 or 3 of MotionGPT on a SeqIO mixture with the shared trainer."""
  from motiongpt_jax import config_utils
  from motiongpt_jax.t5 import checkpoints as t5_checkpoints
  from motiongpt_jax.t5 import config as t5_config
  from motiongpt_jax.t5.seqio_batches import SeqioBatches
  from motiongpt_jax.t5.training import T5Task
  from motiongpt_jax.train import trainer
  config = config_utils.load_config(config_spec, overrides)
  tokens = tokens or os.path.join(data, "tokens")
  spm = spm or os.path.join(data, "spiece.model")
  for path, what in ((tokens, "tokens folder (motiongpt tokenize)"),
                     (spm, "SentencePiece model (motiongpt vocab train)")):
    if not os.path.exists(path):
      raise FileNotFoundError(f"{path}: no {what}")
  import tasks
  from tasks import pretraining
  tasks.register(data, tokens, spm)
  vocab = pretraining.make_vocabulary(tokens, spm)
  model_config = t5_config.get_preset(
      config.model.preset, dtype=config.model.dtype, dropout_rate=config.model.dropout_rate,
      vocab_size=t5_checkpoints.round_up(vocab.vocab_size, 128),
      real_vocab_size=vocab.vocab_size)
  model_config, init_params = _lm_init(config, vocab, model_config)
  with config.unlocked():
    config.data.path, config.data.tokens, config.data.spm = (
        os.path.abspath(data), os.path.abspath(tokens), os.path.abspath(spm))
  os.makedirs(workdir, exist_ok=True)
  config_utils.save_config(config, os.path.join(workdir, "config.json"))
  with open(os.path.join(workdir, "t5_config.json"), "w") as f:
    json.dump(t5_checkpoints.config_to_dict(model_config), f, indent=2)
  tc = config.train
  batches = SeqioBatches(config.mixture, config.data.inputs_length,
                         config.data.targets_length, tc.batch_size, tc.seed)
  eval_batches = SeqioBatches(config.mixture, config.data.inputs_length,
                              config.data.targets_length, tc.batch_size, tc.seed,
                              split="validation", repeat=False).first(tc.eval_batches)
  seqio_evaluator = None
  if tc.get("seqio_eval_examples", 0) and tc.get("seqio_eval_tasks", ""):
    from motiongpt_jax.t5.network import Transformer
    from motiongpt_jax.t5.seqio_eval import PeriodicEvaluator
    seqio_evaluator = PeriodicEvaluator(
        Transformer(model_config.replace(dropout_rate=0.0)),
        [n.strip() for n in tc.seqio_eval_tasks.split(",") if n.strip()],
        config.data.inputs_length, config.data.targets_length, tc.seqio_eval_examples,
        eos_id=vocab.eos_id)
  task = T5Task(model_config, batches.batch, config.loss.z_loss, config.loss.label_smoothing,
                init_params, eval_batches, seqio_evaluator)
  print(f"T5 {config.model.preset} ({config.stage}) on {config.mixture}: vocabulary "
        f"{vocab.vocab_size} ids in {model_config.vocab_size} rows")
  return trainer.train(task, tc, workdir)


def cmd_train(args) -> int:
  result = train_lm(args.config, args.overrides, args.data, args.workdir, args.tokens,
                    args.spm)
  if result.preempted:
    return 143
  print(f"done: step {result.step} in {result.seconds:.0f}s; checkpoints in "
        f"{os.path.join(args.workdir, 'checkpoints')}")
  return 0


def _write_motions(motions: list, out: str, titles: list[str]) -> list[str]:
  """Joints [T, J, 3] to .npy files (one per motion) or one side-by-side .gif/.mp4."""
  stem, ext = os.path.splitext(out)
  if ext == ".npy":
    outs = [out] if len(motions) == 1 else [f"{stem}_{i}.npy" for i in range(len(motions))]
    for path, joints in zip(outs, motions):
      np.save(path, np.asarray(joints, np.float32))
    return outs
  if ext in (".gif", ".mp4"):
    from motiongpt_jax.motion import render
    render.render_animation(motions, out, titles, stride=2)
    return [out]
  raise ValueError(f"--out {out}: expected a .gif, .mp4 or .npy file")


def _check_out(out: str | None) -> None:
  if out and os.path.splitext(out)[1] not in (".gif", ".mp4", ".npy"):
    raise ValueError(f"--out {out}: expected a .gif, .mp4 or .npy file")


def cmd_generate(args) -> int:
  from motiongpt_jax.inference import MotionGPT
  _check_out(args.out)
  if args.n < 1:
    raise ValueError(f"-n {args.n}: expected at least 1 sample")
  model = MotionGPT.load(args.workdir)
  motions = model.generate(args.text, n=args.n, frames=args.frames, seconds=args.seconds,
                           seed=args.seed, top_k=args.top_k, temperature=args.temperature)
  titles = [f"{args.text} ({i + 1})" if len(motions) > 1 else args.text
            for i in range(len(motions))]
  outs = _write_motions(motions, args.out, titles)
  lengths = ", ".join(str(len(m)) for m in motions)
  print(f"generated {len(motions)} motion(s) of {lengths} frames: {', '.join(outs)}")
  return 0


def cmd_caption(args) -> int:
  from motiongpt_jax.inference import MotionGPT
  motion = _load_motion(args.file)
  print(MotionGPT.load(args.workdir).caption(motion))
  return 0


def _input_joints(motion: np.ndarray) -> np.ndarray:
  from motiongpt_jax.motion import features as F
  return motion if motion.ndim == 3 else F.features_to_joints(motion)


def cmd_predict(args) -> int:
  from motiongpt_jax.inference import MotionGPT
  _check_out(args.out)
  motion = _load_motion(args.file)
  result = MotionGPT.load(args.workdir).predict(motion, seed=args.seed)
  seen = 4 * max(int(len(motion) // 4 * 0.2), 1)  # the tokens the model sees
  shown = [result] if args.out.endswith(".npy") else [_input_joints(motion), result]
  outs = _write_motions(shown, args.out, ["input", f"first {seen} frames continued"][-len(shown):])
  print(f"continued the first 20% of {args.file} to {len(result)} frames: {', '.join(outs)}")
  return 0


def cmd_inbetween(args) -> int:
  from motiongpt_jax.inference import MotionGPT
  _check_out(args.out)
  motion = _load_motion(args.file)
  result = MotionGPT.load(args.workdir).inbetween(motion, seed=args.seed)
  shown = [result] if args.out.endswith(".npy") else [_input_joints(motion), result]
  outs = _write_motions(shown, args.out, ["input", "middle half generated"][-len(shown):])
  print(f"filled the middle half of {args.file} ({len(result)} frames): {', '.join(outs)}")
  return 0


def cmd_chat(args) -> int:
  from motiongpt_jax.inference import InputError, MotionGPT
  _check_out(args.out)
  model = MotionGPT.load(args.workdir)
  motion = _load_motion(args.motion) if args.motion else None
  prompts = [args.prompt] if args.prompt else None
  if prompts is None:
    print("type an instruction (empty line or Ctrl-D ends); write <motion> for --motion's "
          "motion, e.g. 'Describe <motion>' or 'Show me a person jumping'")
  turn = 0
  while True:
    if prompts is not None:
      if turn == len(prompts):
        return 0
      prompt = prompts[turn]
    else:
      try:
        prompt = input("> ")
      except EOFError:
        return 0
      if not prompt.strip():
        return 0
    try:
      text, joints = model.chat(prompt, motion, seed=args.seed + turn)
    except InputError as e:
      if prompts is not None:
        raise
      print(f"  ({e})")
      turn += 1
      continue
    if text:
      print(text)
    if joints is not None:
      out = args.out or "chat.gif"
      if prompts is None:
        stem, ext = os.path.splitext(out)
        out = f"{stem}_{turn}{ext}"
      _write_motions([joints], out, [prompt[:60]])
      print(f"[a motion of {len(joints)} frames: {out}]")
    turn += 1


def cmd_train_evaluator(args) -> int:
  from motiongpt_jax.evaluation.training import train_evaluator
  result = train_evaluator(args.config, args.overrides, args.data, args.workdir)
  if result.preempted:
    return 143
  print(f"done: step {result.step} in {result.seconds:.0f}s; evaluator in {args.workdir}")
  return 0


def cmd_convert_evaluator(args) -> int:
  from motiongpt_jax.evaluation.evaluator import convert_official
  evaluator = convert_official(args.checkpoint, args.glove, args.meta, args.data, args.out)
  print(f"converted the official evaluator ({evaluator.config}) into {args.out}")
  return 0


def evaluate_model(workdir: str, evaluator_dir: str, out: str, data: str | None = None,
                   split: str = "test", tasks=("t2m", "m2t", "m2m"), replications: int = 20,
                   mm_captions: int = 100, mm_repeats: int = 30, m2m_replications: int = 3,
                   limit: int = 0, bert_model: str | None = None, seed: int = 0,
                   top_k: int = 50, temperature: float = 1.0) -> dict:
  """The paper's tables for a trained run; writes OUT/results.json and OUT/results.md."""
  from motiongpt_jax.data import humanml3d
  from motiongpt_jax.evaluation import paper_tables
  from motiongpt_jax.evaluation.evaluator import Evaluator
  from motiongpt_jax.inference import MotionGPT
  unknown = set(tasks) - {"t2m", "m2t", "m2m"}
  if unknown:
    raise ValueError(f"--tasks: unknown {sorted(unknown)}; choose from t2m, m2t, m2m")
  if top_k < 0 or temperature < 0:
    raise ValueError("--top-k and --temperature must not be negative")
  if replications < 1 or m2m_replications < 1:
    raise ValueError("--replications and --m2m-replications must be at least 1")
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
  embedder = None
  if bert_model:
    from motiongpt_jax.evaluation.text_metrics import transformers_embedder
    embedder = transformers_embedder(bert_model)
  os.makedirs(out, exist_ok=True)
  tables = {}
  if "t2m" in tasks:
    print(f"text-to-motion: {len(everything)} captioned motions, {replications} replications")
    tables["text_to_motion"] = paper_tables.text_to_motion(
        model, evaluator, everything, replications, mm_captions, mm_repeats, seed, top_k,
        temperature)
  if "m2t" in tasks:
    print(f"motion-to-text: {len(whole)} motions")
    train_captions = [c.text for s in humanml3d.read_split(data, "train", normalize=False,
                                                           include_spans=False)
                      for c in s.captions]
    tables["motion_to_text"] = paper_tables.motion_to_text(
        model, evaluator, whole, train_captions, embedder, seed)
  if "m2m" in tasks:
    print(f"prediction and in-between: {len(whole)} motions, {m2m_replications} replications")
    tables["motion_to_motion"] = paper_tables.motion_to_motion(
        model, evaluator, whole, m2m_replications, seed, top_k, temperature)
  paper_tables.write(tables, os.path.join(out, "results.json"),
                     os.path.join(out, "results.md"))
  print()
  print(paper_tables.to_markdown(tables))
  print(f"tables written to {out}/results.json and {out}/results.md")
  return tables


def cmd_eval(args) -> int:
  evaluate_model(args.workdir, args.evaluator, args.out or os.path.join(args.workdir, "eval"),
                 args.data, args.split, [t.strip() for t in args.tasks.split(",") if t.strip()],
                 args.replications, args.mm_captions, args.mm_repeats, args.m2m_replications,
                 args.limit, args.bert_model, args.seed, args.top_k, args.temperature)
  return 0


def train_vqvae(config_spec: str, overrides: list[str], data: str, workdir: str,
                eval_samples: int = 64):
  """Loads the config, checks the data and trains (or resumes); returns the TrainResult."""
  from motiongpt_jax import config_utils
  from motiongpt_jax.train import trainer
  from motiongpt_jax.vqvae.training import VQVAETask
  config = config_utils.load_config(config_spec, overrides)
  kind, mean, std, train, val = _load_training_data(data)
  with config.unlocked():
    config.data.feature_dim = int(mean.shape[0])
    config.data.path = os.path.abspath(data)
    config.data.kind = kind
  os.makedirs(workdir, exist_ok=True)
  config_utils.save_config(config, os.path.join(workdir, "config.json"))
  task = VQVAETask(config, train, val[:eval_samples], mean, std)
  print(f"VQ-VAE {config.variant}: {len(task.windows.motions)} training motions of >= "
        f"{config.data.window} frames, {len(val)} validation samples")
  return trainer.train(task, config.train, workdir)


def cmd_train_vqvae(args) -> int:
  result = train_vqvae(args.config, args.overrides, args.data, args.workdir, args.eval_samples)
  if result.preempted:
    return 143  # 128 + SIGTERM, as a process killed by the signal would report
  print(f"done: step {result.step} in {result.seconds:.0f}s; checkpoints in "
        f"{os.path.join(args.workdir, 'checkpoints')}, metrics in "
        f"{os.path.join(args.workdir, 'metrics.jsonl')} and tensorboard/")
  return 0


def cmd_tokenize(args) -> int:
  tokenize(args.vqvae, args.data, args.out)
  return 0


def reconstruct(vqvae: str, data: str, split: str, limit: int, gifs: int, out: str) -> dict:
  from motiongpt_jax.data import humanml3d
  from motiongpt_jax.motion import render
  from motiongpt_jax.vqvae.training import reconstruction_report
  from motiongpt_jax.vqvae.tokenizer import MotionTokenizer
  tokenizer = MotionTokenizer.load(vqvae)
  kind = humanml3d.detect_kind(data)
  mean, std = humanml3d.load_mean_std(data, humanml3d.SPECS[kind])
  samples = humanml3d.read_split(data, split, include_spans=False)
  if limit:
    samples = samples[:limit]
  report = reconstruction_report(tokenizer, samples, mean, std, keep=gifs)
  print(f"{split} split, {len(samples)} motions, VQ-VAE step {tokenizer.step}: "
        f"MPJPE {report['mpjpe_mm']:.1f} mm (root-aligned), "
        f"{report['mpjpe_global_mm']:.1f} mm (global), "
        f"perplexity {report['perplexity']:.1f}, codes used {report['codes_used']}"
        f"/{tokenizer.num_codes}")
  os.makedirs(out, exist_ok=True)
  for sample, original, recon in report.pop("examples"):
    path = os.path.join(out, f"{sample.name}.gif")
    render.render_animation([original, recon], path,
                            [sample.captions[0].text, "VQ-VAE reconstruction"], stride=2)
    print(f"  {path}")
  return report


def cmd_reconstruct(args) -> int:
  reconstruct(args.vqvae, args.data, args.split, args.limit, args.gifs,
              args.out or os.path.join(args.vqvae, "reconstructions"))
  return 0


def tokenize(vqvae: str, data: str, out: str) -> dict:
  from motiongpt_jax.data import humanml3d
  from motiongpt_jax.vqvae import tokenize as tok
  from motiongpt_jax.vqvae.tokenizer import MotionTokenizer
  humanml3d.check_folder(data)
  tokenizer = MotionTokenizer.load(vqvae)
  meta = tok.tokenize_folder(tokenizer, data, out, vqvae,
                             progress=_progress_printer("tokenizing"))
  print(f"wrote tokens of {meta['count']} motions (and their mirror images) to {out} "
        f"with the VQ-VAE of {vqvae} at step {tokenizer.step}"
        + (f"; skipped {len(meta['skipped'])} motions shorter than one token"
           if meta["skipped"] else ""))
  return meta


# Training budgets of the demo (steps), sized so the whole demo fits 20 minutes on 2 CPU
# cores; --quick shrinks everything to a smoke test of the pipeline.
DEMO_STEPS = {"vqvae": 1500, "pretrain": 300, "instruct": 2700, "evaluator": 600}
# The tiny T5's motion distribution is broad; the demo samples at temperature 0.5 (top-k 50
# as the paper). `motiongpt eval` defaults to the paper's temperature 1.
DEMO_TEMPERATURE = 0.5
QUICK_STEPS = {"vqvae": 30, "pretrain": 20, "instruct": 20, "evaluator": 20}
DEMO_PROMPTS = ("a person walks forward.", "a person jumps up and down three times.",
                "a person waves with the right hand.", "the person does one deep squat.")


def _demo_targets(tables: dict) -> list[str]:
  """The issue's quality targets, checked on the tables: one line each, PASS or MISS."""
  lines = []

  def check(ok, text):
    lines.append(f"{'PASS' if ok else 'MISS'}  {text}")

  t2m = tables.get("text_to_motion")
  if t2m:
    ours, real, rand = t2m["MotionGPT"], t2m["Real motion"], t2m["Random tokens"]
    check(ours["R@3"][0] >= 0.8 * real["R@3"][0],
          f"text-to-motion R@3 {ours['R@3'][0]:.3f} >= 0.8 x real {real['R@3'][0]:.3f}")
    check(ours["FID"][0] <= 0.1 * rand["FID"][0],
          f"text-to-motion FID {ours['FID'][0]:.3f} <= 0.1 x random tokens "
          f"{rand['FID'][0]:.3f}")
  m2t = tables.get("motion_to_text")
  if m2t:
    ours, rand = m2t["MotionGPT"]["BLEU@4"][0], m2t["Random caption"]["BLEU@4"][0]
    check(ours > rand, f"motion-to-text BLEU@4 {ours:.2f} > random caption {rand:.2f}")
  m2m = tables.get("motion_to_motion")
  if m2m:
    for task in ("Prediction", "In-between"):
      ours, held = m2m[f"{task}: MotionGPT"]["ADE"][0], m2m[f"{task}: hold last pose"]["ADE"][0]
      check(ours < held, f"{task.lower()} ADE {ours:.3f} m < held pose {held:.3f} m")
  return lines


def cmd_demo(args) -> int:
  """The whole pipeline on the procedural data set; every step resumes or is skipped when
  its output exists, so an interrupted demo continues where it stopped."""
  from motiongpt_jax.data import humanml3d
  from motiongpt_jax.data.synth import generator
  from motiongpt_jax.motion import render
  started = time.perf_counter()
  budget = QUICK_STEPS if args.quick else DEMO_STEPS
  data = os.path.join(args.workdir, "data", "synth")
  pictures = os.path.join(args.workdir, "pictures")
  vqvae = os.path.join(args.workdir, "vqvae")
  pretrain, instruct = (os.path.join(args.workdir, n) for n in ("pretrain", "instruct"))
  evaluator = os.path.join(args.workdir, "evaluator")
  os.makedirs(pictures, exist_ok=True)
  steps = []
  total = 12

  def header(k, text):
    minutes = (time.perf_counter() - started) / 60
    print(f"[{k}/{total}] {text}  ({minutes:.1f} min so far)", flush=True)

  if os.path.exists(os.path.join(data, "Std.npy")):
    header(1, f"data set already at {data} (delete it to re-synthesise)")
  else:
    header(1, f"synthesising {args.num} procedural motions into {data}")
    s = generator.synthesize(data, args.num, args.seed,
                             progress=_progress_printer("  synthesising"))
    steps.append(f"synthesised {args.num} motions in {s['seconds']:.1f}s")
  header(2, "checking the data folder")
  report = humanml3d.check_folder(data)
  print(report.summary())
  steps.append(f"checked {data}: {report.split_sizes}")
  header(3, "rendering test motions")
  test = humanml3d.read_split(data, "test", normalize=False)[:args.pictures]
  for sample in test:
    out = os.path.join(pictures, f"{sample.name}.gif")
    if not os.path.exists(out):
      render.render_animation([sample.motion], out, [sample.captions[0].text], stride=2)
    print(f"  {out}: {sample.captions[0].text}")
  steps.append(f"rendered {len(test)} GIFs of real motions into {pictures}")

  header(4, f"training the motion VQ-VAE (configs/vqvae.py:tiny) in {vqvae}")
  result = train_vqvae("configs/vqvae.py:tiny",
                       [f"--config.train.steps={budget['vqvae']}"] + args.overrides, data, vqvae)
  if result.preempted:
    return 143
  steps.append(f"trained the VQ-VAE to step {result.step} ({result.seconds:.0f}s this run)")
  header(5, "VQ-VAE reconstruction of the test split")
  rec = reconstruct(vqvae, data, "test", 0, min(args.pictures, 2),
                    os.path.join(pictures, "reconstructions"))
  steps.append(f"test reconstruction: MPJPE {rec['mpjpe_mm']:.1f} mm, "
               f"{rec['codes_used']} codes used, GIFs in {pictures}/reconstructions")
  header(6, "tokenizing every motion and its mirror image")
  tokens_meta = os.path.join(data, "tokens", "tokens.json")
  meta = None
  if os.path.exists(tokens_meta):
    with open(tokens_meta) as f:
      meta = json.load(f)
    if meta.get("vqvae_step") != result.step or meta.get("vqvae") != os.path.abspath(vqvae):
      meta = None
    else:
      print(f"  tokens of step {result.step} already in {os.path.dirname(tokens_meta)}")
  meta = meta or tokenize(vqvae, data, os.path.join(data, "tokens"))
  steps.append(f"tokenized {meta['count']} motions into {data}/tokens")
  spm = os.path.join(data, "spiece.model")
  header(7, "training the text vocabulary on the captions and instruction templates")
  if os.path.exists(spm):
    print(f"  {spm} already there")
  else:
    cmd_vocab_train(argparse.Namespace(data=data, out=spm, size=1000, splits="train",
                                       captions_only=False, motion_codes=meta["num_codes"]))
  steps.append(f"trained the text vocabulary {spm}")

  from motiongpt_jax.evaluation.training import train_evaluator
  stages = (
      (8, f"pre-training the tiny T5 on motiongpt_pretrain in {pretrain}", "pre-trained the T5",
       train_lm, "configs/t5_pretrain.py:tiny", "pretrain", [], pretrain),
      (9, f"instruction-tuning it on motiongpt_instruct_core in {instruct}",
       "instruction-tuned the T5", train_lm, "configs/t5_instruct.py:tiny", "instruct",
       [f"--config.init_from={os.path.abspath(pretrain)}"], instruct),
      (10, f"training the text-motion evaluator in {evaluator}", "trained the evaluator",
       train_evaluator, "configs/evaluator.py:tiny", "evaluator", [], evaluator))
  for k, text, done, train_fn, config, name, extra, workdir in stages:
    header(k, text)
    steps_ = budget[name]
    result = train_fn(config, [f"--config.train.steps={steps_}",
                               f"--config.train.eval_every={steps_}",
                               f"--config.train.checkpoint_every={max(steps_ // 3, 1)}",
                               *extra], data, workdir)
    if result.preempted:
      return 143
    steps.append(f"{done} to step {result.step} ({result.seconds:.0f}s this run)")

  header(11, f"evaluating as in the paper (3 replications, MultiModality 32 x 10, top-k 50, "
             f"temperature {DEMO_TEMPERATURE})")
  results = os.path.join(args.workdir, "eval")
  tables = evaluate_model(instruct, evaluator, results, data, "test",
                          replications=1 if args.quick else 3,
                          mm_captions=8 if args.quick else 32,
                          mm_repeats=4 if args.quick else 10,
                          m2m_replications=1 if args.quick else 2,
                          limit=64 if args.quick else 0, temperature=DEMO_TEMPERATURE)
  steps.append(f"evaluation tables in {results}/results.md")

  header(12, "generating motions for a few prompts")
  from motiongpt_jax.inference import MotionGPT
  model = MotionGPT.load(instruct)
  generated = os.path.join(pictures, "generated")
  os.makedirs(generated, exist_ok=True)
  for k, prompt in enumerate(DEMO_PROMPTS):
    out = os.path.join(generated, f"prompt_{k}.gif")
    motions = model.generate(prompt, n=2, seed=k, temperature=DEMO_TEMPERATURE)
    render.render_animation(motions, out, [f"{prompt} ({i + 1})" for i in range(2)], stride=2)
    print(f"  {out}: {prompt}")
  sample = humanml3d.read_split(data, "test", normalize=False, include_spans=False)[0]
  real = _input_joints(sample.motion)
  for name, result_joints in (("prediction", model.predict(sample.motion)),
                              ("inbetween", model.inbetween(sample.motion))):
    out = os.path.join(generated, f"{name}.gif")
    render.render_animation([real, result_joints], out, ["real", name], stride=2)
    print(f"  {out}: {sample.captions[0].text}")
  caption = model.caption(sample.motion)
  print(f"  caption of test motion {sample.name}: {caption!r} (reference: "
        f"{sample.captions[0].text!r})")
  steps.append(f"GIFs of generated motions in {generated}")

  minutes = (time.perf_counter() - started) / 60
  print(f"\ndemo done in {minutes:.1f} min:\n  " + "\n  ".join(steps))
  print("\nquality targets on the test split:\n  " + "\n  ".join(_demo_targets(tables)))
  return 0


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="motiongpt", description=__doc__.split("\n")[0])
  group = parser.add_argument_group(
      "multi-process runs", "join a jax.distributed run (TPU VM workers need none of these: "
      "run_tpu.sh sets MOTIONGPT_DISTRIBUTED=auto)")
  group.add_argument("--coordinator", help="HOST:PORT of process 0")
  group.add_argument("--num-processes", type=int)
  group.add_argument("--process-id", type=int)
  sub = parser.add_subparsers(dest="command", required=True)

  data = sub.add_parser("data", help="make, check and convert motion data sets")
  data_sub = data.add_subparsers(dest="data_command", required=True)
  p = data_sub.add_parser("synth", help="write the procedural HumanML3D-format data set")
  p.add_argument("--out", required=True, help="output folder")
  p.add_argument("--num", type=int, default=2000, help="number of motions (default 2000)")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
  p.set_defaults(func=cmd_data_synth)
  p = data_sub.add_parser("check", help="validate a HumanML3D/KIT-ML folder and summarise it")
  p.add_argument("folder")
  p.add_argument("--strict", action="store_true",
                 help="treat motions the loaders would skip (too short/long) as errors")
  p.set_defaults(func=cmd_data_check)
  p = data_sub.add_parser("tfds", help="build the TFDS data set of a folder")
  p.add_argument("folder")
  p.add_argument("--data-dir", required=True, help="TFDS data_dir to write into")
  p.set_defaults(func=cmd_data_tfds)

  p = sub.add_parser("render", help="draw motions (.npy joints or features) as GIF/MP4/PNG")
  p.add_argument("files", nargs="+", help="one or more .npy files, drawn side by side")
  p.add_argument("--out", required=True, help="output .gif, .mp4 or .png (one frame)")
  p.add_argument("--title", action="append", help="caption per motion (repeat)")
  p.add_argument("--normalized", action="store_true",
                 help="features are normalised; de-normalise with --data's Mean/Std")
  p.add_argument("--data", help="data folder with Mean.npy/Std.npy")
  p.add_argument("--frame", type=int, default=None, help="frame for .png (default middle)")
  p.add_argument("--stride", type=int, default=1, help="draw every n-th frame")
  p.set_defaults(func=cmd_render)

  p = sub.add_parser("vocab", help="text vocabulary for the motion-text model")
  vocab_sub = p.add_subparsers(dest="vocab_command", required=True)
  p = vocab_sub.add_parser("train", help="train a SentencePiece model on a folder's captions")
  p.add_argument("--data", required=True, help="HumanML3D-format folder")
  p.add_argument("--out", required=True, help="output .model file")
  p.add_argument("--size", type=int, default=1000,
                 help="at most this many pieces (a small caption set gives fewer)")
  p.add_argument("--splits", default="train", help="comma-separated splits to read")
  p.add_argument("--captions-only", action="store_true",
                 help="leave out the instruction templates' wording (on by default)")
  p.add_argument("--motion-codes", type=int, default=512, help="codebook size, for the summary")
  p.set_defaults(func=cmd_vocab_train)

  p = sub.add_parser("tasks", help="the registered SeqIO tasks and mixtures")
  tasks_sub = p.add_subparsers(dest="tasks_command", required=True)
  for sub_name, helptext in (("list", "task and mixture names with their sizes"),
                             ("show", "decoded examples of a task or mixture")):
    q = tasks_sub.add_parser(sub_name, help=helptext)
    q.add_argument("--data", help="data folder (default $MOTIONGPT_DATA or data/synth)")
    q.add_argument("--tokens", help="tokens folder (default DATA/tokens)")
    q.add_argument("--spm", help="SentencePiece model (default DATA/spiece.model)")
    if sub_name == "show":
      q.add_argument("name")
      q.add_argument("-n", type=int, default=3, help="number of examples")
      q.add_argument("--split", default="validation", choices=["train", "validation", "test"])
      q.add_argument("--seed", type=int, default=None, help="shuffle with this seed")
      q.set_defaults(func=cmd_tasks_show)
    else:
      q.set_defaults(func=cmd_tasks_list)

  p = sub.add_parser("train", help="train the language model on a SeqIO mixture "
                     "(stage 2: configs/t5_pretrain.py, stage 3: configs/t5_instruct.py)")
  p.add_argument("--config", default="configs/t5_pretrain.py:tiny")
  p.add_argument("--workdir", required=True)
  p.add_argument("--data", required=True, help="HumanML3D-format folder")
  p.add_argument("--tokens", help="tokens folder (default DATA/tokens)")
  p.add_argument("--spm", help="SentencePiece model (default DATA/spiece.model)")
  p.set_defaults(func=cmd_train, takes_overrides=True)

  p = sub.add_parser("generate", help="text to motion with a trained model")
  p.add_argument("text")
  p.add_argument("--workdir", required=True, help="a `motiongpt train` run (stage 3)")
  p.add_argument("--out", required=True, help=".gif, .mp4 (side by side) or .npy (joints)")
  p.add_argument("-n", type=int, default=1, help="number of samples")
  length = p.add_mutually_exclusive_group()
  length.add_argument("--frames", type=int)
  length.add_argument("--seconds", type=float)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--top-k", type=int, default=50)
  p.add_argument("--temperature", type=float, default=1.0)
  p.set_defaults(func=cmd_generate)

  p = sub.add_parser("caption", help="motion to text with a trained model")
  p.add_argument("file", help=".npy features [T, 263] or joints [T, 22, 3]")
  p.add_argument("--workdir", required=True, help="a `motiongpt train` run (stage 3)")
  p.set_defaults(func=cmd_caption)

  for name, func, what in (("predict", cmd_predict, "continue a motion from its first 20%"),
                           ("inbetween", cmd_inbetween, "fill in the middle half of a motion")):
    p = sub.add_parser(name, help=what)
    p.add_argument("file", help=".npy features [T, 263] or joints [T, 22, 3]")
    p.add_argument("--workdir", required=True, help="a `motiongpt train` run (stage 3)")
    p.add_argument("--out", required=True, help=".gif/.mp4 (input | result) or .npy (both)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=func)

  p = sub.add_parser("chat", help="free-form instructions (interactive without PROMPT)")
  p.add_argument("prompt", nargs="?", help="one instruction; <motion> stands for --motion")
  p.add_argument("--workdir", required=True, help="a `motiongpt train` run (stage 3)")
  p.add_argument("--motion", help=".npy features or joints that <motion> refers to")
  p.add_argument("--out", help="where a motion in the answer goes (default chat.gif)")
  p.add_argument("--seed", type=int, default=0)
  p.set_defaults(func=cmd_chat)

  p = sub.add_parser("train-evaluator",
                     help="train the text-motion evaluator used by `motiongpt eval`")
  p.add_argument("--config", default="configs/evaluator.py:tiny",
                 help="config file and variant (default configs/evaluator.py:tiny)")
  p.add_argument("--workdir", required=True)
  p.add_argument("--data", required=True, help="HumanML3D-format folder")
  p.set_defaults(func=cmd_train_evaluator, takes_overrides=True)

  p = sub.add_parser("convert-evaluator",
                     help="the official (Guo et al.) evaluator weights into an evaluator folder")
  p.add_argument("--checkpoint", required=True, help="t2m/text_mot_match/model/finest.tar")
  p.add_argument("--glove", required=True, help="folder with our_vab_data.npy, "
                 "our_vab_words.pkl, our_vab_idx.pkl")
  p.add_argument("--meta", required=True, help="folder with the evaluator's mean.npy, std.npy")
  p.add_argument("--data", required=True, help="HumanML3D folder (its captions teach the "
                 "tagger for generated captions)")
  p.add_argument("--out", required=True)
  p.set_defaults(func=cmd_convert_evaluator)

  p = sub.add_parser("eval", help="the paper's evaluation tables for a trained model")
  p.add_argument("--workdir", required=True, help="a `motiongpt train` run (stage 3)")
  p.add_argument("--evaluator", required=True, help="train-evaluator or convert-evaluator "
                 "folder")
  p.add_argument("--data", help="HumanML3D-format folder (default: the run's)")
  p.add_argument("--split", default="test", choices=["train", "val", "test"])
  p.add_argument("--tasks", default="t2m,m2t,m2m", help="comma-separated: t2m, m2t, m2m")
  p.add_argument("--replications", type=int, default=20)
  p.add_argument("--mm-captions", type=int, default=100, help="captions for MultiModality")
  p.add_argument("--mm-repeats", type=int, default=30, help="generations per caption")
  p.add_argument("--m2m-replications", type=int, default=3)
  p.add_argument("--limit", type=int, default=0, help="use only the first N motions")
  p.add_argument("--bert-model", help="local Hugging Face encoder folder for BERTScore")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--top-k", type=int, default=50, help="motion sampling (MotionGPT's 50)")
  p.add_argument("--temperature", type=float, default=1.0)
  p.add_argument("--out", help="folder for results.json and results.md (default RUN/eval)")
  p.set_defaults(func=cmd_eval)

  p = sub.add_parser("train-vqvae", help="train the motion VQ-VAE (resumes from --workdir)")
  p.add_argument("--config", default="configs/vqvae.py:tiny",
                 help="config file and variant (default configs/vqvae.py:tiny)")
  p.add_argument("--workdir", required=True, help="checkpoints, config.json and metrics")
  p.add_argument("--data", required=True, help="HumanML3D-format folder")
  p.add_argument("--eval-samples", type=int, default=64,
                 help="validation motions for the periodic reconstruction error")
  p.set_defaults(func=cmd_train_vqvae, takes_overrides=True)

  p = sub.add_parser("tokenize", help="write the motion tokens of a data folder")
  p.add_argument("--vqvae", required=True, help="train-vqvae work directory")
  p.add_argument("--data", required=True, help="HumanML3D-format folder")
  p.add_argument("--out", required=True, help="tokens folder to write")
  p.set_defaults(func=cmd_tokenize)

  p = sub.add_parser("reconstruct", help="VQ-VAE reconstruction error and side-by-side GIFs")
  p.add_argument("--vqvae", required=True, help="train-vqvae work directory")
  p.add_argument("--data", required=True, help="HumanML3D-format folder")
  p.add_argument("--split", default="test", choices=["train", "val", "test"])
  p.add_argument("--limit", type=int, default=0, help="use only the first N motions")
  p.add_argument("--gifs", type=int, default=4, help="original vs reconstruction GIFs")
  p.add_argument("--out", help="folder for the GIFs (default VQVAE/reconstructions)")
  p.set_defaults(func=cmd_reconstruct)

  p = sub.add_parser("demo", help="run the whole pipeline on the built-in data set "
                     "(--config.x=y overrides apply to the VQ-VAE config)")
  p.add_argument("--workdir", default="runs/demo")
  p.add_argument("--num", type=int, default=2000)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--pictures", type=int, default=4, help="number of GIFs to render")
  p.add_argument("--quick", action="store_true",
                 help="a few steps of everything: checks the pipeline, not the quality")
  p.set_defaults(func=cmd_demo, takes_overrides=True)
  return parser


class _QuietSeqio(logging.Filter):
  """Drops seqio's per-task advice to cache function datasets: our sources are in-memory
  tables, and the warning would repeat once per task and batch pipeline."""

  def filter(self, record):
    return "uncached FunctionDataset" not in record.getMessage()


def main(argv: list[str] | None = None) -> int:
  logging.getLogger("absl").addFilter(_QuietSeqio())
  parser = build_parser()
  args, extra = parser.parse_known_args(argv)
  overrides = [a for a in extra if a.startswith("--config.")]
  unknown = [a for a in extra if not a.startswith("--config.")]
  if unknown or (overrides and not getattr(args, "takes_overrides", False)):
    parser.error(f"unrecognized arguments: {' '.join(unknown or overrides)}")
  args.overrides = overrides
  from motiongpt_jax import distributed
  from motiongpt_jax.data.humanml3d import DataError
  try:
    distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    return args.func(args)
  except (DataError, FileNotFoundError, ValueError) as e:
    print(f"motiongpt: error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
