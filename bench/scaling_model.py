"""Projected memory, mesh, throughput and training time of MotionGPT's T5 on TPU and GPU.

    python bench/scaling_model.py [--mfu 0.4] [--pretrain-steps 300000]
                                  [--instruct-steps 300000] [--batch 256]

Arithmetic, not measurement; every assumption is a flag or a constant below, and
docs/scaling.md explains them next to the measured numbers of bench/scaling_bench.py that
check the memory and communication rules.

- Parameters: counted from the model (``jax.eval_shape`` of our T5), vocabulary 32,128
  T5 ids + 515 motion ids rounded up to 32,768 rows.
- Training state per parameter: float32 weight 4 B + AdamW moments 8 B + gradient 4 B =
  16 B, divided by the size of the 'model' mesh axis (T5X's rules shard every large matrix
  along heads / mlp / vocab; ``scaling_bench`` measures exactly 1/model for the state).
- Activations (bf16, no rematerialisation): per layer and example, 34 * s * d bytes
  (Korthikanti et al. 2022) plus 5 * h * s^2 bytes of attention scores; the decoder's cross
  attention adds half a layer again. Sequences: ``--inputs`` and ``--targets`` ids.
- FLOPs per example: 6 * (encoder params * inputs + decoder params * targets) for forward
  and backward (embeddings excluded, the softmax matmul included in the decoder).
- Throughput = MFU x peak bf16 FLOP/s x chips / FLOPs per example.
- Mesh: the smallest 'model' axis (1, 2, 4, ...) for which state + activations fit in 80%
  of a device's memory at the per-device batch; the rest of the devices go to 'data'.
"""

from __future__ import annotations

import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

# Chip figures (vendor specifications): dense bf16 peak FLOP/s and memory per device. A TPU
# "v4-8" names TensorCores: 4 chips (v4 and v5p have 2 cores per chip, v5e one).
# ``link``: interconnect bytes/s per device one way (ICI: v4 2,400, v5e 1,600, v5p 4,800
# Gbit/s per chip; H100 NVLink 900 GB/s both ways).
HARDWARE = {
    "TPU v4-8": dict(devices=4, peak=275e12, memory=32 * 2**30, link=300e9),
    "TPU v5e-16": dict(devices=16, peak=197e12, memory=16 * 2**30, link=200e9),
    "TPU v5p-64": dict(devices=32, peak=459e12, memory=95 * 2**30, link=600e9),
    "1x H100": dict(devices=1, peak=989e12, memory=80 * 10**9, link=450e9),
    "8x H100": dict(devices=8, peak=989e12, memory=80 * 10**9, link=450e9),
}
MODELS = ("base", "large", "xl")
VOCAB_ROWS = 32768


def parameter_counts(preset: str) -> dict:
  """Total, encoder and decoder parameter counts (embeddings apart) of our T5."""
  import jax
  from motiongpt_jax.t5 import config as t5_config
  from motiongpt_jax.t5.network import abstract_params
  config = t5_config.get_preset(preset, vocab_size=VOCAB_ROWS)
  params = abstract_params(config)
  counts = {"total": 0, "encoder": 0, "decoder": 0, "embedding": 0}
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    n = 1
    for d in leaf.shape:
      n *= d
    name = "/".join(str(getattr(p, "key", p)) for p in path)
    counts["total"] += n
    if "token_embedder" in name or "logits_dense" in name:
      counts["embedding"] += n
    elif name.startswith("encoder"):
      counts["encoder"] += n
    else:
      counts["decoder"] += n
  return counts | {"config": config}


def activation_bytes(config, batch: int, inputs: int, targets: int) -> float:
  def layer(s):
    return 34 * s * config.emb_dim + 5 * config.num_heads * s * s
  encoder = config.num_encoder_layers * layer(inputs)
  decoder = 1.5 * config.num_decoder_layers * layer(targets)
  return batch * (encoder + decoder)


def project(args) -> list[dict]:
  rows = []
  for preset in MODELS:
    counts = parameter_counts(preset)
    config = counts["config"]
    flops = 6 * (counts["encoder"] * args.inputs + counts["decoder"] * args.targets
                 + counts["embedding"] / 2 * args.targets)  # the logits matmul
    for hardware, spec in HARDWARE.items():
      devices = spec["devices"]
      model = 1
      while True:
        data = max(devices // model, 1)
        per_device_batch = max(args.batch // data, 1)
        state = 16 * counts["total"] / model
        activations = activation_bytes(config, per_device_batch, args.inputs,
                                       args.targets) / model
        if state + activations <= 0.8 * spec["memory"] or model >= devices:
          break
        model *= 2
      fits = state + activations <= 0.8 * spec["memory"]
      examples_per_s = args.mfu * spec["peak"] * devices / flops
      tokens_per_s = examples_per_s * (args.inputs + args.targets)
      hours = lambda steps: steps * args.batch / examples_per_s / 3600  # noqa: E731
      compute_ms = 1000 * args.batch / examples_per_s
      # A ring all-reduce sends and receives about twice the gradient bytes (fp32) of a
      # device's shard; nothing to reduce on a single data replica.
      allreduce_ms = 0.0 if data == 1 else 1000 * 2 * 4 * counts["total"] / model / spec["link"]
      rows.append(dict(
          model=preset, params_m=counts["total"] / 1e6, hardware=hardware,
          mesh=f"{data} x {model}", state_gib=state / 2**30, act_gib=activations / 2**30,
          fits=fits, tokens_per_s=tokens_per_s, compute_ms=compute_ms,
          allreduce_ms=allreduce_ms,
          pretrain_h=hours(args.pretrain_steps), instruct_h=hours(args.instruct_steps)))
  return rows


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--mfu", type=float, default=0.4,
                      help="model FLOPs utilisation assumed (T5X reaches 0.4-0.5 on TPU)")
  parser.add_argument("--batch", type=int, default=256, help="global batch (examples)")
  parser.add_argument("--inputs", type=int, default=128, help="input ids per example")
  parser.add_argument("--targets", type=int, default=128, help="target ids per example")
  parser.add_argument("--pretrain-steps", type=int, default=300_000)
  parser.add_argument("--instruct-steps", type=int, default=300_000)
  args = parser.parse_args()
  print(f"assumptions: MFU {args.mfu}, global batch {args.batch}, {args.inputs} + "
        f"{args.targets} ids per example, {args.pretrain_steps} pre-training and "
        f"{args.instruct_steps} instruction steps, bf16 activations, fp32 AdamW state")
  print("| model | params | hardware | mesh (data x model) | state GiB/dev | activations "
        "GiB/dev | step compute ms | gradient all-reduce ms | tokens/s | pre-training h | "
        "instruction h |")
  print("|---|---|---|---|---|---|---|---|---|---|---|")
  for r in project(args):
    note = "" if r["fits"] else " (does not fit: needs rematerialisation)"
    print(f"| {r['model']} | {r['params_m']:.0f}M | {r['hardware']} | {r['mesh']}{note} | "
          f"{r['state_gib']:.2f} | {r['act_gib']:.2f} | {r['compute_ms']:.0f} | "
          f"{r['allreduce_ms']:.0f} | {r['tokens_per_s']:,.0f} | "
          f"{r['pretrain_h']:.1f} | {r['instruct_h']:.1f} |")


if __name__ == "__main__":
  main()
