"""The ``motiongpt`` command: parses arguments, calls one ``motiongpt_jax.pipeline`` (or
inference) function, prints the result and maps errors to exit codes, all in ``main``: 0 done,
2 bad input (one line naming the file or field), 1 internal error (``--debug`` for the
traceback), 130 interrupted, 143 pre-empted (SIGTERM: a checkpoint was saved; run the
command again). Training commands take ``--config file.py:variant`` and ``--config.a.b=v``.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback

from motiongpt_jax import cli_args, config_utils, distributed, pipeline
from motiongpt_jax.data import humanml3d, tfds_builder
from motiongpt_jax.data.synth import generator
from motiongpt_jax.evaluation import paper_tables
from motiongpt_jax.inference import MotionGPT, check_sampling
from motiongpt_jax.motion import files

EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_PREEMPTED = 2, 1, 130, 143
BAD_INPUT = (humanml3d.DataError, OSError, ValueError)  # OSError: paths the user gave
REPORT = pipeline.Reporter()


# ---------------------------------------------------------------------------- commands
def cmd_data_synth(args):
  s = generator.synthesize(args.out, args.num, args.seed, args.workers,
                           progress=REPORT.progress("synthesising"), mirror=args.mirror)
  print(f"wrote {s['motions']} motions to {args.out} in {s['seconds']:.1f}s: splits "
        f"{s['splits']}, {len(s['families'])} action families, frames "
        f"{s['min_len']}..{s['max_len']}")


def cmd_data_check(args):
  print(humanml3d.check_folder(args.folder, strict=args.strict).summary())


def cmd_data_tfds(args):
  builder = tfds_builder.prepare(args.folder, args.data_dir)
  print(f"prepared {builder.info.full_name} in {args.data_dir}: "
        + ", ".join(f"{k} {v.num_examples}" for k, v in builder.info.splits.items()))


def cmd_data_from_bvh(args):
  from motiongpt_jax.data import from_bvh
  s = from_bvh.convert(args.inputs, args.out, args.captions, args.mapping, args.scale, args.up,
                       args.clip_seconds, args.mean_std_from,
                       progress=REPORT.progress("converting"))
  print(f"wrote {s['clips']} clips ({s['min_len']}..{s['max_len']} frames at 20 fps) from "
        f"{s['files']} BVH file(s) ({s['frames_in']} frames at "
        f"{', '.join(f'{f:g}' for f in s['source_fps'])} fps) to {args.out} in "
        f"{s['seconds']:.1f}s: splits {s['splits']}, skeleton {', '.join(s['mappings'])}, "
        f"unit {'; '.join(s['units'])}, {s['uncaptioned']} clip(s) without a caption"
        + "".join(f"\n  skipped {line}" for line in s["skipped"]))


def cmd_export(args):
  r = files.export_bvh(args.file, args.out)
  print(f"wrote {r['path']}: {r['frames']} frames at {r['fps']:g} fps, SMPL joint names, "
        f"metres, y up; forward kinematics within {r['max_error_mm']:.3f} mm of the motion")


def cmd_render(args):
  if args.normalized and not args.data:
    raise ValueError("--normalized needs --data DIR (the folder with Mean.npy and Std.npy)")
  print("wrote " + files.render_files(args.files, args.out, args.title,
                                      args.data if args.normalized else None, args.frame,
                                      args.stride))


def cmd_vocab_train(args):
  pipeline.train_vocabulary(args.data, args.out, args.size, args.splits.split(","),
                            args.captions_only, args.motion_codes, report=REPORT)


def cmd_tasks_list(args):
  print(f"{'task':40}{'train':>8}{'validation':>12}{'test':>8}")
  for e in pipeline.catalog(args.data, args.tokens, args.spm):
    label = e.name if e.rates is None else "mixture " + e.name
    print(f"{label:40}" + "".join(f"{n:>{w}}" for n, w in zip(e.sizes, (8, 12, 8))))
    if e.rates:
      print("    rates: " + ", ".join(f"{t} ({r:g})" for t, r in e.rates.items()))


def cmd_tasks_cache(args):
  from motiongpt_jax.pipeline import cache
  patterns = [t.strip() for t in (args.tasks or "").split(",") if t.strip()]
  result = cache.cache_tasks(args.data, args.out, patterns, args.tokens, args.spm,
                             args.shards, args.overwrite, report=REPORT)
  print(f"cached {len(result['tasks'])} task(s) in {args.out} in {result['seconds']:.1f}s "
        f"({cache.cache_size(args.out) / 2**20:.1f} MiB on disk); train with "
        f"--config.data.cache_dir={args.out}")


def cmd_tasks_show(args):
  shown = pipeline.examples(args.name, args.data, args.tokens, args.spm, args.n, args.split,
                            args.seed)
  for i, (inputs, targets, n_in, n_out) in enumerate(shown):
    print(f"--- {args.name} [{args.split}] example {i}")
    print(f"inputs  ({n_in} ids): {inputs}")
    print(f"targets ({n_out} ids): {targets}")


def _trained(result, workdir: str, what: str):
  if not result.preempted:
    print(f"done: step {result.step} in {result.seconds:.0f}s; {what} in {workdir}")
  return result


def cmd_train_vqvae(args):
  return _trained(pipeline.train_vqvae(args.data, args.workdir, args.config, args.overrides,
                                       args.eval_samples, report=REPORT),
                  args.workdir, "checkpoints, metrics.jsonl and tensorboard/")


def cmd_train(args):
  return _trained(pipeline.train_lm(args.data, args.workdir, args.config, args.overrides,
                                    args.tokens, args.spm, report=REPORT),
                  args.workdir, "checkpoints")


def cmd_train_evaluator(args):
  return _trained(pipeline.train_evaluator(args.data, args.workdir, args.config,
                                           args.overrides, report=REPORT),
                  args.workdir, "evaluator")


def cmd_convert_evaluator(args):
  pipeline.convert_evaluator(args.checkpoint, args.glove, args.meta, args.data, args.out,
                             report=REPORT)


def cmd_export_t5(args):
  from motiongpt_jax.pipeline.export import export_t5
  return export_t5(args.workdir, args.out, args.format, args.step, args.dtype, report=REPORT)


def cmd_import_motiongpt(args):
  from motiongpt_jax.pipeline.released import import_motiongpt
  result = import_motiongpt(args.checkpoint, args.t5, args.meta, args.out, args.data,
                            args.templates, args.evaluator_out, args.glove,
                            args.evaluator_meta, report=REPORT)
  print(f"imported MotionGPT into {result.out} (VQ-VAE in {result.vqvae}); use it with "
        f"--workdir {result.out}")
  return result


def cmd_tokenize(args):
  pipeline.tokenize(args.vqvae, args.data, args.out, report=REPORT)


def cmd_reconstruct(args):
  pipeline.reconstruct(args.vqvae, args.data, args.split, args.limit, args.gifs, args.out,
                       report=REPORT)


def cmd_eval(args):
  tables = pipeline.evaluate_run(args.workdir, args.evaluator, args.out, args.data, args.split,
                        [t.strip() for t in args.tasks.split(",") if t.strip()],
                        args.replications, args.mm_captions, args.mm_repeats,
                        args.m2m_replications, args.limit, args.bert_model, args.seed,
                        args.top_k, args.temperature, args.protocol, report=REPORT)
  print("\n" + paper_tables.to_markdown(tables))


def cmd_generate(args):
  files.check_output(args.out)
  check_sampling(args.temperature, args.top_k, args.n)  # before the model is loaded
  motions = MotionGPT.load(args.workdir).generate(
      args.text, n=args.n, frames=args.frames, seconds=args.seconds, seed=args.seed,
      top_k=args.top_k, temperature=args.temperature)
  titles = [f"{args.text} ({i + 1})" if len(motions) > 1 else args.text
            for i in range(len(motions))]
  outs = files.write_motions(motions, args.out, titles)
  print(f"generated {len(motions)} motion(s) of {', '.join(str(len(m)) for m in motions)} "
        f"frames: {', '.join(outs)}")


def cmd_caption(args):
  motion = files.load_motion(args.file)
  print(MotionGPT.load(args.workdir).caption(motion))


def cmd_predict(args):
  _motion_to_motion(args, "predict", "first 20% continued", "continued the first 20% of")


def cmd_inbetween(args):
  _motion_to_motion(args, "inbetween", "middle half generated", "filled the middle half of")


def _motion_to_motion(args, method: str, title: str, what: str):
  files.check_output(args.out)
  motion = files.load_motion(args.file)
  result = getattr(MotionGPT.load(args.workdir), method)(motion, seed=args.seed)
  shown = ([result] if args.out.endswith(files.ONE_FILE_PER_MOTION)
           else [files.as_joints(motion), result])
  outs = files.write_motions(shown, args.out, ["input", title][-len(shown):])
  print(f"{what} {args.file} ({len(result)} frames): {', '.join(outs)}")


def cmd_chat(args):
  files.check_output(args.out)
  if args.prompt is not None and not args.prompt.strip():
    raise ValueError("the prompt is empty; leave it out for interactive mode")
  model = MotionGPT.load(args.workdir)
  motion = files.load_motion(args.motion) if args.motion else None
  if args.prompt is not None:
    _chat_turn(model, args.prompt, motion, args.seed, args.out or "chat.gif")
    return
  print("type an instruction (empty line or Ctrl-D ends); write <motion> for --motion's "
        "motion, e.g. 'Describe <motion>' or 'Show me a person jumping'")
  turn = 0
  while True:
    try:
      prompt = input("> ")
    except EOFError:
      return
    if not prompt.strip():
      return
    stem, ext = os.path.splitext(args.out or "chat.gif")
    try:
      _chat_turn(model, prompt, motion, args.seed + turn, f"{stem}_{turn}{ext}")
    except BAD_INPUT as e:  # the session goes on
      print(f"  ({e})")
    turn += 1


def _chat_turn(model, prompt: str, motion, seed: int, out: str) -> None:
  text, joints = model.chat(prompt, motion, seed=seed)
  if text:
    print(text)
  if joints is not None:
    files.write_motions([joints], out, [prompt[:60]])
    print(f"[a motion of {len(joints)} frames: {out}]")


def cmd_demo(args):
  config = args.config or config_utils.project_config(
      "demo.py" + (":quick" if args.quick else ""))
  given = {"num": args.num, "seed": args.seed, "pictures": args.pictures}
  overrides = [f"--config.{k}={v}" for k, v in given.items() if v is not None]
  result = pipeline.run_demo(args.workdir, config, overrides + args.overrides, report=REPORT)
  if not result.preempted:
    print("\n" + paper_tables.to_markdown(result.tables))
    print(f"demo done in {result.minutes:.1f} min:\n  " + "\n  ".join(result.steps))
    print("\nwall time per stage (this run):\n" + result.stage_table())
    print("\nquality targets on the test split:\n  " + "\n  ".join(
        f"{'PASS' if ok else 'MISS'}  {text}" for ok, text in result.targets))
  return result


class _QuietSeqio(logging.Filter):
  """Drops seqio's advice to cache function datasets: our sources are in-memory tables."""

  def filter(self, record):
    return "uncached FunctionDataset" not in record.getMessage()


