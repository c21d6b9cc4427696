"""Training the text-motion evaluator with the shared trainer (contrastive, Guo et al.)."""

from __future__ import annotations

import jax
import numpy as np

from motiongpt_jax import protocol
from motiongpt_jax.data import humanml3d, order
from motiongpt_jax.evaluation import evaluator as E
from motiongpt_jax.evaluation import metrics
from motiongpt_jax.evaluation import words as W


class CaptionedMotions:
  """Batches of (caption, motion crop) pairs; ``batch(s)`` is a pure function of (seed, s).

  As the reference's loader: one random caption per motion, the length rounded down to a
  multiple of 4 (one unit shorter a third of the time), a random crop of that length,
  zero padding to ``max_frames``.

  ``samples`` may be ``humanml3d.Sample`` (motions in memory) or ``humanml3d.StoredSample``
  (motions read from disk when a batch needs them: memory independent of the data set's
  size); the batches are the same.
  """

  def __init__(self, samples, vocab: W.WordVocabulary,
               batch_size: int, max_frames: int, seed: int):
    self.samples = [s for s in samples if s.length >= 2 * E.UNIT_LENGTH]
    if not self.samples:
      raise humanml3d.DataError("no captioned motion of at least 8 frames to train on")
    self.vocab, self.batch_size, self.max_frames, self.seed = vocab, batch_size, max_frames, \
        seed
    self.feature_dim = self.samples[0].motion.shape[1]

  def batch(self, step: int) -> dict:
    n = len(self.samples)
    rng = np.random.default_rng([self.seed, 1, step])
    motion = np.zeros((self.batch_size, self.max_frames, self.feature_dim), np.float32)
    lengths = np.zeros(self.batch_size, np.int32)
    tokens = []
    for j in range(self.batch_size):
      position = step * self.batch_size + j
      sample = self.samples[order.item_at(position, n, self.seed)]
      tokens.append(sample.captions[rng.integers(len(sample.captions))].tokens)
      crop = protocol.eval_crop(sample.motion, rng, self.max_frames)
      motion[j, :len(crop)] = crop
      lengths[j] = len(crop)
    words, pos, text_lengths = self.vocab.encode_batch(tokens)
    return {"words": words, "pos": pos, "text_lengths": text_lengths, "motion": motion,
            "motion_lengths": lengths}


class EvaluatorTask:
  """The evaluator as a ``TrainTask``; ``evaluate`` reports validation R-precision."""

  def __init__(self, config, model_config: E.EvaluatorConfig, batches: CaptionedMotions,
               eval_samples: list[humanml3d.Sample], mean, std, tagger: W.Tagger):
    self.config, self.model_config, self.batches = config, model_config, batches
    self.model = E.TextMotionEvaluator(model_config)
    self.eval_samples, self.mean, self.std, self.tagger = eval_samples, mean, std, tagger

  def init(self, key):
    return E.init_params(self.model_config, key), {}

  def loss_fn(self, params, extra, batch, key):
    dropout_key, shift_key = jax.random.split(key)
    text, motion = self.model.apply(
        {"params": params}, batch["words"], batch["pos"], batch["text_lengths"],
        batch["motion"], batch["motion_lengths"], train=True, rngs={"dropout": dropout_key})
    shift = jax.random.randint(shift_key, (), 1, text.shape[0])
    loss, (positive, negative) = E.contrastive_loss(text, motion, shift,
                                                    self.config.loss.margin)
    return loss, (extra, {"loss": loss, "positive": positive, "negative": negative})

  def batch(self, step: int) -> dict:
    return self.batches.batch(step)

  def param_shardings(self, mesh, abstract_params):
    return None

  def evaluate(self, params, extra) -> dict:
    if len(self.eval_samples) < 32:
      return {}
    evaluator = self.as_evaluator(params)
    return validation_report(evaluator, self.eval_samples)

  def as_evaluator(self, params) -> E.Evaluator:
    return E.Evaluator(self.model_config, params, self.batches.vocab, self.tagger,
                       self.mean, self.std, self.config.data.max_frames)


def validation_report(evaluator: E.Evaluator, samples) -> dict:
  """R-precision and matching score of real (caption, motion) pairs; motions un-normalised."""
  text = evaluator.embed_texts([s.captions[0].tokens for s in samples])
  motion = evaluator.embed_motions([s.motion for s in samples])
  top, matching = metrics.r_precision(text, motion)
  return {"r_precision_top1": float(top[0]), "r_precision_top3": float(top[2]),
          "matching_score": float(matching)}


def load_training_samples(data: str):
  """(train samples normalised by the data's Mean/Std, val samples un-normalised, mean, std).

  The train samples are ``StoredSample`` records: every motion is read and checked once
  here, then read again from disk when a batch crops it, so memory does not grow with the
  training set (at HumanML3D's size the normalised split and its caption spans held ~3 GB).
  """
  kind = humanml3d.detect_kind(data)
  mean, std = humanml3d.load_mean_std(data, humanml3d.SPECS[kind])
  train = humanml3d.index_samples(data, "train", kind=kind)
  val = humanml3d.read_split(data, "val", kind=kind, normalize=False, include_spans=False)
  return train, val, mean, std


def build_task(config, data: str) -> EvaluatorTask:
  train, val, mean, std = load_training_samples(data)
  vocab = W.WordVocabulary.from_captions((c.tokens for s in train for c in s.captions),
                                         config.data.min_word_count)
  tagger = W.Tagger.from_captions((c.text, c.tokens) for s in train for c in s.captions)
  model_config = E.EvaluatorConfig(feature_dim=int(mean.shape[0]), vocab_size=vocab.size,
                                   **config.model.to_dict())
  batches = CaptionedMotions(train, vocab, config.train.batch_size, config.data.max_frames,
                             config.train.seed)
  return EvaluatorTask(config, model_config, batches, val, mean, std, tagger)
