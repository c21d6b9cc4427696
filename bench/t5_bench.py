"""T5 on this CPU: this project (JAX) vs Hugging Face transformers (PyTorch), side by side.

    python bench/t5_bench.py [--configs tiny,small] [--train-steps 5] [--repeats 3] [--rounds 5]

For each configuration (``motiongpt_jax.t5.config`` presets with their own vocabularies:
'tiny' has 1024 ids, 'small' is T5 v1.1 / Flan-T5 small, 77M parameters, 32128 ids) both
frameworks build the same architecture with dropout off and
measure, each in its own subprocess:

- a training step (forward, backward, AdamW update) on batch x (input 128, target 128) tokens;
  throughput counts input + target tokens per second;
- generation latency for 64 new tokens (EOS disabled so both produce exactly 64) from
  32-token inputs at ``--gen-batches`` (default 1, 16, 64, 256), greedy or ``--top-k 50``
  sampling at temperature 1 (ours: jitted KV-cache loop; theirs: ``generate``). Per-token
  figures show how a decoding step's cost grows with the batch. ``--skip-train`` measures
  generation only.

The two frameworks run interleaved (``harness.py``: A B A B ... for ``--rounds`` rounds, each
child pinned to the same CPUs with the same thread count); every figure is the median over
the rounds with its spread, and each speed-up is the median of the per-round ratios. The
JAX training step's FLOPs come from XLA's cost analysis; the roof is a 2048^3 float32 matmul
measured in every child of both frameworks (the better of the two per round). Generation at
batch 1 reads every decoder weight once per token, so it is set against a memory roof
measured the same way (a sum over 256 MiB of float32): the decoder's bytes x tokens/s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SHAPES = {"tiny": dict(batch=32, inputs=128, targets=128),
          "small": dict(batch=8, inputs=128, targets=128)}
GEN_INPUT, GEN_NEW = 32, 64
ROOF_FLOATS = 2 ** 26  # the memory roof: a sum over 256 MiB of float32, far beyond the caches


def config(name):
  from motiongpt_jax.t5 import config as t5_config
  return t5_config.get_preset(name, dropout_rate=0.0)


def batch_arrays(cfg, shape, seed=0):
  import numpy as np
  rng = np.random.default_rng(seed)
  b = shape["batch"]
  enc = rng.integers(2, cfg.vocab_size, (b, shape["inputs"]))
  tgt = rng.integers(2, cfg.vocab_size, (b, shape["targets"]))
  dec = np.concatenate([np.zeros((b, 1), tgt.dtype), tgt[:, :-1]], axis=1)
  return enc, dec, tgt


def timed(fn, repeats):
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - start)
  return best


def jax_training(name):
  """(task, state, jitted step, batch, key) of the JAX training step for preset ``name``."""
  import jax
  import jax.numpy as jnp
  import ml_collections
  from motiongpt_jax.t5.lm_task import T5Task
  from motiongpt_jax.train import trainer
  cfg, shape = config(name), SHAPES[name]
  enc, dec, tgt = batch_arrays(cfg, shape)
  batch = {"encoder_input_tokens": jnp.asarray(enc, jnp.int32),
           "decoder_input_tokens": jnp.asarray(dec, jnp.int32),
           "decoder_target_tokens": jnp.asarray(tgt, jnp.int32)}
  task = T5Task(cfg, lambda step: batch, z_loss=0.0)
  tc = ml_collections.ConfigDict(dict(learning_rate=1e-4, warmup_steps=1, steps=1000,
                                      final_lr_fraction=1.0, grad_clip=0.0, b1=0.9, b2=0.999,
                                      weight_decay=0.0))
  optimizer, _ = trainer.make_optimizer(tc)
  params, extra = task.init(jax.random.PRNGKey(0))
  state = trainer.TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params), extra)
  step = jax.jit(trainer.make_train_step(task, optimizer), donate_argnums=(0,))
  return task, state, step, batch, jax.random.PRNGKey(0)


def jax_child(name, steps, repeats, batches=(1, 16), top_k=0, skip_train=False):
  import jax
  import jax.numpy as jnp
  import numpy as np
  from motiongpt_jax.t5 import decoding
  cfg = config(name)
  task, state, step, batch, key = jax_training(name)
  flops = None if skip_train else step.lower(state, batch, key).compile().cost_analysis()["flops"]
  if not skip_train:
    state, _ = step(state, batch, key)
  jax.block_until_ready(state)
  holder = [state]

  def run_train():
    s = holder[0]
    for _ in range(steps):
      s, m = step(s, batch, key)
    jax.block_until_ready(s)
    holder[0] = s

  train_seconds = None if skip_train else timed(run_train, repeats) / steps
  params = holder[0].params
  gen = {}
  for b in batches:
    inputs = jnp.asarray(np.random.default_rng(1).integers(2, cfg.vocab_size, (b, GEN_INPUT)),
                         jnp.int32)

    def run_gen():
      tokens, _ = decoding.sample(task.model, params, inputs, key, max_decode_length=GEN_NEW,
                                  temperature=1.0 if top_k else 0.0, top_k=top_k, eos_id=-1)
      jax.block_until_ready(tokens)

    run_gen()  # compile
    gen[b] = timed(run_gen, repeats)
  # The machine's float32 matmul peak, measured now.
  a = jnp.ones((2048, 2048), jnp.float32)
  mm = jax.jit(lambda a: a @ a)
  jax.block_until_ready(mm(a))
  peak = 2 * 2048 ** 3 / timed(lambda: jax.block_until_ready(mm(a)), 10)
  big = jnp.ones((ROOF_FLOATS,), jnp.float32)
  total = jax.jit(jnp.sum)
  jax.block_until_ready(total(big))
  bandwidth = 4 * ROOF_FLOATS / timed(lambda: jax.block_until_ready(total(big)), 10)
  # What one decoding step reads at batch 1: every decoder weight, the logits' included (the
  # shared embedding table when the logits use it); the token embedding is one row.
  decoder = params["decoder"]
  decoder_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree_util.tree_leaves(decoder))
  if cfg.logits_via_embedding:
    decoder_bytes += params["token_embedder"]["embedding"].nbytes
  return {"train_seconds": train_seconds, "flops": flops, "gen": gen, "peak": peak,
          "bandwidth": bandwidth, "decoder_bytes": int(decoder_bytes)}


def torch_child(name, steps, repeats, batches=(1, 16), top_k=0, skip_train=False):
  import numpy as np
  import torch
  import transformers
  cfg, shape = config(name), SHAPES[name]
  hf_config = transformers.T5Config(
      vocab_size=cfg.vocab_size, d_model=cfg.emb_dim, d_kv=cfg.head_dim, d_ff=cfg.mlp_dim,
      num_layers=cfg.num_encoder_layers, num_decoder_layers=cfg.num_decoder_layers,
      num_heads=cfg.num_heads, feed_forward_proj="gated-gelu" if cfg.gated else "relu",
      tie_word_embeddings=cfg.logits_via_embedding, dropout_rate=0.0,
      decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
  torch.manual_seed(0)
  model = transformers.T5ForConditionalGeneration(hf_config)
  enc, dec, tgt = (torch.from_numpy(x) for x in batch_arrays(cfg, shape))
  opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0)
  model.train()

  def one_step():
    out = model(input_ids=enc, attention_mask=enc > 0, decoder_input_ids=dec, labels=tgt)
    opt.zero_grad(set_to_none=True)
    out.loss.backward()
    opt.step()

  def run_train():
    for _ in range(steps):
      one_step()

  train_seconds = None
  if not skip_train:
    one_step()
    train_seconds = timed(run_train, repeats) / steps
  model.eval()
  gen = {}
  for b in batches:
    inputs = torch.from_numpy(np.random.default_rng(1).integers(2, cfg.vocab_size,
                                                                 (b, GEN_INPUT)))

    def run_gen():
      with torch.no_grad():
        model.generate(input_ids=inputs, attention_mask=inputs > 0, max_new_tokens=GEN_NEW,
                       min_new_tokens=GEN_NEW, do_sample=bool(top_k), top_k=top_k or None,
                       temperature=1.0, num_beams=1)

    run_gen()
    gen[b] = timed(run_gen, repeats)
  a = torch.ones(2048, 2048)
  a @ a
  peak = 2 * 2048 ** 3 / timed(lambda: a @ a, 10)
  big = torch.ones(ROOF_FLOATS)
  bandwidth = 4 * ROOF_FLOATS / timed(lambda: big.sum(), 10)
  return {"train_seconds": train_seconds, "gen": gen, "peak": peak, "bandwidth": bandwidth}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--configs", default="tiny,small")
  parser.add_argument("--train-steps", type=int, default=5)
  parser.add_argument("--repeats", type=int, default=3, help="best of these in each process")
  parser.add_argument("--rounds", type=int, default=5,
                      help="alternating rounds, one process per framework and round")
  parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
  parser.add_argument("--gen-batches", default="1,16,64,256")
  parser.add_argument("--top-k", type=int, default=0, help="0: greedy; k: top-k sampling")
  parser.add_argument("--skip-train", action="store_true", help="generation only")
  parser.add_argument("--json", help="write the figures here")
  parser.add_argument("--child", choices=["jax", "torch"], help=argparse.SUPPRESS)
  parser.add_argument("--config", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    if args.child == "torch":
      import torch
      torch.set_num_threads(args.threads)
    fn = jax_child if args.child == "jax" else torch_child
    batches = tuple(int(b) for b in args.gen_batches.split(","))
    result = fn(args.config, args.train_steps, args.repeats, batches, args.top_k,
                args.skip_train)
    print(json.dumps(result))
    return
  print(f"T5 on {args.threads} pinned CPU threads each, float32, dropout off; {args.rounds} "
        f"alternating rounds, best of {args.repeats} repeats in each; training "
        f"{args.train_steps} steps per repeat; median ±half-range/median over the rounds")
  header = (f"{'config':8}{'measurement':44}{'JAX (ours)':>16}{'PyTorch (HF)':>16}"
            f"{'speed-up':>16}")
  print(header)
  print("-" * len(header))
  summary = {}
  for name in args.configs.split(","):
    results = harness.interleave(
        ("jax", "torch"), args.rounds,
        lambda f: [__file__, "--child", f, "--config", name, "--train-steps",
                   str(args.train_steps), "--repeats", str(args.repeats), "--gen-batches",
                   args.gen_batches, "--top-k", str(args.top_k), "--threads",
                   str(args.threads)] + ["--skip-train"] * args.skip_train,
        args.threads, log=lambda line: None)
    j, t = results["jax"], results["torch"]

    def row(label, ours, theirs, digits=0):
      ratio = [a / b for a, b in zip(ours, theirs)]
      print(f"{name:8}{label:44}{harness.cell(ours, digits):>16}"
            f"{harness.cell(theirs, digits):>16}{harness.cell(ratio):>15}x")
      summary[f"{name}: {label}"] = harness.spread(ratio)[0]

    shape = SHAPES[name]
    tokens = shape["batch"] * (shape["inputs"] + shape["targets"])
    if not args.skip_train:
      row(f"train tokens/s (batch {shape['batch']} x {shape['inputs']}+{shape['targets']})",
          [tokens / r["train_seconds"] for r in j], [tokens / r["train_seconds"] for r in t])
    how = f"top-k {args.top_k}" if args.top_k else "greedy"
    for b in args.gen_batches.split(","):
      row(f"generate {GEN_NEW}, {how}, batch {b}: tokens/s",
          [int(b) * GEN_NEW / r["gen"][b] for r in j],
          [int(b) * GEN_NEW / r["gen"][b] for r in t])
    print(f"{name:8}{'matmul roof 2048^3 f32, GFLOP/s':44}"
          f"{harness.cell([r['peak'] / 1e9 for r in j], 1):>16}"
          f"{harness.cell([r['peak'] / 1e9 for r in t], 1):>16}")
    print(f"{name:8}{'memory roof: sum of 256 MiB f32, GB/s':44}"
          f"{harness.cell([r['bandwidth'] / 1e9 for r in j], 1):>16}"
          f"{harness.cell([r['bandwidth'] / 1e9 for r in t], 1):>16}")
    if "1" in args.gen_batches.split(","):
      # Batch 1 reads every decoder weight once per token: the bandwidth that takes.
      read = [r["decoder_bytes"] * GEN_NEW / r["gen"]["1"] / 1e9 for r in j]
      roof = [max(a["bandwidth"], b["bandwidth"]) / 1e9 for a, b in zip(j, t)]
      print(f"{name:8}{'JAX batch 1: decoder weights read, GB/s, %':44}"
            f"{harness.cell(read, 1):>16}"
            f"{harness.cell([100 * a / r for a, r in zip(read, roof)], 0):>16}"
            f"  ({j[0]['decoder_bytes'] / 2 ** 20:.0f} MiB per token)")
    if not args.skip_train:
      achieved = [r["flops"] / r["train_seconds"] / 1e9 for r in j]
      roof = [max(a["peak"], b["peak"]) / 1e9 for a, b in zip(j, t)]
      print(f"{name:8}{'JAX train step GFLOP/s, % of the roof':44}"
            f"{harness.cell(achieved, 1):>16}"
            f"{harness.cell([100 * a / r for a, r in zip(achieved, roof)], 0):>16}")
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"args": vars(args), "ratios": summary}, f, indent=1)


if __name__ == "__main__":
  main()
