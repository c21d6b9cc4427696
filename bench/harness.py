"""Shared by the benchmarks: interleaved runs of two frameworks, each in its own process.

``interleave`` runs A B A B ... for ``rounds`` rounds; every child is pinned to the same
``threads`` CPUs (``sched_setaffinity``, so XLA:CPU's thread pool and PyTorch's intra-op
pool see the same cores) and told the count (``OMP_NUM_THREADS``, ``--threads`` for
``torch.set_num_threads``), both with glibc's huge-page tunable (``launcher.py``). Children
print one JSON line last. ``spread`` summarises a list of
measurements as median and (max - min) / median, the figure the tables show next to every
median.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Callable, Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from motiongpt_jax import launcher  # noqa: E402


def cpus(threads: int) -> list[int]:
  available = sorted(os.sched_getaffinity(0))
  if threads > len(available):
    sys.exit(f"--threads {threads}: only {len(available)} CPUs available")
  return available[:threads]


def run_child(argv: Sequence[str], threads: int, env: dict | None = None,
              tuned: bool = True) -> dict:
  """Runs ``python argv...`` pinned to ``threads`` CPUs; returns its last stdout line as JSON.
  ``tuned``: with glibc's huge-page tunable, as the motiongpt command runs
  (motiongpt_jax/launcher.py); every framework gets the same."""
  env = dict(os.environ if env is None else env, OMP_NUM_THREADS=str(threads),
             TF_CPP_MIN_LOG_LEVEL="3")
  if tuned:
    env = launcher.tuned_environ(env)
  env.pop("XLA_FLAGS", None)
  chosen = cpus(threads)
  out = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env,
                       preexec_fn=lambda: os.sched_setaffinity(0, chosen))
  if out.returncode:
    sys.exit(f"{' '.join(argv)} failed:\n{out.stderr[-3000:]}")
  return json.loads(out.stdout.strip().splitlines()[-1])


def interleave(frameworks: Sequence[str], rounds: int,
               child_argv: Callable[[str], Sequence[str]], threads: int,
               log: Callable[[str], None] = print) -> dict[str, list[dict]]:
  """{framework: [result of round 1, round 2, ...]}, run A B A B ..."""
  results: dict[str, list[dict]] = {f: [] for f in frameworks}
  for r in range(rounds):
    for framework in frameworks:
      results[framework].append(run_child(child_argv(framework), threads))
      log(f"round {r + 1}/{rounds} {framework} done")
  return results


def best_block(step: Callable[[int], None], steps: int, block: int,
               sync: Callable[[], None] = lambda: None) -> float:
  """Seconds per call of ``step(i)`` for i in range(steps), timed in blocks of ``block``
  calls (``sync`` waits for the block's work to finish): the best block's. A block that
  met other load on a shared machine is slower, never faster, so the best one is the
  figure that repeats (timeit's rule)."""
  times = []
  for first in range(0, steps, block):
    last = min(first + block, steps)
    start = time.perf_counter()
    for i in range(first, last):
      step(i)
    sync()
    times.append((time.perf_counter() - start) / (last - first))
  return min(times)


def spread(values: Sequence[float]) -> tuple[float, float]:
  """(median, (max - min) / median) of the measurements."""
  values = [float(v) for v in values]
  median = statistics.median(values)
  return median, (max(values) - min(values)) / median if median else float("nan")


def cell(values: Sequence[float], digits: int = 2) -> str:
  median, width = spread(values)
  return f"{median:.{digits}f} ±{50 * width:.0f}%"
