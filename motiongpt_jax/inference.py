"""Using a trained MotionGPT: text -> motion and motion -> text from a ``motiongpt train`` run.

``MotionGPT.load(workdir)`` reads the run's config (data folder, tokens folder, SentencePiece
model), its T5 config and latest parameters, and the VQ-VAE that made the tokens (named in
the tokens folder's tokens.json). Prompts use the first phrasing of the instruction
templates (the ``_eval`` tasks). Generation is constrained so every output decodes: the
first token is the motion start, then motion codes until the end token, then EOS (top-k
sampling, MotionGPT's 50 by default); captions may not contain motion tokens (greedy).
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from motiongpt_jax.data import humanml3d
from motiongpt_jax.motion import features as F
from motiongpt_jax.t5 import decoding
from motiongpt_jax.t5.network import Transformer


class InputError(ValueError):
  """A prompt or motion file the model cannot take; the message says why."""


def motion_only_mask(vocab):
  """Logits hook: start token first, then codes or the end token, then EOS only."""
  codes = np.zeros(vocab.vocab_size, bool)
  codes[vocab.motion_offset:vocab.motion_offset + vocab.num_motion_codes] = True
  codes[vocab.motion_end_id] = True
  start, end, eos = vocab.motion_start_id, vocab.motion_end_id, vocab.eos_id

  def mask(step, sequences, logits):
    rows = jnp.arange(logits.shape[-1])
    previous = sequences[:, step][:, None]
    allowed = jnp.where(step == 0, rows == start,
                        jnp.where(previous == end, rows == eos,
                                  jnp.asarray(np.pad(codes, (0, logits.shape[-1] - len(codes))))))
    return jnp.where(allowed, logits, decoding.NEG_INF)
  return mask


def text_only_mask(vocab):
  allowed = np.zeros(vocab.vocab_size, bool)
  allowed[1:vocab.text_size] = True  # no padding, no motion tokens
  return allowed


class MotionGPT:

  def __init__(self, config, t5_config, params, vocab, tokenizer, mean, std, templates):
    self.config, self.t5_config, self.params = config, t5_config, params
    self.vocab, self.tokenizer, self.mean, self.std = vocab, tokenizer, mean, std
    self.templates = templates
    self.model = Transformer(t5_config.replace(dropout_rate=0.0))
    # Built once: decoding compiles once per hook function.
    self._motion_mask = motion_only_mask(vocab)
    self._text_mask = decoding.allow_only(
        np.pad(text_only_mask(vocab), (0, t5_config.vocab_size - vocab.vocab_size)))

  @classmethod
  def load(cls, workdir: str) -> "MotionGPT":
    from motiongpt_jax.t5.training import load_run
    from motiongpt_jax.vqvae.tokenizer import MotionTokenizer
    from tasks import pretraining
    from tasks.instructions import load_templates
    config, t5_config, _, params = load_run(workdir)
    vocab = pretraining.make_vocabulary(config.data.tokens, config.data.spm)
    with open(os.path.join(config.data.tokens, "tokens.json")) as f:
      vqvae_dir = json.load(f).get("vqvae")
    if not vqvae_dir:
      raise FileNotFoundError(f"{config.data.tokens}/tokens.json names no VQ-VAE: tokens made "
                              f"by `motiongpt tokenize` are needed to turn codes into motion")
    tokenizer = MotionTokenizer.load(vqvae_dir)
    spec = humanml3d.SPECS[humanml3d.detect_kind(config.data.path)]
    mean, std = humanml3d.load_mean_std(config.data.path, spec)
    return cls(config, t5_config, params, vocab, tokenizer, mean, std,
               load_templates())

  def _prompt(self, template: str, **values) -> np.ndarray:
    text = self.templates[template]["inputs"][0]
    for key, value in values.items():
      text = text.replace(f"<{key}_Placeholder>", value)
    ids = list(self.vocab.encode(text)) + [self.vocab.eos_id]
    limit = self.config.data.inputs_length
    if len(ids) > limit:
      raise InputError(f"the prompt is {len(ids)} tokens long; this model takes at most "
                       f"{limit}")
    return np.asarray(ids, np.int32)

  def generate(self, text: str, n: int = 1, frames: int | None = None,
               seconds: float | None = None, seed: int = 0, top_k: int = 50,
               temperature: float = 1.0) -> list[np.ndarray]:
    """``n`` motions (joints [T, J, 3] in metres) for a caption."""
    text = " ".join(text.split())
    if not text:
      raise InputError("the prompt is empty")
    if frames is not None and seconds is not None:
      raise InputError("give --frames or --seconds, not both")
    if frames is not None:
      prompt = self._prompt("t2m_caption_frames", Caption=text, Frame=str(frames))
    elif seconds is not None:
      prompt = self._prompt("t2m_caption_seconds", Caption=text, Second=f"{seconds:.1f}")
    else:
      prompt = self._prompt("t2m_caption", Caption=text)
    inputs = jnp.asarray(np.tile(prompt, (n, 1)))
    tokens, _ = decoding.sample(self.model, self.params, inputs, jax.random.PRNGKey(seed),
                                max_decode_length=self.config.data.targets_length,
                                temperature=temperature, top_k=top_k,
                                eos_id=self.vocab.eos_id,
                                logits_mask_fn=self._motion_mask)
    motions = []
    for row in np.asarray(tokens):
      codes = [int(t) - self.vocab.motion_offset for t in row
               if self.vocab.motion_offset <= t < self.vocab.motion_start_id]
      codes = codes or [0]  # an immediate end token: one token of motion
      features = self.tokenizer.decode(np.asarray(codes)) * self.std + self.mean
      motions.append(F.features_to_joints(features))
    return motions

  def caption(self, motion: np.ndarray) -> str:
    """A caption for a motion given as features [T, D] or joints [T, J, 3] (not normalised)."""
    motion = np.asarray(motion, np.float32)
    dim = self.tokenizer.feature_dim
    if motion.ndim == 3:
      motion = F.joints_to_features(motion)
    if motion.ndim != 2 or motion.shape[1] != dim:
      raise InputError(f"expected features [T, {dim}] or joints [T, J, 3], got {motion.shape}")
    if len(motion) < 4:
      raise InputError(f"a motion of {len(motion)} frames is shorter than one token (4)")
    codes = self.tokenizer.encode((motion - self.mean) / self.std)
    prompt = self._prompt("m2t_caption", Motion=self.vocab.motion_string(codes))
    tokens, _ = decoding.sample(self.model, self.params, jnp.asarray(prompt[None]),
                                jax.random.PRNGKey(0), max_decode_length=40,
                                eos_id=self.vocab.eos_id,
                                logits_mask_fn=self._text_mask)
    return self.vocab.decode(np.asarray(tokens[0]).tolist())
