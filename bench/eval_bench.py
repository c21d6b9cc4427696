"""One replication of the text-to-motion protocol: this project (JAX) vs a PyTorch pipeline.

    python bench/eval_bench.py [--motions 256] [--tokens 49] [--rounds 5] [--reps 2] [--threads 2]

A replication samples one motion per test caption (top-k 50, temperature 1), decodes the codes
through the VQ-VAE, embeds the motions (and the captions) with the Guo et al. evaluator and
computes R-precision, FID, MM-Dist and diversity. Both sides run the demo's tiny shapes
(``t5_instruct.py:tiny``'s T5 with the demo vocabulary, ``vqvae.py:tiny``, ``evaluator.py:tiny``)
with random weights, and generate exactly ``--tokens`` motion tokens per caption (EOS is never
chosen), so both do the same work:

- JAX: ``t5.decoding.sample`` in batches of 64, ``MotionTokenizer.decode_many``,
  ``Evaluator.embed_motions`` / the text encoder, ``evaluation.metrics``.
- PyTorch: ``transformers``' ``generate(do_sample=True, top_k=50)`` in batches of 64 on the same
  T5, the same VQ decoder in ``torch.nn`` called once per motion (as MotionGPT's evaluation
  loop does), the reference evaluator modules (packed BiGRU, motions zero-padded to 196
  frames), and the same metric functions.

Each framework runs in its own process, pinned to the same CPUs with the same thread count
(``harness.py``), alternating for ``--rounds`` rounds of ``--reps`` timed replications after
a warm-up one; the table shows the median of every figure with its spread. The speed-up
pairs the frameworks round by round, each by its best replication of the round (a replication
that met other load on a shared machine is slower, never faster).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TEXT_VOCAB = 1000 + 100  # the demo's SentencePiece size plus T5's sentinels
MOTION_CODES = 512
PROMPT_LENGTH = 32
BATCH = 64
MAX_FRAMES = 196


def shapes():
  from motiongpt_jax import config_utils
  from motiongpt_jax.t5 import config as t5_config
  lm = config_utils.load_config("configs/t5_instruct.py:tiny")
  vq = config_utils.load_config("configs/vqvae.py:tiny")
  ev = config_utils.load_config("configs/evaluator.py:tiny")
  vocab = TEXT_VOCAB + MOTION_CODES + 3
  t5 = t5_config.get_preset(lm.model.preset, vocab_size=-(-vocab // 128) * 128)
  return t5, vq, ev


def inputs(n, seed=0):
  import numpy as np
  rng = np.random.default_rng(seed)
  prompts = rng.integers(2, TEXT_VOCAB, (n, PROMPT_LENGTH)).astype(np.int32)
  prompts[:, -1] = 1  # EOS-terminated prompts
  words = rng.integers(3, 40, (n, 12)).astype(np.int32)  # caption word ids (learnt vectors)
  real = rng.normal(size=(n, 64)).astype(np.float32)  # stand-in real motion embeddings
  return prompts, words, real


def metrics(text_emb, motion_emb, real_emb):
  import numpy as np
  from motiongpt_jax.evaluation import metrics as M
  top, matching = M.r_precision(text_emb, motion_emb)
  real = np.resize(real_emb, motion_emb.shape)
  return {"R@3": top[2], "FID": M.fid(real, motion_emb), "MM-Dist": matching,
          "Diversity": M.diversity(motion_emb, min(300, len(motion_emb) - 1),
                                   np.random.default_rng(0))}


def run_jax(n, tokens, reps):
  import jax
  import jax.numpy as jnp
  import numpy as np
  import flax.linen as nn
  from motiongpt_jax.evaluation import evaluator as E
  from motiongpt_jax.evaluation import words as W
  from motiongpt_jax.t5 import decoding
  from motiongpt_jax.t5.network import Transformer, init_variables
  from motiongpt_jax.vqvae import model as vq_model
  from motiongpt_jax.vqvae.tokenizer import MotionTokenizer

  t5, vq, ev = shapes()
  prompts, words, real = inputs(n)
  model = Transformer(t5.replace(dropout_rate=0.0))
  params = nn.unbox(init_variables(model, jax.random.PRNGKey(0))["params"])
  offset = TEXT_VOCAB
  allowed = np.zeros(t5.vocab_size, bool)
  allowed[offset:offset + MOTION_CODES] = True  # motion codes only, no EOS: fixed length
  mask = decoding.allow_only(allowed)
  vq_net = vq_model.build_model(vq.model, 263)
  vq_params = vq_net.init(jax.random.PRNGKey(1), jnp.zeros((1, 16, 263)))["params"]
  tokenizer = MotionTokenizer(vq_net, vq_params,
                              jax.random.normal(jax.random.PRNGKey(2), (MOTION_CODES,
                                                                        vq.model.code_dim)))
  config = E.EvaluatorConfig(**{k: ev.model[k] for k in (
      "word_size", "text_hidden", "motion_hidden", "movement_hidden", "movement_latent",
      "embedding")}, vocab_size=40)
  module = E.TextMotionEvaluator(config)
  ev_params = module.init(jax.random.PRNGKey(3), jnp.zeros((1, 12), jnp.int32),
                          jnp.zeros((1, 12, len(W.POS))), jnp.ones((1,), jnp.int32),
                          jnp.zeros((1, 64, 263)), jnp.full((1,), 64, jnp.int32))["params"]
  vocab = W.WordVocabulary(["unk", "sos", "eos"] + [f"w{i}" for i in range(37)], None, True)
  evaluator = E.Evaluator(config, ev_params, vocab, None, np.zeros(263, np.float32),
                          np.ones(263, np.float32), MAX_FRAMES)

  def replication(seed):
    times = {}
    start = time.perf_counter()
    codes = []
    for b in range(0, n, BATCH):
      out, _ = decoding.sample(model, params, jnp.asarray(prompts[b:b + BATCH]),
                               jax.random.PRNGKey(seed * 1000 + b), max_decode_length=tokens,
                               temperature=1.0, top_k=50, eos_id=1, logits_mask_fn=mask)
      codes.extend(np.asarray(out) - offset)
    times["generate"] = time.perf_counter() - start
    start = time.perf_counter()
    motions = tokenizer.decode_many(codes)
    times["VQ decode"] = time.perf_counter() - start
    start = time.perf_counter()
    motion_emb = evaluator.embed_motions(motions)
    pos = np.zeros((n, 12, len(W.POS)), np.float32)
    text_emb = np.concatenate([np.asarray(evaluator._text(
        ev_params, words[b:b + BATCH], pos[b:b + BATCH], np.full(len(words[b:b + BATCH]), 12)))
        for b in range(0, n, BATCH)])
    times["evaluator"] = time.perf_counter() - start
    start = time.perf_counter()
    figures = metrics(text_emb, motion_emb, np.resize(real, motion_emb.shape))
    times["metrics"] = time.perf_counter() - start
    return times, figures

  replication(0)  # compiles
  return [replication(1 + r) for r in range(reps)]


def run_torch(n, tokens, reps):
  import numpy as np
  import torch
  import torch.nn as nn
  import transformers
  from motiongpt_jax.testing import torch_modules

  t5, vq, ev = shapes()
  prompts, words, real = inputs(n)
  torch.manual_seed(0)
  hf = transformers.T5Config(
      vocab_size=t5.vocab_size, d_model=t5.emb_dim, d_kv=t5.head_dim, d_ff=t5.mlp_dim,
      num_layers=t5.num_encoder_layers, num_decoder_layers=t5.num_decoder_layers,
      num_heads=t5.num_heads, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
      dropout_rate=0.0, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
  lm = transformers.T5ForConditionalGeneration(hf).eval()
  offset = TEXT_VOCAB
  allowed = torch.zeros(t5.vocab_size, dtype=torch.bool)
  allowed[offset:offset + MOTION_CODES] = True

  class MotionOnly(transformers.LogitsProcessor):
    def __call__(self, input_ids, scores):
      return scores.masked_fill(~allowed, -float("inf"))

  m, e = vq.model, ev.model
  vq_net = torch_modules.VQVAE(263, m.width, m.code_dim, MOTION_CODES, m.down_t, m.depth,
                               m.dilation_growth).eval()
  movement = torch_modules.Movement(259, e.movement_hidden, e.movement_latent).eval()
  motion_encoder = torch_modules.Sequence(e.movement_latent, e.motion_hidden,
                                          e.embedding).eval()
  word_vectors = nn.Embedding(40, e.word_size)
  text_encoder = torch_modules.Sequence(e.word_size, e.text_hidden, e.embedding).eval()
  processors = transformers.LogitsProcessorList([MotionOnly()])

  @torch.no_grad()
  def replication(seed):
    torch.manual_seed(seed)
    times = {}
    start = time.perf_counter()
    codes = []
    for b in range(0, n, BATCH):
      ids = torch.from_numpy(prompts[b:b + BATCH]).long()
      out = lm.generate(input_ids=ids, attention_mask=ids > 0, do_sample=True, top_k=50,
                        temperature=1.0, max_new_tokens=tokens, min_new_tokens=tokens,
                        logits_processor=processors)
      codes.extend((out[:, 1:] - offset).numpy())
    times["generate"] = time.perf_counter() - start
    start = time.perf_counter()
    motions = [vq_net.decode(torch.from_numpy(c)) for c in codes]
    times["VQ decode"] = time.perf_counter() - start
    start = time.perf_counter()
    embeddings = []
    for b in range(0, n, BATCH):
      chunk = motions[b:b + BATCH]
      x = torch.zeros(len(chunk), MAX_FRAMES, 263)
      lengths = []
      for i, mo in enumerate(chunk):
        k = min(len(mo), MAX_FRAMES) // 4 * 4
        x[i, :k] = mo[:k]
        lengths.append(k // 4)
      embeddings.append(motion_encoder(movement(x[..., :-4]), torch.tensor(lengths)))
    motion_emb = torch.cat(embeddings).numpy()
    text_emb = torch.cat([text_encoder(word_vectors(torch.from_numpy(words[b:b + BATCH]).long()),
                                       torch.full((len(words[b:b + BATCH]),), 12))
                          for b in range(0, n, BATCH)]).numpy()
    times["evaluator"] = time.perf_counter() - start
    start = time.perf_counter()
    figures = metrics(text_emb, motion_emb, np.resize(real, motion_emb.shape))
    times["metrics"] = time.perf_counter() - start
    return times, figures

  replication(0)  # warm-up, as the JAX side's compile run
  return [replication(1 + r) for r in range(reps)]


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--motions", type=int, default=256)
  parser.add_argument("--tokens", type=int, default=49, help="motion tokens per sample "
                      "(49 x 4 = 196 frames, the longest HumanML3D motion)")
  parser.add_argument("--rounds", type=int, default=5,
                      help="alternating rounds (one process per framework and round)")
  parser.add_argument("--reps", type=int, default=2, help="timed replications per process")
  parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
  parser.add_argument("--json", help="write the figures here")
  parser.add_argument("--child", choices=["jax", "torch"], help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    if args.child == "torch":
      import torch
      torch.set_num_threads(args.threads)
    run = run_jax if args.child == "jax" else run_torch
    print(json.dumps(run(args.motions, args.tokens, args.reps)))
    return
  results = harness.interleave(
      ("jax", "torch"), args.rounds,
      lambda f: [__file__, "--child", f, "--motions", str(args.motions), "--tokens",
                 str(args.tokens), "--threads", str(args.threads), "--reps", str(args.reps)],
      args.threads)
  # every timed replication of every round: {framework: {stage: [seconds, ...]}}
  stages = {f: {} for f in results}
  for f, rounds in results.items():
    for reps in rounds:
      for times, _ in reps:
        for stage, t in times.items():
          stages[f].setdefault(stage, []).append(t)
        stages[f].setdefault("replication", []).append(sum(times.values()))
  rate = {f: [args.motions / t for t in stages[f]["replication"]] for f in stages}
  # paired per round: the best replication of each framework in the same round
  ratios = [max(args.motions / sum(t.values()) for t, _ in j) /
            max(args.motions / sum(t.values()) for t, _ in p)
            for j, p in zip(results["jax"], results["torch"])]
  print(f"\nOne text-to-motion replication: {args.motions} motions x {args.tokens} tokens "
        f"({4 * args.tokens} frames), top-k 50, demo shapes; {args.threads} threads each "
        f"(pinned to the same CPUs); {args.rounds} alternating rounds x {args.reps} timed "
        f"replications per process; median ±half-range/median")
  print(f"{'stage (s)':24}{'JAX (this project)':>20}{'PyTorch':>16}{'PyTorch / JAX':>15}")
  for stage in stages["jax"]:
    j, t = stages["jax"][stage], stages["torch"][stage]
    print(f"{stage:24}{harness.cell(j):>20}{harness.cell(t):>16}"
          f"{statistics.median(t) / statistics.median(j):>14.1f}x")
  print(f"{'motions/s':24}{harness.cell(rate['jax'], 1):>20}{harness.cell(rate['torch'], 1):>16}"
        f"{statistics.median(rate['jax']) / statistics.median(rate['torch']):>14.2f}x "
        f"(JAX / PyTorch)")
  print(f"{'ratio per round':24}{harness.cell(ratios):>20}  ({', '.join(f'{r:.2f}' for r in ratios)})")
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"args": vars(args), "stages": stages, "motions_per_s": rate,
                 "ratio_per_round": ratios}, f, indent=1)


if __name__ == "__main__":
  main()
