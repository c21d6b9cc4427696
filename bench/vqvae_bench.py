"""VQ-VAE training throughput: this project (JAX) vs the same network in plain PyTorch.

    python bench/vqvae_bench.py [--variant tiny|base] [--steps 40] [--block 5] [--warmup 5]
                                [--rounds 5]

Both sides train the identical network (conv encoder/decoder, EMA codebook with dead-code
reset, smooth-L1 + velocity + commitment loss, AdamW with gradient clipping) on the same
random batches, one framework per subprocess so that each one's peak memory (max RSS) is its
own, interleaved A B A B ... for ``--rounds`` rounds on the same pinned CPUs
(``harness.py``). Each process times its steps in blocks of ``--block`` and keeps its best
block (as ``t5_bench.py`` keeps its best repeat), so a moment of load on a shared machine
does not land in one framework's figure. Prints steps/s and peak memory side by side,
medians with their spread, and the median of the per-round JAX/PyTorch ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def load(variant, dtype="float32"):
  from motiongpt_jax import config_utils
  return config_utils.load_config(f"configs/vqvae.py:{variant}", [f"model.dtype={dtype}"])


def run_jax(config, steps, block, warmup):
  import jax
  import numpy as np
  from motiongpt_jax.train import trainer
  from motiongpt_jax.vqvae.vq_task import VQVAETask
  rng = np.random.default_rng(0)
  motions = [rng.normal(size=(config.data.window, 263)).astype(np.float32) for _ in range(64)]
  task = VQVAETask(config, motions)
  optimizer, _ = trainer.make_optimizer(config.train)
  params, extra = task.init(jax.random.PRNGKey(0))
  state = trainer.TrainState(jax.numpy.zeros((), jax.numpy.int32), params,
                             optimizer.init(params), extra)
  step = jax.jit(trainer.make_train_step(task, optimizer), donate_argnums=(0,))
  batches = [jax.device_put(task.batch(i)) for i in range(4)]
  key = jax.random.PRNGKey(1)
  for i in range(warmup):
    state, metrics = step(state, batches[i % 4], key)
  jax.block_until_ready(state)

  def one(i):
    nonlocal state, metrics
    state, metrics = step(state, batches[i % 4], key)

  best = harness.best_block(one, steps, block, sync=lambda: jax.block_until_ready(state))
  return best, float(metrics["loss"])


def run_torch(config, steps, block, warmup):
  import numpy as np
  import torch
  import torch.nn.functional as F
  from motiongpt_jax.testing import torch_modules
  m = config.model

  net = torch_modules.VQVAE(263, m.width, m.code_dim, m.num_codes, m.down_t, m.depth,
                            m.dilation_growth)
  encoder, decoder = net.encoder, net.decoder
  params = list(encoder.parameters()) + list(decoder.parameters())
  opt = torch.optim.AdamW(params, lr=config.train.learning_rate,
                          betas=(config.train.b1, config.train.b2),
                          weight_decay=config.train.weight_decay)
  rng = np.random.default_rng(0)
  batches = [torch.from_numpy(rng.normal(size=(config.train.batch_size, config.data.window,
                                                263)).astype(np.float32)) for _ in range(4)]
  K = m.num_codes
  with torch.no_grad():
    z0 = encoder(batches[0].transpose(1, 2)).transpose(1, 2).reshape(-1, m.code_dim)
    codebook = z0[torch.randint(len(z0), (K,))].clone()
  code_sum, code_count = codebook.clone(), torch.ones(K)
  dims = slice(4, 67)

  autocast = m.dtype == "bfloat16"

  def train_step(x):
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
      return _train_step(x)

  def _train_step(x):
    nonlocal codebook, code_sum, code_count
    z = encoder(x.transpose(1, 2)).transpose(1, 2).float()
    flat = z.reshape(-1, m.code_dim)
    with torch.no_grad():
      dist = ((flat ** 2).sum(1, keepdim=True) - 2 * flat @ codebook.T
              + (codebook ** 2).sum(1)[None])
      codes = dist.argmin(1)
      z_q = codebook[codes].reshape(z.shape)
    z_st = z + (z_q - z).detach()
    recon = decoder(z_st.transpose(1, 2)).transpose(1, 2).float()
    loss = (F.smooth_l1_loss(recon, x) + 0.5 * F.smooth_l1_loss(recon[..., dims], x[..., dims])
            + 0.02 * F.mse_loss(z, z_q))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, config.train.grad_clip)
    opt.step()
    with torch.no_grad():
      onehot = F.one_hot(codes, K).float()
      d = m.ema_decay
      code_sum = d * code_sum + (1 - d) * onehot.T @ flat.detach()
      code_count = d * code_count + (1 - d) * onehot.sum(0)
      alive = (code_count >= 1.0)[:, None]
      rand = flat.detach()[torch.randint(len(flat), (K,))]
      codebook = torch.where(alive, code_sum / code_count[:, None], rand)
    return loss

  for i in range(warmup):
    train_step(batches[i % 4])
  losses = []
  best = harness.best_block(lambda i: losses.append(train_step(batches[i % 4])), steps, block)
  return best, float(losses[-1])


def child(framework, variant, steps, block, warmup, dtype, threads):
  if framework == "torch":
    import torch
    torch.set_num_threads(threads)
  config = load(variant, dtype)
  step_seconds, loss = (run_jax if framework == "jax" else run_torch)(config, steps, block,
                                                                    warmup)
  peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  print(json.dumps({"step_seconds": step_seconds, "loss": loss, "peak_mb": peak_mb}))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--variant", default="tiny")
  parser.add_argument("--steps", type=int, default=40)
  parser.add_argument("--block", type=int, default=5,
                      help="steps per timed block; each process reports its best block")
  parser.add_argument("--warmup", type=int, default=5)
  parser.add_argument("--rounds", type=int, default=5,
                      help="alternating rounds, one process per framework and round")
  parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
  parser.add_argument("--dtypes", default="float32,bfloat16",
                      help="activation dtypes to compare (bfloat16: torch.autocast on CPU)")
  parser.add_argument("--json", help="write the figures here")
  parser.add_argument("--child", choices=["jax", "torch"], help=argparse.SUPPRESS)
  parser.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    return child(args.child, args.variant, args.steps, args.block, args.warmup, args.dtype,
                 args.threads)
  config = load(args.variant)
  batch = config.train.batch_size
  print(f"VQ-VAE :{args.variant} training step (width {config.model.width}, codebook "
        f"{config.model.num_codes}x{config.model.code_dim}, batch {batch} x "
        f"{config.data.window} frames), {args.steps} timed steps in blocks of {args.block} (the "
        f"best block per process) after {args.warmup} warm-up, "
        f"{args.threads} pinned CPU threads each, {args.rounds} alternating rounds; parameters "
        f"float32 in every row; median ±half-range/median over the rounds")
  print(f"{'activations':12}{'metric':22}{'JAX (this project)':>20}{'PyTorch':>16}"
        f"{'JAX / PyTorch':>16}")
  summary = {}
  for dtype in args.dtypes.split(","):
    rows = harness.interleave(
        ("jax", "torch"), args.rounds,
        lambda f: [__file__, "--child", f, "--variant", args.variant, "--steps",
                   str(args.steps), "--block", str(args.block), "--warmup", str(args.warmup),
                   "--dtype", dtype,
                   "--threads", str(args.threads)], args.threads, log=lambda line: None)
    sps = {k: [1.0 / r["step_seconds"] for r in v] for k, v in rows.items()}
    mem = {k: [r["peak_mb"] for r in v] for k, v in rows.items()}
    for metric, j, t, digits in [("steps/s", sps["jax"], sps["torch"], 2),
                                 ("peak memory (RSS, MB)", mem["jax"], mem["torch"], 0)]:
      ratio = [a / b for a, b in zip(j, t)]
      print(f"{dtype:12}{metric:22}{harness.cell(j, digits):>20}{harness.cell(t, digits):>16}"
            f"{harness.cell(ratio):>15}x")
      summary[f"{args.variant} {dtype}: {metric}"] = harness.spread(ratio)[0]
    print(f"{dtype:12}{'loss after the run':22}{rows['jax'][-1]['loss']:>20.4f}"
          f"{rows['torch'][-1]['loss']:>16.4f}")
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"args": vars(args), "ratios": summary}, f, indent=1)


if __name__ == "__main__":
  main()