def main(argv: list[str] | None = None) -> int:
  logging.getLogger("absl").addFilter(_QuietSeqio())
  parser = cli_args.build_parser(sys.modules[__name__])
  args, extra = parser.parse_known_args(argv)
  overrides = [a for a in extra if a.startswith("--config.")]
  unknown = [a for a in extra if not a.startswith("--config.")]
  if unknown or (overrides and not args.takes_overrides):
    parser.error(f"unrecognized arguments: {' '.join(unknown or overrides)}")
  args.overrides = overrides
  try:
    distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    result = args.func(args)
  except KeyboardInterrupt:
    print("motiongpt: interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED
  except BAD_INPUT as e:
    if args.debug:
      traceback.print_exc()
    print(f"motiongpt: error: {_one_line(e)}", file=sys.stderr)
    return EXIT_BAD_INPUT
  except Exception as e:  # noqa: BLE001  an internal error: one line, --debug for more
    if args.debug:
      traceback.print_exc()
    print(f"motiongpt: internal error: {type(e).__name__}: {_one_line(e)} (run with --debug "
          f"for the traceback)", file=sys.stderr)
    return EXIT_INTERNAL
  if getattr(result, "preempted", False):
    return EXIT_INTERRUPTED if getattr(result, "interrupted", False) else EXIT_PREEMPTED
  return 0


def _one_line(error: BaseException) -> str:
  if isinstance(error, OSError) and error.filename:  # raised by the OS: name the file
    return f"{error.filename}: {error.strerror}"
  return str(error) or type(error).__name__


if __name__ == "__main__":
  sys.exit(main())
