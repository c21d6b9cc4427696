"""Motion VQ-VAE configs: ``configs/vqvae.py:tiny`` (CPU, tests, demo) and ``:base`` (paper).

``base`` carries MotionGPT's ``configs/vq/default.yaml`` (itself T2M-GPT's): width 512,
codebook 512 x 512, 2 stride-2 stages, residual depth 3 with dilation growth 3, EMA 0.99,
loss weights 0.5 (velocity) and 0.02 (commitment), AdamW 2e-4 with betas (0.9, 0.99), batch
256, windows of 64 frames. The schedule is warm-up + cosine (the reference uses a step decay).
"""

import ml_collections

from motiongpt_jax.config_utils import load_sibling

common = load_sibling(__file__, "common.py")


def get_config(variant=None):
  variant = variant or "base"
  c = ml_collections.ConfigDict()
  c.variant = variant

  c.model = ml_collections.ConfigDict()
  c.model.width = 512
  c.model.code_dim = 512
  c.model.num_codes = 512
  c.model.down_t = 2            # stride-2 stages: tokens are 2**down_t = 4 frames each
  c.model.depth = 3             # residual blocks per stage
  c.model.dilation_growth = 3   # dilations 9, 3, 1 (reversed, as the reference)
  c.model.ema_decay = 0.99
  c.model.dtype = "float32"     # activations; parameters stay float32

  c.loss = ml_collections.ConfigDict()
  c.loss.velocity_weight = 0.5  # on the root-relative joint positions, dims 4..66
  c.loss.commit_weight = 0.02

  c.data = ml_collections.ConfigDict()
  c.data.window = 64            # training crop in frames (a multiple of 4)
  c.data.feature_dim = 263      # set from the data folder's Mean.npy by train-vqvae

  # eval_every: reconstruction error on the validation split.
  c.train = common.train_block(steps=300_000, batch_size=256, learning_rate=2e-4,
                               final_lr_fraction=0.05, b2=0.99)

  if variant == "base":
    pass
  elif variant == "tiny":
    # Sized for 2 CPU cores: about 10 minutes of training reaches the targets in the README.
    c.model.width = 128
    c.model.code_dim = 128
    c.train.steps = 2500
    c.train.batch_size = 64
    c.train.learning_rate = 1e-3
    c.train.warmup_steps = 100
    c.train.log_every = 50
    c.train.checkpoint_every = 500
    c.train.eval_every = 500
  else:
    raise ValueError(f"configs/vqvae.py has variants 'tiny' and 'base', not {variant!r}")
  return c
