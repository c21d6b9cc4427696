"""Every data stage at HumanML3D's size: wall time and peak memory, one subprocess per stage.

    python bench/data_bench.py --num 14616 --mirror     # HumanML3D's 29,232 motions
    python bench/data_bench.py --num 500 --mirror       # a quick check
    python bench/data_bench.py ... --doc docs/scaling.md   # also write the table there

Stages: synth (``data synth``), data check, tokenize (a tiny VQ-VAE trained for a few steps
on a small folder of its own: the tokenizer's cost, not its quality), vocabulary training,
``tasks list``, ``tasks cache``, the input pipeline (examples/s of the pre-training and
instruction mixtures as the trainer reads them: shuffled, repeated, feature-converted,
batched; uncached and cached, the cache checked and read as ``train`` does
(``cache.check_cache``); measured after every task's shuffle buffer has filled; and the
rate of reading the cache files alone, the bound of any cached pipeline), one epoch of
evaluator training, one evaluation replication
(text-to-motion, the test split, a T5 trained for a few steps). Each stage runs in its own
process; its peak RSS is the largest of that process and its children (``ru_maxrss``). The
goals (issue 15) are printed beside the figures, and the input pipeline's next to the
per-host demand of T5-base training on a TPU v4-32 (``bench/scaling_model.py``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests"))

STAGES = ("synth", "check", "vqvae", "tokenize", "vocab", "tasks_list", "tasks_cache",
          "pipeline", "evaluator", "eval")
TINY_LM = ["--config.train.steps=3", "--config.train.batch_size=8",
           "--config.data.inputs_length=96", "--config.data.targets_length=48",
           "--config.train.eval_every=0"]
LENGTHS = {"inputs": 80, "targets": 72}  # configs/t5_pretrain.py:tiny
MIXTURES = ("motiongpt_pretrain", "motiongpt_instruct")


def _peak_mb() -> float:
  own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
  return max(own, children) / 1024.0


def _paths(work: str) -> dict:
  data = os.path.join(work, "data")
  return dict(data=data, tokens=os.path.join(data, "tokens"),
              spm=os.path.join(data, "spiece.model"), small=os.path.join(work, "small"),
              vq=os.path.join(work, "vq"), cache=os.path.join(work, "cache"),
              evaluator=os.path.join(work, "evaluator"), lm=os.path.join(work, "lm"))


def _examples_per_second(mixture: str, cached: bool, seconds: float) -> float:
  import seqio
  from motiongpt_jax.t5.seqio_batches import pipeline_options
  ds = seqio.get_dataset(mixture, task_feature_lengths=LENGTHS, dataset_split="train",
                         shuffle=True, num_epochs=None, seed=0, use_cached=cached,
                         shard_info=seqio.ShardInfo(0, 1),
                         feature_converter=seqio.EncDecFeatureConverter(pack=False))
  # The trainer's tf.data options (``SeqioBatches``: map fusion).
  it = ds.batch(32, drop_remainder=True).with_options(pipeline_options()).as_numpy_iterator()
  # Warm-up: every task's shuffle buffer (seqio's 1,000 examples) filled, then some.
  tasks = len(seqio.get_mixture_or_task(mixture).tasks)
  for _ in range(math.ceil((1000 * tasks + 640) / 32)):
    next(it)
  start, n = time.perf_counter(), 0
  while time.perf_counter() - start < seconds:
    next(it)
    n += 32
  return n / (time.perf_counter() - start)


def _cache_read_rates(cache_dir: str, mixture: str, seconds: float) -> dict:
  """Examples/s of reading a mixture's cache files alone (train split, all its tasks'
  files interleaved, nothing after): the records only; the records parsed one at a time as
  seqio's cached source does (parse, cast: two tf.data steps per example, then padded
  batches of 32); and parsed 128 at a time (``cache.BatchedCacheSource``'s parsing, not
  unbatched). The bound of any cached pipeline."""
  import glob
  import seqio
  import tensorflow as tf
  files = sorted(f for t in seqio.get_mixture_or_task(mixture).tasks
                 for f in glob.glob(os.path.join(cache_dir, t.name, "train.tfrecord-*")))
  records = tf.data.TFRecordDataset(files, num_parallel_reads=16).repeat()
  keys = ("inputs", "targets", "text")
  single = {k: tf.io.FixedLenSequenceFeature([], tf.int64, allow_missing=True) for k in keys}
  ragged = {k: tf.io.RaggedFeature(tf.int64) for k in keys}

  def cast(x):
    return {k: tf.cast(v, tf.int32) for k, v in x.items()}

  def rate(ds, per):
    it = iter(ds)
    for _ in range(20):
      next(it)
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
      next(it)
      n += per
    return n / (time.perf_counter() - start)
  auto = tf.data.AUTOTUNE
  one = records.map(lambda r: tf.io.parse_single_example(r, single), num_parallel_calls=auto)
  return {"records": rate(records.batch(32), 32),
          "parse_one_at_a_time": rate(one.map(cast, num_parallel_calls=auto)
                                      .padded_batch(32), 32),
          "parse_batched": rate(records.batch(128).map(
              lambda r: cast(tf.io.parse_example(r, ragged)), num_parallel_calls=auto), 128)}


def run_stage(stage: str, args) -> dict:
  """One stage in this process; returns its figures."""
  from motiongpt_jax import pipeline
  p = _paths(args.work)
  quiet = pipeline.silent()
  start = time.perf_counter()
  out: dict = {}
  if stage == "synth":
    from motiongpt_jax.data.synth import generator
    s = generator.synthesize(p["data"], args.num, seed=0, workers=args.workers,
                             mirror=args.mirror)
    out["motions"] = s["motions"]
    out["rate"] = f"{s['motions'] / (time.perf_counter() - start):.0f} motions/s"
  elif stage == "check":
    from motiongpt_jax.data import humanml3d
    report = humanml3d.check_folder(p["data"])
    out["rate"] = f"{sum(report.split_sizes.values())} motions"
  elif stage == "vqvae":  # not a goal: the tokenizer the next stage uses
    from motiongpt_jax.data.synth import generator
    generator.synthesize(p["small"], 200, seed=1, workers=args.workers)
    from motiongpt_jax.vqvae import smoke
    pipeline.train_vqvae(p["small"], p["vq"], smoke.CONFIG, list(smoke.OVERRIDES),
                         report=quiet)
  elif stage == "tokenize":
    meta = pipeline.tokenize(p["vq"], p["data"], p["tokens"], report=quiet)
    out["rate"] = f"{meta['count'] / (time.perf_counter() - start):.0f} motions/s"
  elif stage == "vocab":
    pipeline.train_vocabulary(p["data"], p["spm"], report=quiet)
  elif stage == "tasks_list":
    entries = pipeline.catalog(p["data"])
    out["rate"] = f"{len(entries)} tasks and mixtures"
  elif stage == "tasks_cache":
    from motiongpt_jax.pipeline import cache
    result = cache.cache_tasks(p["data"], p["cache"], overwrite=True, report=quiet)
    examples = sum(v["examples"] for t in result["tasks"].values() for v in t.values())
    out["rate"] = f"{examples / (time.perf_counter() - start):.0f} examples/s"
    out["cache_mb"] = cache.cache_size(p["cache"]) / 2**20
  elif stage == "pipeline":
    import seqio
    import tasks
    from motiongpt_jax.pipeline import cache
    tasks.register(p["data"], p["tokens"], p["spm"])
    names = sorted({t.name for m in MIXTURES for t in seqio.get_mixture_or_task(m).tasks})
    cache.check_cache(p["cache"], p["data"], p["tokens"], p["spm"], names)  # as `train`
    for mixture in MIXTURES:
      for cached in (False, True):
        out[f"{mixture}/{'cached' if cached else 'uncached'}"] = _examples_per_second(
            mixture, cached, args.seconds)
      out[f"{mixture}/read_bound"] = _cache_read_rates(p["cache"], mixture, args.seconds / 2)
  elif stage == "evaluator":
    from motiongpt_jax.data import humanml3d
    import shutil
    train = len(humanml3d.read_split_names(p["data"], "train"))
    steps = max(math.ceil(train / 32), 1)
    shutil.rmtree(p["evaluator"], ignore_errors=True)  # a finished run would resume as done
    pipeline.train_evaluator(p["data"], p["evaluator"], "configs/evaluator.py:tiny",
                             [f"--config.train.steps={steps}", "--config.train.eval_every=0",
                              f"--config.train.checkpoint_every={steps}"], report=quiet)
    out["rate"] = f"{steps} steps of 32 ({train} train motions)"
  elif stage == "eval":
    pipeline.train_lm(p["data"], p["lm"], "configs/t5_instruct.py:tiny", TINY_LM, report=quiet)
    lm_seconds = time.perf_counter() - start
    start = time.perf_counter()
    pipeline.evaluate_run(p["lm"], p["evaluator"], tasks=("t2m",), replications=1,
                          mm_captions=10, mm_repeats=2, limit=args.eval_limit, report=quiet)
    out["rate"] = f"text-to-motion, test split{f' (first {args.eval_limit})' if args.eval_limit else ''}; T5 trained 3 steps first ({lm_seconds:.0f}s, not counted)"
  else:
    raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
  out["seconds"] = time.perf_counter() - start
  out["peak_mb"] = _peak_mb()
  return out


def demand_per_host(mfu: float = 0.4, inputs: int = 128, targets: int = 128
                    ) -> tuple[float, str]:
  """Examples/s one host must feed for T5-base on a TPU v4-32 (16 chips, 4 hosts of 4
  chips), with bench/scaling_model.py's FLOPs per example, peak and MFU."""
  sys.path.insert(0, os.path.join(REPO, "bench"))
  import scaling_model as sm
  counts = sm.parameter_counts("base")
  flops = 6 * (counts["encoder"] * inputs + counts["decoder"] * targets
               + counts["embedding"] / 2 * targets)
  chips, hosts = 16, 4
  total = mfu * sm.HARDWARE["TPU v4-8"]["peak"] * chips / flops
  return total / hosts, (f"T5-base, TPU v4-32 = {chips} chips on {hosts} hosts, MFU {mfu}, "
                         f"{inputs} + {targets} ids per example (bench/scaling_model.py's "
                         f"FLOPs per example): {total:,.0f} examples/s in all, "
                         f"{total / hosts:,.0f} per host.")


