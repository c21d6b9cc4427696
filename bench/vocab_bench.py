"""Encode throughput of the motion-text vocabulary on a realistic instruction example.

    python bench/vocab_bench.py [--data DIR] [--n 2000]

The example is an instruction-tuning pair as the SeqIO tasks make them: a prompt with a
quoted caption, and a target of 50 motion tokens between the start and end tokens (2.5 s of
motion). Prints examples/s for the Python path (``encode``) and the TensorFlow path
(``encode_tf`` inside a ``tf.data`` map, as SeqIO runs it), side by side.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--data", help="a data folder to train the text vocabulary on "
                      "(default: 200 procedural motions made now)")
  parser.add_argument("--n", type=int, default=2000)
  args = parser.parse_args()
  import numpy as np
  import tensorflow as tf
  from motiongpt_jax import vocab
  from motiongpt_jax.data import humanml3d
  from motiongpt_jax.data.synth import generator
  tmp = tempfile.mkdtemp()
  data = args.data
  if not data:
    data = os.path.join(tmp, "synth")
    generator.synthesize(data, 200, seed=0, workers=1)
  captions = [c.text for n in humanml3d.read_split_names(data, "train")
              for c in humanml3d.read_captions(os.path.join(data, "texts", n + ".txt"))]
  v = vocab.MotionTextVocabulary(vocab.train_sentencepiece(captions, os.path.join(tmp, "spm")))
  rng = np.random.default_rng(0)
  examples = [(f'Please generate a motion that matches this description: "{captions[i % len(captions)]}"',
               v.motion_string(rng.integers(0, 512, 50))) for i in range(args.n)]
  start = time.perf_counter()
  for prompt, target in examples:
    v.encode(prompt)
    v.encode(target)
  python_rate = args.n / (time.perf_counter() - start)
  ds = tf.data.Dataset.from_tensor_slices(
      {"inputs": [e[0] for e in examples], "targets": [e[1] for e in examples]})
  ds = ds.map(lambda x: {k: v.encode_tf(t) for k, t in x.items()},
              num_parallel_calls=tf.data.AUTOTUNE)
  for _ in ds.take(10):
    pass
  start = time.perf_counter()
  count = sum(1 for _ in ds)
  tf_rate = count / (time.perf_counter() - start)
  tokens = len(v.encode(examples[0][0])) + len(v.encode(examples[0][1]))
  print(f"motion-text vocabulary ({v.vocab_size} ids), one example = prompt + 52 motion "
        f"tokens, {tokens} ids, {args.n} examples, {os.cpu_count()} CPU cores")
  print(f"{'path':34}{'examples/s':>12}")
  print(f"{'Python encode':34}{python_rate:>12.0f}")
  print(f"{'TensorFlow encode_tf in tf.data':34}{tf_rate:>12.0f}")


if __name__ == "__main__":
  main()
