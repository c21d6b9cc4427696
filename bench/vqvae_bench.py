"""VQ-VAE training throughput: this project (JAX) vs the same network in plain PyTorch.

    python bench/vqvae_bench.py [--variant tiny|base] [--steps 40] [--warmup 5]

Both sides train the identical network (conv encoder/decoder, EMA codebook with dead-code
reset, smooth-L1 + velocity + commitment loss, AdamW with gradient clipping) on the same
random batches, one framework per subprocess so that each one's peak memory (max RSS) is its
own. Prints steps/s, samples/s and peak memory side by side with the JAX/PyTorch ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def load(variant, dtype="float32"):
  from motiongpt_jax import config_utils
  return config_utils.load_config(f"configs/vqvae.py:{variant}", [f"model.dtype={dtype}"])


def run_jax(config, steps, warmup):
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
  start = time.perf_counter()
  for i in range(steps):
    state, metrics = step(state, batches[i % 4], key)
  jax.block_until_ready(state)
  return time.perf_counter() - start, float(metrics["loss"])


def run_torch(config, steps, warmup):
  import numpy as np
  import torch
  import torch.nn.functional as F
  from motiongpt_jax.testing import torch_modules
  torch.set_num_threads(os.cpu_count())
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
  start = time.perf_counter()
  for i in range(steps):
    loss = train_step(batches[i % 4])
  return time.perf_counter() - start, float(loss)


def child(framework, variant, steps, warmup, dtype):
  config = load(variant, dtype)
  seconds, loss = (run_jax if framework == "jax" else run_torch)(config, steps, warmup)
  peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  print(json.dumps({"seconds": seconds, "loss": loss, "peak_mb": peak_mb}))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--variant", default="tiny")
  parser.add_argument("--steps", type=int, default=40)
  parser.add_argument("--warmup", type=int, default=5)
  parser.add_argument("--dtypes", default="float32,bfloat16",
                      help="activation dtypes to compare (bfloat16: torch.autocast on CPU)")
  parser.add_argument("--child", choices=["jax", "torch"], help=argparse.SUPPRESS)
  parser.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    return child(args.child, args.variant, args.steps, args.warmup, args.dtype)
  config = load(args.variant)
  batch = config.train.batch_size
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  env.pop("XLA_FLAGS", None)
  print(f"VQ-VAE :{args.variant} training step (width {config.model.width}, codebook "
        f"{config.model.num_codes}x{config.model.code_dim}, batch {batch} x "
        f"{config.data.window} frames), {args.steps} timed steps after {args.warmup} warm-up, "
        f"{os.cpu_count()} CPU cores; parameters float32 in every row")
  print(f"{'activations':12}{'metric':22}{'JAX (this project)':>20}{'PyTorch':>12}"
        f"{'JAX / PyTorch':>15}")
  for dtype in args.dtypes.split(","):
    rows = {}
    for framework in ("jax", "torch"):
      out = subprocess.run([sys.executable, __file__, "--child", framework, "--variant",
                            args.variant, "--steps", str(args.steps), "--warmup",
                            str(args.warmup), "--dtype", dtype],
                           capture_output=True, text=True, env=env)
      if out.returncode:
        sys.exit(f"{framework} {dtype} run failed:\n{out.stderr[-3000:]}")
      rows[framework] = json.loads(out.stdout.strip().splitlines()[-1])
    sps = {k: args.steps / v["seconds"] for k, v in rows.items()}
    mem = {k: v["peak_mb"] for k, v in rows.items()}
    for metric, j, t, fmt in [("steps/s", sps["jax"], sps["torch"], ".2f"),
                              ("samples/s", sps["jax"] * batch, sps["torch"] * batch, ".0f"),
                              ("peak memory (RSS, MB)", mem["jax"], mem["torch"], ".0f")]:
      print(f"{dtype:12}{metric:22}{j:>20{fmt}}{t:>12{fmt}}{j / t:>14.2f}x")
    print(f"{dtype:12}{'loss after the run':22}{rows['jax']['loss']:>20.4f}"
          f"{rows['torch']['loss']:>12.4f}")


if __name__ == "__main__":
  main()
