"""How the T5 training step shards: 1, 2, 4 and 8 simulated devices, every data x model mesh.

    python bench/scaling_bench.py [--presets tiny,small] [--steps 3] [--batch 16]
                                  [--inputs 64] [--targets 64] [--json out.json]

For each preset and mesh the step is the trainer's (AdamW, logical-axis shardings of T5X's
rules) compiled with jit. Per mesh it reports:
- step time (median of ``--steps`` after a compiling step) on this CPU's simulated devices:
  the devices share 2 cores, so this shows overheads, not speed-ups;
- bytes per device of parameters and of optimizer state (from each leaf's shard shape);
- the collectives in the compiled HLO: how many all-reduce / all-gather / reduce-scatter /
  all-to-all / collective-permute ops, and the bytes they move per step per device (the
  size of each op's result; for an all-reduce that is the buffer being summed).
docs/scaling.md builds its TPU/GPU projections on these numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

COLLECTIVE = re.compile(r" (all-reduce|all-gather|reduce-scatter|all-to-all|"
                        r"collective-permute)(?:-start)?\(")
SHAPE = re.compile(r"([a-z]+[0-9]*)\[([0-9,]*)\]")
DTYPE_BYTES = {"f32": 4, "bf16": 2, "f16": 2, "s32": 4, "u32": 4, "pred": 1, "s8": 1, "u8": 1,
               "f64": 8, "s64": 8, "u64": 8}


def hlo_collectives(hlo: str) -> dict:
  """{op: [count, bytes]} of the collectives in an HLO module's text (bytes of each op's
  result shape, a tuple's elements summed)."""
  out: dict[str, list[int]] = {}
  for line in hlo.splitlines():
    match = COLLECTIVE.search(line)
    if not match or "=" not in line[:match.start()]:
      continue
    result = line[line.index("=") + 1:match.start()]
    size = 0
    for dtype, dims in SHAPE.findall(result):
      n = int(np.prod([int(d) for d in dims.split(",") if d])) if dims else 1
      size += n * DTYPE_BYTES.get(dtype, 4)
    entry = out.setdefault(match.group(1), [0, 0])
    entry[0] += 1
    entry[1] += size
  return out


def shard_bytes(tree, shardings) -> int:
  """Bytes one device holds of a tree of arrays (ShapeDtypeStructs) with these shardings."""
  total = 0
  for leaf, sharding in zip(jax.tree_util.tree_leaves(tree),
                            jax.tree_util.tree_leaves(shardings)):
    shape = sharding.shard_shape(leaf.shape)
    total += int(np.prod(shape)) * np.dtype(leaf.dtype).itemsize
  return total


def measure(preset: str, devices: int, model: int, args) -> dict:
  from motiongpt_jax import partitioning
  from motiongpt_jax.t5 import config as t5_config
  from motiongpt_jax.t5.lm_task import T5Task
  from motiongpt_jax.train import trainer

  config = t5_config.get_preset(preset, dropout_rate=0.0)
  rng = np.random.default_rng(0)
  batch = {
      "encoder_input_tokens": rng.integers(2, 1000, (args.batch, args.inputs), np.int32),
      "decoder_input_tokens": rng.integers(2, 1000, (args.batch, args.targets), np.int32),
      "decoder_target_tokens": rng.integers(2, 1000, (args.batch, args.targets), np.int32),
      "decoder_loss_weights": np.ones((args.batch, args.targets), np.float32)}
  task = T5Task(config, lambda step: batch)
  tc = ml_collections.ConfigDict(dict(
      learning_rate=1e-3, warmup_steps=10, steps=1000, final_lr_fraction=0.1, b1=0.9,
      b2=0.999, weight_decay=0.0, grad_clip=1.0))
  optimizer, _ = trainer.make_optimizer(tc)
  mesh = partitioning.make_mesh(model, jax.devices()[:devices])

  def init_state(key):
    params, extra = task.init(key)
    return trainer.TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params), extra)

  abstract = jax.eval_shape(init_state, jax.random.PRNGKey(0))
  shardings = trainer.make_state_shardings(task, optimizer, mesh, abstract)
  with jax.set_mesh(mesh), partitioning.axis_rules():
    state = jax.jit(init_state, out_shardings=shardings)(jax.random.PRNGKey(0))
    step = jax.jit(trainer.make_train_step(task, optimizer),
                   in_shardings=(shardings, partitioning.batch_sharding(mesh),
                                 partitioning.replicated(mesh)),
                   out_shardings=(shardings, partitioning.replicated(mesh)),
                   donate_argnums=(0,))
    global_batch = partitioning.shard_batch(mesh, batch)
    key = jax.random.PRNGKey(1)
    compiled = step.lower(state, global_batch, key).compile()
    collectives = hlo_collectives(compiled.as_text())
    state, metrics = step(state, global_batch, key)
    jax.block_until_ready(metrics)
    times = []
    for _ in range(args.steps):
      start = time.perf_counter()
      state, metrics = step(state, global_batch, key)
      jax.block_until_ready(metrics)
      times.append(time.perf_counter() - start)
  return {
      "preset": preset, "devices": devices, "data": devices // model, "model": model,
      "step_ms": 1000 * float(np.median(times)),
      "param_mb": shard_bytes(abstract.params, shardings.params) / 2**20,
      "opt_mb": shard_bytes(abstract.opt_state, shardings.opt_state) / 2**20,
      "collectives": {op: c for op, c in sorted(collectives.items())},
      "comm_mb": sum(c[1] for c in collectives.values()) / 2**20,
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--presets", default="tiny,small")
  parser.add_argument("--steps", type=int, default=3)
  parser.add_argument("--batch", type=int, default=16)
  parser.add_argument("--inputs", type=int, default=64)
  parser.add_argument("--targets", type=int, default=64)
  parser.add_argument("--devices", default="1,2,4,8")
  parser.add_argument("--json", help="also write the rows here")
  args = parser.parse_args()
  rows = []
  print(f"{'preset':7} {'devices':>7} {'mesh d x m':>10} {'step ms':>9} {'params MB/dev':>14} "
        f"{'opt MB/dev':>11} {'comm MB/step':>13}  collectives (count)")
  for preset in args.presets.split(","):
    for devices in [int(d) for d in args.devices.split(",")]:
      model = 1
      while model <= devices:
        from motiongpt_jax.partitioning import MeshError
        try:
          row = measure(preset, devices, model, args)
        except MeshError as e:  # e.g. 4 heads over an 8-way 'model' axis
          print(f"{preset:7} {devices:7d} {devices // model:>5d} x {model:<2d} "
                f"{'-':>9}  does not divide: {str(e).split(';')[0].split(': ')[-1]}")
          model *= 2
          continue
        rows.append(row)
        ops = ", ".join(f"{op} {c[0]}" for op, c in row["collectives"].items()) or "none"
        print(f"{preset:7} {devices:7d} {row['data']:>5d} x {row['model']:<2d} "
              f"{row['step_ms']:9.1f} {row['param_mb']:14.2f} {row['opt_mb']:11.2f} "
              f"{row['comm_mb']:13.2f}  {ops}", flush=True)
        model *= 2
  if args.json:
    with open(args.json, "w") as f:
      json.dump(rows, f, indent=1)


if __name__ == "__main__":
  main()
