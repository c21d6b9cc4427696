"""The ``motiongpt`` command.

Subcommands that exist so far: ``data synth``, ``data check``, ``data tfds``, ``render`` and
``demo``. Each has ``--help``. Errors in the user's input are printed as one line naming
the file and the fault, with exit status 2.
"""

from __future__ import annotations

import argparse
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


def cmd_demo(args) -> int:
  """Runs the parts of the pipeline that exist: synthesise, check, render."""
  from motiongpt_jax.data import humanml3d
  from motiongpt_jax.data.synth import generator
  from motiongpt_jax.motion import render
  data = os.path.join(args.workdir, "data", "synth")
  pictures = os.path.join(args.workdir, "pictures")
  os.makedirs(pictures, exist_ok=True)
  steps = []
  if os.path.exists(os.path.join(data, "Std.npy")):
    print(f"[1/3] data set already at {data} (delete it to re-synthesise)")
  else:
    print(f"[1/3] synthesising {args.num} procedural motions into {data}")
    s = generator.synthesize(data, args.num, args.seed,
                             progress=_progress_printer("  synthesising"))
    steps.append(f"synthesised {args.num} motions in {s['seconds']:.1f}s")
  print("[2/3] checking the data folder")
  report = humanml3d.check_folder(data)
  print(report.summary())
  steps.append(f"checked {data}: {report.split_sizes}")
  print("[3/3] rendering test motions")
  test = humanml3d.read_split(data, "test", normalize=False)[:args.pictures]
  for sample in test:
    out = os.path.join(pictures, f"{sample.name}.gif")
    render.render_animation([sample.motion], out, [sample.captions[0].text], stride=2)
    print(f"  {out}: {sample.captions[0].text}")
  steps.append(f"rendered {len(test)} GIFs into {pictures}")
  print("\ndemo done:\n  " + "\n  ".join(steps))
  print("not yet part of the demo: VQ-VAE tokenizer, T5 pre-training and instruction "
        "tuning, evaluation (later milestones)")
  return 0


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="motiongpt", description=__doc__.split("\n")[0])
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

  p = sub.add_parser("demo", help="run the whole pipeline on the built-in data set")
  p.add_argument("--workdir", default="runs/demo")
  p.add_argument("--num", type=int, default=2000)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--pictures", type=int, default=4, help="number of GIFs to render")
  p.set_defaults(func=cmd_demo)
  return parser


def main(argv: list[str] | None = None) -> int:
  args = build_parser().parse_args(argv)
  from motiongpt_jax.data.humanml3d import DataError
  try:
    return args.func(args)
  except (DataError, FileNotFoundError, ValueError) as e:
    print(f"motiongpt: error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
