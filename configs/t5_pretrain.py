"""Language-model stage 2 (pre-training on ``motiongpt_pretrain``): ``:tiny|small|base|large``.

From MotionGPT's configs/lm/default.yaml: Flan-T5 (v1.1 shapes), sequences up to 256 ids,
AdamW lr 2e-4, batch 16. ``init_from`` is a local Hugging Face T5/Flan-T5 folder (its
vocabulary is then enlarged by the motion tokens, and ``--data``'s spiece.model must be that
checkpoint's) or empty to train from scratch. ``tiny`` is sized for 2 CPU cores.
"""

import ml_collections


def get_config(variant=None):
  variant = variant or "base"
  c = ml_collections.ConfigDict()
  c.variant = variant
  c.stage = "pretrain"
  c.mixture = "motiongpt_pretrain"
  c.init_from = ""

  c.model = ml_collections.ConfigDict()
  c.model.preset = variant        # motiongpt_jax.t5.config presets: tiny, small, base, large
  c.model.dtype = "float32"
  c.model.dropout_rate = 0.1

  c.data = ml_collections.ConfigDict()
  c.data.inputs_length = 256
  c.data.targets_length = 256

  c.loss = ml_collections.ConfigDict()
  c.loss.z_loss = 1e-4
  c.loss.label_smoothing = 0.0

  c.train = ml_collections.ConfigDict()
  c.train.steps = 100_000
  c.train.batch_size = 16
  c.train.learning_rate = 2e-4
  c.train.warmup_steps = 1000
  c.train.final_lr_fraction = 0.1
  c.train.b1 = 0.9
  c.train.b2 = 0.999
  c.train.weight_decay = 0.0
  c.train.grad_clip = 1.0
  c.train.seed = 0
  c.train.log_every = 100
  c.train.checkpoint_every = 2000
  c.train.keep_checkpoints = 3
  c.train.eval_every = 2000     # validation loss on eval_batches batches
  c.train.eval_batches = 8
  # seqio.Evaluator at each eval: greedy decoding of these tasks' first validation examples,
  # scored by the tasks' metric functions (0 examples: off).
  c.train.seqio_eval_examples = 64
  c.train.seqio_eval_tasks = ("motiongpt_instruct_t2m_caption_eval,"
                              "motiongpt_instruct_m2t_caption_eval,"
                              "motiongpt_instruct_t2t_caption_to_frames_eval")
  c.train.mesh_model = 1

  if variant in ("small", "base", "large"):
    pass
  elif variant == "tiny":
    c.model.dropout_rate = 0.0
    # The procedural data's longest examples are 77 input and 71 target ids (motions of
    # at most 200 frames are 50 tokens; measured over every task of both mixtures).
    c.data.inputs_length = 80
    c.data.targets_length = 72
    c.train.steps = 1500
    c.train.batch_size = 32
    c.train.learning_rate = 2e-3
    c.train.warmup_steps = 100
    c.train.log_every = 50
    c.train.checkpoint_every = 500
    c.train.eval_every = 500
    c.train.eval_batches = 4
    c.train.seqio_eval_examples = 32
  else:
    raise ValueError(f"variants are tiny, small, base and large, not {variant!r}")
  return c