GOALS = {"synth": "<= 600 s at 14,616 + mirror", "tokenize": ">= 500 motions/s",
         "pipeline": ">= 5x uncached; >= v4-32 per-host demand"}


def table(results: dict, args, demand) -> str:
  size = f"{args.num} motions" + (" + mirror images" if args.mirror else "")
  lines = [f"Measured by `python bench/data_bench.py --num {args.num}"
           f"{' --mirror' if args.mirror else ''}` ({size}; 2 CPU cores shared with other "
           f"jobs while measuring, so times are upper bounds).", "",
           "| stage | wall s | peak RSS MB | throughput / notes |", "|---|---|---|---|"]
  for stage in STAGES:
    r = results.get(stage)
    if r is None:
      continue
    if stage == "pipeline":
      for mixture in MIXTURES:
        u, c = r[f"{mixture}/uncached"], r[f"{mixture}/cached"]
        bound = r.get(f"{mixture}/read_bound")
        reading = (f"; reading the cache files alone: records {bound['records']:,.0f}, "
                   f"parsed one at a time {bound['parse_one_at_a_time']:,.0f}, parsed in "
                   f"batches {bound['parse_batched']:,.0f} ex/s" if bound else "")
        lines.append(f"| input pipeline {mixture} | - | {r['peak_mb']:.0f} | uncached "
                     f"{u:,.0f} ex/s, cached {c:,.0f} ex/s ({c / u:.1f}x){reading}; "
                     f"T5-base on v4-32 needs {demand[0]:,.0f} ex/s per host |")
      continue
    note = r.get("rate", "")
    if stage == "tasks_cache":
      note += f"; {r['cache_mb']:.0f} MiB on disk"
    lines.append(f"| {stage} | {r['seconds']:.1f} | {r['peak_mb']:.0f} | {note} |")
  lines.append("")
  lines.append(f"Per-host demand: {demand[1]}")
  return "\n".join(lines)


