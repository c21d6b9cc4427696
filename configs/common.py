"""What every training config shares: the train block of the shared trainer.

Loaded by the other config files with ``config_utils.load_sibling(__file__, "common.py")``
(the way big_vision's ``configs/common.py`` is imported by its configs). Each stage passes
only what differs from these defaults.
"""

import ml_collections


def train_block(**overrides) -> ml_collections.ConfigDict:
  """The ``train`` block read by ``motiongpt_jax.train.trainer.train``."""
  t = ml_collections.ConfigDict()
  t.steps = 100_000
  t.batch_size = 32
  t.learning_rate = 1e-4        # peak of linear warm-up then cosine decay
  t.warmup_steps = 1000
  t.final_lr_fraction = 0.1     # the cosine ends at learning_rate * this
  t.b1 = 0.9                    # AdamW
  t.b2 = 0.999
  t.weight_decay = 0.0
  t.grad_clip = 1.0             # global-norm clipping (0: none)
  t.seed = 0                    # parameters, data order and dropout all follow it
  t.log_every = 100             # steps between metric rows and progress lines
  t.checkpoint_every = 5000
  t.keep_checkpoints = 3
  t.eval_every = 5000           # the stage's own evaluation (0: never)
  t.mesh_model = 1              # size of the 'model' mesh axis ('data' takes the rest)
  t.update(overrides)            # new keys are a stage's own (e.g. the LM's eval_batches)
  return t
