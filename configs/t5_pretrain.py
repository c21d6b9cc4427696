"""Language-model stage 2 (pre-training on ``motiongpt_pretrain``): ``:tiny|small|base|large``.

From MotionGPT's configs/lm/default.yaml: Flan-T5 (v1.1 shapes), sequences up to 256 ids,
AdamW lr 2e-4, batch 16. ``init_from`` is a local Hugging Face T5/Flan-T5 folder (its
vocabulary is then enlarged by the motion tokens, and ``--data``'s spiece.model must be that
checkpoint's) or empty to train from scratch. ``tiny`` is sized for 2 CPU cores.
"""

import ml_collections

from motiongpt_jax.config_utils import load_sibling
from motiongpt_jax.t5.config import SHAPE_FIELDS

common = load_sibling(__file__, "common.py")


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
  # The preset's shape, changed where set (e.g. --config.model.num_decoder_layers=4); a stage
  # that starts from a run or checkpoint takes that model's shape.
  for field in SHAPE_FIELDS:
    c.model[field] = ml_collections.config_dict.placeholder(int)

  c.data = ml_collections.ConfigDict()
  c.data.inputs_length = 256
  c.data.targets_length = 256
  c.data.cache_dir = ""           # `motiongpt tasks cache --out DIR`: read the tasks from it
  # Training rows hold several examples each (seqio's packing, as T5X's pre-training and
  # fine-tuning configs do); validation batches stay one example per row.
  c.data.pack = True
  # MotionGPT's augmentation of the instruction tasks: drop the first or last motion token
  # this often (its text-to-motion data uses 1/3); 0 keeps motions whole.
  c.data.drop_one_token = 0.0
  # Rate of the four scored tasks in the mixture motiongpt_instruct_core (the others: 1).
  c.data.core_rate = 4.0
  # Rates of chosen templates there, by name: "m2m_prediction=24,t2m_caption=12" ("": none).
  c.data.task_rates = ""

  c.loss = ml_collections.ConfigDict()
  c.loss.z_loss = 1e-4
  c.loss.label_smoothing = 0.0
  # T2M-GPT's corruption of the decoder's motion-code inputs (its pkeep = 1 - this); 0: none,
  # as MotionGPT trains.
  c.loss.code_noise = 0.0

  # eval_every: validation loss on eval_batches batches, then seqio evaluation of the first
  # seqio_eval_examples examples of each seqio_eval_tasks task (greedy decoding, the tasks'
  # own postprocessors and metrics).
  c.train = common.train_block(
      steps=100_000, batch_size=16, learning_rate=2e-4, checkpoint_every=2000,
      eval_every=2000, eval_batches=8, seqio_eval_examples=64,
      seqio_eval_tasks=("motiongpt_instruct_t2m_caption_eval,"
                        "motiongpt_instruct_m2t_caption_eval,"
                        "motiongpt_instruct_t2t_caption_to_frames_eval"))

  if variant in ("small", "base", "large"):
    pass
  elif variant == "tiny":
    c.model.dropout_rate = 0.0
    # T2M-GPT's pkeep 0.5 (HumanML3D): at the paper's sampling (temperature 1) and the
    # demo's earlier budgets it took seed 0's text-to-motion R@3 from 0.72 to 0.85 and
    # prediction FDE from 0.87 to 0.81 m (one run; README, the demo's ablations).
    c.loss.code_noise = 0.5
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
