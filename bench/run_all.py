"""Every JAX-vs-PyTorch benchmark in one run, and one summary table of their ratios.

    python bench/run_all.py [--rounds 5] [--threads 2] [--out summary.md]   (make bench)

Runs ``t5_bench.py`` (training and greedy generation, tiny and small; top-k 50 generation,
tiny), ``vqvae_bench.py`` (tiny, float32 and bfloat16) and ``eval_bench.py`` (one
text-to-motion replication), each interleaving the two frameworks round by round on the same
pinned CPUs (``harness.py``), then prints (and with ``--out`` writes) every ratio as the
median of its per-round ratios. Run it twice to see how far the ratios move between runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# (name, script, arguments); each writes its ratios to --json
BENCHMARKS = [
    ("t5 train + greedy generation", "t5_bench.py", ["--configs", "tiny,small",
                                                     "--gen-batches", "1,16,64"]),
    ("t5 top-k 50 generation", "t5_bench.py", ["--configs", "tiny", "--skip-train",
                                               "--top-k", "50", "--gen-batches", "1,16,64"]),
    ("VQ-VAE training", "vqvae_bench.py", ["--variant", "tiny"]),
    ("text-to-motion replication", "eval_bench.py", ["--motions", "128", "--reps", "3"]),
]


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
  parser.add_argument("--only", help="comma-separated benchmark scripts to run")
  parser.add_argument("--out", help="also write the summary table (markdown) here")
  args = parser.parse_args()
  rows = []
  started = time.time()
  for title, script, extra in BENCHMARKS:
    if args.only and script not in args.only.split(","):
      continue
    with tempfile.TemporaryDirectory() as tmp:
      out = os.path.join(tmp, "figures.json")
      command = [sys.executable, os.path.join(HERE, script), *extra, "--rounds",
                 str(args.rounds), "--threads", str(args.threads), "--json", out]
      print(f"\n$ {' '.join(command[1:-2])}", flush=True)
      t = time.time()
      subprocess.run(command, check=True)
      print(f"({time.time() - t:.0f} s)", flush=True)
      with open(out) as f:
        figures = json.load(f)
    if "ratios" in figures:
      rows += [(title, k, v) for k, v in figures["ratios"].items()]
    else:  # eval_bench: motions/s per round
      import statistics
      rows.append((title, "motions/s, JAX / PyTorch",
                   statistics.median(figures["ratio_per_round"])))
  stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
  lines = [f"Summary ({stamp}; {args.threads} threads, {args.rounds} interleaved rounds, "
           f"{(time.time() - started) / 60:.0f} min): JAX (this project) / PyTorch, median of "
           f"the per-round ratios (> 1: this project is faster; memory rows: < 1 is leaner)",
           "", "| benchmark | measurement | JAX / PyTorch |", "|---|---|---|"]
  lines += [f"| {title} | {k} | {v:.2f}x |" for title, k, v in rows]
  print("\n" + "\n".join(lines))
  if args.out:
    with open(args.out, "w") as f:
      f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
  main()
