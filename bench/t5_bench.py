"""T5 on this CPU: this project (JAX) vs Hugging Face transformers (PyTorch), side by side.

    python bench/t5_bench.py [--configs tiny,small] [--train-steps 10] [--repeats 3]

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

The JAX training step's FLOPs come from XLA's cost analysis; the table compares its achieved
FLOP/s with the peak of a large float32 matmul measured on this machine in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

SHAPES = {"tiny": dict(batch=32, inputs=128, targets=128),
          "small": dict(batch=8, inputs=128, targets=128)}
GEN_INPUT, GEN_NEW = 32, 64


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


def jax_child(name, steps, repeats, batches=(1, 16), top_k=0, skip_train=False):
  import jax
  import jax.numpy as jnp
  import numpy as np
  from motiongpt_jax.t5 import decoding
  from motiongpt_jax.t5.lm_task import T5Task
  from motiongpt_jax.train import trainer
  import ml_collections
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
  key = jax.random.PRNGKey(0)
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
  return {"train_seconds": train_seconds, "flops": flops, "gen": gen, "peak": peak}


def torch_child(name, steps, repeats, batches=(1, 16), top_k=0, skip_train=False):
  import numpy as np
  import torch
  import transformers
  torch.set_num_threads(os.cpu_count())
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
  return {"train_seconds": train_seconds, "gen": gen}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--configs", default="tiny,small")
  parser.add_argument("--train-steps", type=int, default=5)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--gen-batches", default="1,16,64,256")
  parser.add_argument("--top-k", type=int, default=0, help="0: greedy; k: top-k sampling")
  parser.add_argument("--skip-train", action="store_true", help="generation only")
  parser.add_argument("--child", choices=["jax", "torch"], help=argparse.SUPPRESS)
  parser.add_argument("--config", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    fn = jax_child if args.child == "jax" else torch_child
    batches = tuple(int(b) for b in args.gen_batches.split(","))
    result = fn(args.config, args.train_steps, args.repeats, batches, args.top_k,
                args.skip_train)
    print(json.dumps(result))
    return
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  env.pop("XLA_FLAGS", None)
  print(f"T5 on {os.cpu_count()} CPU cores, float32, dropout off; best of {args.repeats} "
        f"repeats; training {args.train_steps} steps per repeat")
  header = f"{'config':8}{'measurement':44}{'JAX (ours)':>14}{'PyTorch (HF)':>14}{'speed-up':>10}"
  print(header)
  print("-" * len(header))
  for name in args.configs.split(","):
    rows = {}
    for framework in ("jax", "torch"):
      out = subprocess.run([sys.executable, __file__, "--child", framework, "--config", name,
                            "--train-steps", str(args.train_steps), "--repeats",
                            str(args.repeats), "--gen-batches", args.gen_batches,
                            "--top-k", str(args.top_k)] + ["--skip-train"] * args.skip_train,
                           capture_output=True, text=True, env=env)
      if out.returncode:
        sys.exit(f"{framework} {name} failed:\n{out.stderr[-3000:]}")
      rows[framework] = json.loads(out.stdout.strip().splitlines()[-1])
    shape = SHAPES[name]
    tokens = shape["batch"] * (shape["inputs"] + shape["targets"])
    j, t = rows["jax"], rows["torch"]
    label = f"train tokens/s (batch {shape['batch']} x {shape['inputs']}+{shape['targets']})"
    if not args.skip_train:
      print(f"{name:8}{label:44}{tokens / j['train_seconds']:>14.0f}{tokens / t['train_seconds']:>14.0f}"
            f"{t['train_seconds'] / j['train_seconds']:>9.2f}x")
    how = f"top-k {args.top_k}" if args.top_k else "greedy"
    for b in args.gen_batches.split(","):
      label = f"generate {GEN_NEW}, {how}, batch {b}: ms/step"
      print(f"{name:8}{label:44}{1e3 * j['gen'][b] / GEN_NEW:>14.2f}"
            f"{1e3 * t['gen'][b] / GEN_NEW:>14.2f}{t['gen'][b] / j['gen'][b]:>9.2f}x")
    if args.skip_train:
      continue
    achieved = j["flops"] / j["train_seconds"]
    print(f"{name:8}{'JAX train step: GFLOP/s achieved / matmul peak':44}"
          f"{achieved / 1e9:>14.1f}{j['peak'] / 1e9:>14.1f}"
          f"{100 * achieved / j['peak']:>9.0f}%")


if __name__ == "__main__":
  main()