def write_doc(path: str, text: str) -> None:
  start, end = "<!-- data_bench:start -->", "<!-- data_bench:end -->"
  with open(path) as f:
    doc = f.read()
  block = f"{start}\n{text}\n{end}"
  if start in doc and end in doc:
    doc = doc[:doc.index(start)] + block + doc[doc.index(end) + len(end):]
  else:
    doc = doc.rstrip("\n") + "\n\n## 3. Measured: every data stage at HumanML3D's size " \
          "(`bench/data_bench.py`)\n\n" + block + "\n"
  with open(path, "w") as f:
    f.write(doc)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--num", type=int, default=500, help="motions to synthesise")
  parser.add_argument("--mirror", action="store_true", help="and their mirror images")
  parser.add_argument("--work", default="/tmp/motiongpt_data_bench")
  parser.add_argument("--workers", type=int, default=2)
  parser.add_argument("--seconds", type=float, default=10.0, help="per pipeline figure")
  parser.add_argument("--eval-limit", type=int, default=0, help="test motions (0: all)")
  parser.add_argument("--stages", default=",".join(STAGES))
  parser.add_argument("--doc", help="write the table into this markdown file")
  parser.add_argument("--json", help="write the figures here")
  parser.add_argument("--stage", help=argparse.SUPPRESS)  # internal: run one stage
  args = parser.parse_args()
  if args.stage:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    print("RESULT " + json.dumps(run_stage(args.stage, args)))
    return
  results = {}
  if os.path.exists(args.json or ""):
    with open(args.json) as f:
      results = json.load(f).get("results", {})
  for stage in [s for s in args.stages.split(",") if s]:
    command = [sys.executable, os.path.abspath(__file__), "--stage", stage, "--num",
               str(args.num), "--work", args.work, "--workers", str(args.workers),
               "--seconds", str(args.seconds), "--eval-limit", str(args.eval_limit)]
    command += ["--mirror"] if args.mirror else []
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    lines = [l for l in done.stdout.splitlines() if l.startswith("RESULT ")]
    if done.returncode or not lines:
      print(f"{stage}: failed after {time.perf_counter() - t0:.0f}s\n{done.stderr[-3000:]}")
      break
    results[stage] = json.loads(lines[-1][7:])
    print(f"{stage}: {results[stage]}", flush=True)
    if args.json:
      with open(args.json, "w") as f:
        json.dump({"num": args.num, "mirror": args.mirror, "results": results}, f, indent=1)
  demand = demand_per_host()
  text = table(results, args, demand)
  print(text)
  if args.doc:
    write_doc(args.doc, text)


if __name__ == "__main__":
  main()
