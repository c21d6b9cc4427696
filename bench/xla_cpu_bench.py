"""Two XLA:CPU costs found by profiling the tiny T5 training step, measured side by side.

    python bench/xla_cpu_bench.py [--rounds 5] [--steps 10] [--config tiny]

1. Page faults. XLA:CPU allocates an executable's temporary arena afresh on every run (443 MiB
   for the tiny step, ``memory_analysis().temp_size_in_bytes``); glibc serves it with ``mmap``
   and every run faults it in again. The same step in processes with and without the glibc
   tunable ``glibc.malloc.hugetlb=1`` (``motiongpt_jax/launcher.py``), interleaved: ms/step and
   minor page faults per step (``getrusage``).
2. Batch-axis reductions. The gradient of a bias shared by every row ([1, h, q, k] added to
   [b, h, q, k] attention logits) is a sum over the batch axis; XLA:CPU's reduce of that axis
   against the same sum as a product with a vector of ones (``layers.add_batch_shared``).
3. bfloat16 formulations (``--bf16``): one matrix product and one convolution written four
   ways (float32; bfloat16 in and out; bfloat16 in, float32 accumulation and result through
   ``preferred_element_type``; the convolution as one GEMM over its stacked taps), median of
   repeated runs in one process, to see which formulation XLA:CPU gives the CPU's bfloat16
   units (AMX / AVX512-BF16, through YNNPACK).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def step_child(name: str, steps: int) -> dict:
  import jax
  import t5_bench
  _, state, step, batch, key = t5_bench.jax_training(name)
  temp = step.lower(state, batch, key).compile().memory_analysis().temp_size_in_bytes
  for _ in range(3):
    state, _ = step(state, batch, key)
  jax.block_until_ready(state)
  times, faults = [], []
  for _ in range(steps):
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    state, _ = step(state, batch, key)
    jax.block_until_ready(state)
    times.append(time.perf_counter() - t0)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
  return {"ms": 1e3 * statistics.median(times), "faults": statistics.median(faults),
          "temp_mib": temp / 2 ** 20}


def median_ms(fn, repeats: int, *args) -> float:
  """Median wall time in ms of ``jax.jit(fn)(*args)`` over ``repeats`` runs after one."""
  import jax
  fn = jax.jit(fn)
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
  return 1e3 * statistics.median(times)


def reduce_figures(repeats: int = 30) -> dict:
  import jax
  import jax.numpy as jnp
  import numpy as np
  g = jnp.asarray(np.random.default_rng(0).normal(size=(32, 4, 128, 128)).astype(np.float32))
  ways = {"reduce over the batch axis (jnp.sum(g, 0))": lambda g: jnp.sum(g, 0),
          "product with ones (lax.dot_general)": lambda g: jax.lax.dot_general(
              jnp.ones((g.shape[0],), g.dtype), g, (((0,), (0,)), ((), ())))}
  return {label: median_ms(fn, repeats, g) for label, fn in ways.items()}


def bf16_figures(repeats: int = 20) -> dict:
  import jax
  import jax.numpy as jnp
  import numpy as np
  rng = np.random.default_rng(0)

  def conv(x, k, out=None):  # 3-tap, dilation 3, as the VQ-VAE's residual blocks
    return jax.lax.conv_general_dilated(x, k, (1,), [(3, 3)], rhs_dilation=(3,),
                                        dimension_numbers=("NWC", "WIO", "NWC"),
                                        preferred_element_type=out)

  def conv_gemm(x, k, out=None):  # the same convolution as one GEMM over the stacked taps
    frames = x.shape[1]
    padded = jnp.pad(x, ((0, 0), (3, 3), (0, 0)))
    taps = jnp.concatenate([padded[:, 3 * i:3 * i + frames] for i in range(k.shape[0])], -1)
    return jnp.dot(taps, k.reshape(-1, k.shape[-1]), preferred_element_type=out)

  rows = {}
  for label, shapes, fn in (
      ("matmul 2048 x 2048 x 2048", [(2048, 2048), (2048, 2048)], None),
      ("matmul [4096, 512] x [512, 512]", [(4096, 512), (512, 512)], None),
      ("conv [64, 64, 128], kernel 3", [(64, 64, 128), (3, 128, 128)], conv),
      ("conv [256, 64, 512], kernel 3", [(256, 64, 512), (3, 512, 512)], conv)):
    a, b = (jnp.asarray(rng.normal(size=s) / 20, jnp.float32) for s in shapes)
    a16, b16 = a.astype(jnp.bfloat16), b.astype(jnp.bfloat16)
    if fn is None:
      ways = {"float32": (lambda a, b: a @ b, a, b),
              "bfloat16": (lambda a, b: a @ b, a16, b16),
              "bfloat16 -> float32": (
                  lambda a, b: jnp.dot(a, b, preferred_element_type=jnp.float32), a16, b16)}
    else:
      ways = {"float32": (fn, a, b), "bfloat16": (fn, a16, b16),
              "bfloat16 -> float32": (lambda a, b: fn(a, b, jnp.float32), a16, b16),
              "as GEMM, bfloat16 -> float32": (
                  lambda a, b: conv_gemm(a, b, jnp.float32), a16, b16)}
    rows[label] = {way: median_ms(f, repeats, x, y) for way, (f, x, y) in ways.items()}
  return rows


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--config", default="tiny")
  parser.add_argument("--steps", type=int, default=10)
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
  parser.add_argument("--bf16", action="store_true",
                      help="only the bfloat16 formulations (3.), --rounds processes")
  parser.add_argument("--child", choices=["step", "reduce", "bf16"], help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child == "bf16":
    print(json.dumps(bf16_figures()))
    return
  if args.bf16:
    runs = [harness.run_child([__file__, "--child", "bf16"], args.threads)
            for _ in range(args.rounds)]
    ways = ["float32", "bfloat16", "bfloat16 -> float32", "as GEMM, bfloat16 -> float32"]
    print(f"bfloat16 formulations, {args.threads} pinned threads, {args.rounds} processes "
          f"(each the median of 20 runs); ms, median ±half-range/median over the processes")
    print(f"{'operation':34}" + "".join(f"{w:>32}" for w in ways))
    for label in runs[0]:
      print(f"{label:34}" + "".join(
          f"{harness.cell([r[label][w] for r in runs]):>32}" if w in runs[0][label]
          else f"{'-':>32}" for w in ways))
    return
  if args.child == "step":
    print(json.dumps(step_child(args.config, args.steps)))
    return
  if args.child == "reduce":
    print(json.dumps(reduce_figures()))
    return
  env_plain = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES",
                                                                   "MOTIONGPT_MALLOC")}
  argv = [__file__, "--child", "step", "--config", args.config, "--steps", str(args.steps)]
  runs = {"4 KiB pages (glibc default)": [], "glibc.malloc.hugetlb=1": []}
  for _ in range(args.rounds):
    runs["4 KiB pages (glibc default)"].append(
        harness.run_child(argv, args.threads, env_plain, tuned=False))
    runs["glibc.malloc.hugetlb=1"].append(harness.run_child(argv, args.threads, env_plain))
  print(f"T5 :{args.config} training step, {args.threads} pinned threads, {args.rounds} "
        f"interleaved rounds of {args.steps} steps; median ±half-range/median over rounds; "
        f"temporary arena {runs['glibc.malloc.hugetlb=1'][0]['temp_mib']:.0f} MiB")
  print(f"{'allocation':32}{'ms/step':>16}{'page faults/step':>20}")
  for label, rows in runs.items():
    print(f"{label:32}{harness.cell([r['ms'] for r in rows], 1):>16}"
          f"{harness.cell([r['faults'] for r in rows], 0):>20}")
  base, tuned = ([r["ms"] for r in runs[k]] for k in runs)
  print(f"{'speed-up per round':32}{harness.cell([b / t for b, t in zip(base, tuned)]):>16}")
  figures = harness.run_child([__file__, "--child", "reduce"], args.threads)
  print(f"\nGradient of a batch-shared bias: sum of a [32, 4, 128, 128] cotangent over the "
        f"batch axis (median of 30, ms)")
  for label, ms in figures.items():
    print(f"{label:48}{ms:>10.3f}")


if __name__ == "__main__":
  main()
