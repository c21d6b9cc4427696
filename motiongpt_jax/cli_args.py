"""The ``motiongpt`` command's arguments: one subcommand per ``cli.cmd_*`` function."""

from __future__ import annotations

import argparse


def _add(sub, name, func, help_text, *arguments, overrides=False):
  """A subcommand from (flags, keyword arguments) pairs."""
  p = sub.add_parser(name, help=help_text)
  for flags, kwargs in arguments:
    p.add_argument(*flags, **kwargs)
  p.set_defaults(func=func, takes_overrides=overrides)
  return p


def _a(*flags, **kwargs):
  return flags, kwargs


WORKDIR = _a("--workdir", required=True, help="a `motiongpt train` run (stage 3)")
DATA = _a("--data", required=True, help="HumanML3D-format folder")
MOTION_FILE = _a("file", help=".npy features [T, 263] or joints [T, 22, 3]")
SPLIT = _a("--split", default="test", choices=["train", "val", "test"])


def build_parser(commands) -> argparse.ArgumentParser:
  """The parser; ``commands`` is the module holding the ``cmd_*`` functions (cli)."""
  parser = argparse.ArgumentParser(prog="motiongpt", description="MotionGPT in JAX: motion "
                                   "data, VQ-VAE, T5 training, evaluation and use")
  parser.add_argument("--debug", action="store_true", help="print tracebacks of errors")
  group = parser.add_argument_group(
      "multi-process runs", "join a jax.distributed run (TPU VM workers need none of these: "
      "run_tpu.sh sets MOTIONGPT_DISTRIBUTED=auto)")
  group.add_argument("--coordinator", help="HOST:PORT of process 0")
  group.add_argument("--num-processes", type=int)
  group.add_argument("--process-id", type=int)
  sub = parser.add_subparsers(dest="command", required=True)

  data = sub.add_parser("data", help="make, check and convert motion data sets")
  data_sub = data.add_subparsers(dest="data_command", required=True)
  _add(data_sub, "synth", commands.cmd_data_synth, "write the procedural HumanML3D-format data set",
       _a("--out", required=True, help="output folder"),
       _a("--num", type=int, default=2000, help="number of motions (default 2000)"),
       _a("--seed", type=int, default=0),
       _a("--workers", type=int, default=None, help="processes (default: all cores)"),
       _a("--mirror", action="store_true", help="also write each motion's mirror image "
          "MNAME, as HumanML3D's M files (2 x --num motions)"))
  _add(data_sub, "check", commands.cmd_data_check, "validate a HumanML3D/KIT-ML folder and summarise it",
       _a("folder"), _a("--strict", action="store_true", help="treat motions the loaders "
                        "would skip (too short/long) as errors"))
  _add(data_sub, "tfds", commands.cmd_data_tfds, "build the TFDS data set of a folder", _a("folder"),
       _a("--data-dir", required=True, help="TFDS data_dir to write into"))
  _add(data_sub, "from-bvh", commands.cmd_data_from_bvh,
       "turn BVH motion capture into a HumanML3D-format folder (SMPL chain, 20 fps, metres)",
       _a("inputs", nargs="+", help="BVH files or folders (searched recursively)"),
       _a("--out", required=True, help="output folder"),
       _a("--captions", help="JSON {clip or file stem: caption or [captions]}; also read: "
          "NAME.txt beside NAME.bvh, one caption per line"),
       _a("--mapping", help="lafan1, mixamo, cmu, cmu-bvh or a JSON file {smpl_joint: joint "
          "name(s)} (default: detected from the joint names)"),
       _a("--scale", type=float, help="metres per file unit (default: detected, cm/m/mm)"),
       _a("--up", default="y", choices=["y", "z"], help="the files' up axis (default y)"),
       _a("--clip-seconds", type=float, default=9.8, help="cut recordings into clips of at "
          "most this long (default 9.8 = 196 frames; 0 keeps them whole)"),
       _a("--mean-std-from", help="copy Mean.npy/Std.npy from this folder (to use a model "
          "trained on it) instead of computing them over the train clips"))

  _add(sub, "export", commands.cmd_export, "write a motion (.npy features or joints) as a BVH "
       "file for animation tools", MOTION_FILE,
       _a("--out", required=True, help="output .bvh"))

  _add(sub, "render", commands.cmd_render, "draw motions (.npy joints or features) as GIF/MP4/PNG",
       _a("files", nargs="+", help="one or more .npy files, drawn side by side"),
       _a("--out", required=True, help="output .gif, .mp4 or .png (one frame)"),
       _a("--title", action="append", help="caption per motion (repeat)"),
       _a("--normalized", action="store_true",
          help="features are normalised; de-normalise with --data's Mean/Std"),
       _a("--data", help="data folder with Mean.npy/Std.npy"),
       _a("--frame", type=int, default=None, help="frame for .png (default middle)"),
       _a("--stride", type=int, default=1, help="draw every n-th frame"))

  vocab = sub.add_parser("vocab", help="text vocabulary for the motion-text model")
  _add(vocab.add_subparsers(dest="vocab_command", required=True), "train", commands.cmd_vocab_train,
       "train a SentencePiece model on a folder's captions", DATA,
       _a("--out", required=True, help="output .model file"),
       _a("--size", type=int, default=1000,
          help="at most this many pieces (a small caption set gives fewer)"),
       _a("--splits", default="train", help="comma-separated splits to read"),
       _a("--captions-only", action="store_true",
          help="leave out the instruction templates' wording (in by default)"),
       _a("--motion-codes", type=int, default=512, help="codebook size, for the summary"))

  tasks = sub.add_parser("tasks", help="the registered SeqIO tasks and mixtures")
  tasks_sub = tasks.add_subparsers(dest="tasks_command", required=True)
  paths = (_a("--data", default="data/synth", help="data folder (default data/synth)"),
           _a("--tokens", help="tokens folder (default DATA/tokens)"),
           _a("--spm", help="SentencePiece model (default DATA/spiece.model)"))
  _add(tasks_sub, "list", commands.cmd_tasks_list, "task and mixture names with their sizes", *paths)
  _add(tasks_sub, "cache", commands.cmd_tasks_cache, "write seqio's offline cache of the "
       "tasks (TFRecords + info/stats JSON), read by train --config.data.cache_dir=OUT", *paths,
       _a("--out", required=True, help="cache directory (seqio's global cache dir)"),
       _a("--tasks", help="comma-separated task names, regular expressions or mixtures "
          "(default: the tasks of motiongpt_pretrain and motiongpt_instruct)"),
       _a("--shards", type=int, default=64, help="TFRecord files per split (seqio's "
          "min_shards, 64; at least the number of hosts that read it)"),
       _a("--overwrite", action="store_true", help="re-cache tasks cached already"))
  _add(tasks_sub, "show", commands.cmd_tasks_show, "decoded examples of a task or mixture", *paths,
       _a("name"), _a("-n", type=int, default=3, help="number of examples"),
       _a("--split", default="validation", choices=["train", "validation", "test"]),
       _a("--seed", type=int, default=None, help="shuffle with this seed"))

  config = lambda default: _a("--config", default=None, help=f"config file[:variant] (default "
                              f"the project's configs/{default})")  # noqa: E731
  _add(sub, "train-vqvae", commands.cmd_train_vqvae, "train the motion VQ-VAE (resumes from --workdir)",
       config("vqvae.py:tiny"), _a("--workdir", required=True), DATA,
       _a("--eval-samples", type=int, default=64,
          help="validation motions for the periodic reconstruction error"), overrides=True)
  _add(sub, "reconstruct", commands.cmd_reconstruct, "VQ-VAE reconstruction error and side-by-side GIFs",
       _a("--vqvae", required=True, help="train-vqvae work directory"), DATA, SPLIT,
       _a("--limit", type=int, default=0, help="use only the first N motions"),
       _a("--gifs", type=int, default=4, help="original vs reconstruction GIFs"),
       _a("--out", help="folder for the GIFs (default VQVAE/reconstructions)"))
  _add(sub, "tokenize", commands.cmd_tokenize, "write the motion tokens of a data folder",
       _a("--vqvae", required=True, help="train-vqvae work directory"), DATA,
       _a("--out", required=True, help="tokens folder to write"))
  _add(sub, "train", commands.cmd_train, "train the language model on a SeqIO mixture (stage 2: "
       "configs/t5_pretrain.py, stage 3: configs/t5_instruct.py)", config("t5_pretrain.py:tiny"),
       _a("--workdir", required=True), DATA, *paths[1:], overrides=True)
  _add(sub, "train-evaluator", commands.cmd_train_evaluator,
       "train the text-motion evaluator used by `motiongpt eval`", config("evaluator.py:tiny"),
       _a("--workdir", required=True), DATA, overrides=True)
  _add(sub, "convert-evaluator", commands.cmd_convert_evaluator,
       "the official (Guo et al.) evaluator weights into an evaluator folder",
       _a("--checkpoint", required=True, help="t2m/text_mot_match/model/finest.tar"),
       _a("--glove", required=True, help="folder with our_vab_data.npy, our_vab_words.pkl, "
          "our_vab_idx.pkl"),
       _a("--meta", required=True, help="folder with the evaluator's mean.npy, std.npy"),
       _a("--data", required=True, help="HumanML3D folder (its captions teach the tagger "
          "for generated captions)"), _a("--out", required=True))
  _add(sub, "export-t5", commands.cmd_export_t5, "write a trained language model as a T5X "
       "checkpoint or a Hugging Face (transformers) folder",
       _a("--workdir", required=True, help="a `motiongpt train` run"),
       _a("--format", required=True, choices=["t5x", "hf"],
          help="t5x: checkpoint_STEP/ (msgpack + TensorStore); hf: config.json + "
               "model.safetensors"),
       _a("--out", required=True, help="new or empty output folder"),
       _a("--step", type=int, default=None, help="checkpoint step (default the latest)"),
       _a("--dtype", default="float32", choices=["float32", "bfloat16"],
          help="saved parameter dtype (bfloat16: t5x only)"))
  _add(sub, "import-motiongpt", commands.cmd_import_motiongpt,
       "the released MotionGPT (motiongpt_s3_h3d.tar) as a run folder; read without torch, "
       "no code from the file runs",
       _a("--checkpoint", required=True, help="MotionGPT-base/motiongpt_s3_h3d.tar"),
       _a("--t5", required=True, help="the flan-t5-base folder it was trained from "
          "(config.json, spiece.model)"),
       _a("--meta", required=True, help="folder with the mean.npy, std.npy its VQ-VAE expects "
          "(MotionGPT's assets/meta)"),
       _a("--out", required=True, help="new or empty run folder"),
       _a("--data", help="HumanML3D folder recorded as the run's data (eval's default)"),
       _a("--templates", help="template_instructions.json: prompts from its first phrasings "
          "(default: the reference's evaluation prompts)"),
       _a("--evaluator-out", help="also write the checkpoint's T2M evaluator weights as an "
          "evaluator folder (needs --glove and --data)"),
       _a("--glove", help="GloVe folder (our_vab_*), for --evaluator-out"),
       _a("--evaluator-meta", help="evaluator mean.npy/std.npy folder (default --meta)"))
  _add(sub, "eval", commands.cmd_eval, "the paper's evaluation tables for a trained model", WORKDIR,
       _a("--evaluator", required=True, help="train-evaluator or convert-evaluator folder"),
       _a("--data", help="HumanML3D-format folder (default: the run's)"), SPLIT,
       _a("--tasks", default="t2m,m2t,m2m", help="comma-separated: t2m, m2t, m2m"),
       _a("--replications", type=int, default=20),
       _a("--mm-captions", type=int, default=100, help="captions for MultiModality"),
       _a("--mm-repeats", type=int, default=30, help="generations per caption"),
       _a("--m2m-replications", type=int, default=3),
       _a("--limit", type=int, default=0, help="use only the first N motions"),
       _a("--bert-model", help="BERTScore from a local model folder named after the model, "
          "e.g. .../roberta-large (the paper's: layer 17, idf, rescaled by bert-score's "
          "baseline); needs pip install 'motiongpt-jax[bertscore]'"),
       _a("--seed", type=int, default=0),
       _a("--top-k", type=int, default=50, help="motion sampling (MotionGPT's 50)"),
       _a("--temperature", type=float, default=1.0),
       _a("--protocol", default="motiongpt", choices=["motiongpt", "raw"],
          help="scoring: motiongpt = the paper's (nmt BLEU, CIDEr-D, lemmatised references, "
               "crops per replication); raw = closest-length BLEU, plain CIDEr, raw captions"),
       _a("--out", help="folder for results.json and results.md (default RUN/eval)"))

  p = _add(sub, "generate", commands.cmd_generate, "text to motion with a trained model", _a("text"),
           WORKDIR, _a("--out", required=True, help=".gif, .mp4 (side by side), .npy or .bvh"),
           _a("-n", type=int, default=1, help="number of samples"),
           _a("--seed", type=int, default=0), _a("--top-k", type=int, default=50),
           _a("--temperature", type=float, default=1.0))
  length = p.add_mutually_exclusive_group()
  length.add_argument("--frames", type=int)
  length.add_argument("--seconds", type=float)
  _add(sub, "caption", commands.cmd_caption, "motion to text with a trained model", MOTION_FILE, WORKDIR)
  for name, func, what in (("predict", commands.cmd_predict, "continue a motion from its first 20%%"),
                           ("inbetween", commands.cmd_inbetween, "fill in the middle half of a motion")):
    _add(sub, name, func, what, MOTION_FILE, WORKDIR,
         _a("--out", required=True, help=".gif/.mp4 (input | result), .npy or .bvh (the result)"),
         _a("--seed", type=int, default=0))
  _add(sub, "chat", commands.cmd_chat, "free-form instructions (interactive without PROMPT)",
       _a("prompt", nargs="?", help="one instruction; <motion> stands for --motion"), WORKDIR,
       _a("--motion", help=".npy features or joints that <motion> refers to"),
       _a("--out", help="where a motion in the answer goes: .gif, .mp4, .npy or .bvh "
          "(default chat.gif)"),
       _a("--seed", type=int, default=0))
  _add(sub, "demo", commands.cmd_demo, "run the whole pipeline on the built-in data set "
       "(--config.x=y overrides apply to configs/demo.py)",
       _a("--workdir", default="runs/demo"), _a("--config", default=None,
       help="demo config (default the project's configs/demo.py)"),
       _a("--num", type=int, help="motions to synthesise (config: 2000)"),
       _a("--seed", type=int, help="data set seed (config: 0)"),
       _a("--pictures", type=int, help="number of GIFs to render (config: 4)"),
       _a("--quick", action="store_true", help="configs/demo.py:quick, a few steps of "
          "everything: checks the pipeline, not the quality"), overrides=True)
  return parser
