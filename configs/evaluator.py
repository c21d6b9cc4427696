"""Text-motion evaluator configs: ``configs/evaluator.py:tiny`` (CPU demo) and ``:base``.

``base`` has the official evaluator's sizes (Guo et al. 2022, ``text_mot_match``): word
vectors 300, text GRU 512, motion GRU 1024, movement 512, embeddings 512; batch 32, Adam
lr 1e-4, contrastive margin 10. Here the word vectors are learnt over the training captions'
words (no GloVe download); load the official weights with ``motiongpt convert-evaluator``.
"""

import ml_collections

from motiongpt_jax.config_utils import load_sibling

common = load_sibling(__file__, "common.py")


def get_config(variant=None):
  variant = variant or "base"
  c = ml_collections.ConfigDict()
  c.variant = variant

  c.model = ml_collections.ConfigDict()
  c.model.word_size = 300
  c.model.text_hidden = 512
  c.model.motion_hidden = 1024
  c.model.movement_hidden = 512
  c.model.movement_latent = 512
  c.model.embedding = 512

  c.data = ml_collections.ConfigDict()
  c.data.max_frames = 196       # motions are cropped to this many frames (the reference's)
  c.data.min_word_count = 1

  c.loss = ml_collections.ConfigDict()
  c.loss.margin = 10.0

  # eval_every: R-precision on the validation split.
  c.train = common.train_block(steps=50_000, batch_size=32, learning_rate=1e-4,
                               warmup_steps=500, log_every=200, keep_checkpoints=2)

  if variant == "base":
    pass
  elif variant == "tiny":
    c.model.word_size = 64
    c.model.text_hidden = 128
    c.model.motion_hidden = 128
    c.model.movement_hidden = 128
    c.model.movement_latent = 128
    c.model.embedding = 128
    c.train.steps = 1200
    c.train.learning_rate = 1e-3
    c.train.warmup_steps = 100
    c.train.log_every = 100
    c.train.checkpoint_every = 600
    c.train.eval_every = 600
  else:
    raise ValueError(f"variants are tiny and base, not {variant!r}")
  return c
