"""Using a trained MotionGPT: text -> motion and motion -> text from a ``motiongpt train`` run.

``MotionGPT.load(workdir)`` reads the run's config (data folder, tokens folder, SentencePiece
model), its T5 config and latest parameters, and the VQ-VAE that made the tokens (named in
the tokens folder's tokens.json). Prompts use the first phrasing of the instruction
templates (the ``_eval`` tasks). Generation is constrained so every output decodes: the
first token is the motion start, then motion codes until the end token, then EOS (top-k
sampling, MotionGPT's 50 by default); captions may not contain motion tokens (greedy).

A run whose config.json says ``interface = "motiongpt"`` (``motiongpt import-motiongpt``:
the released MotionGPT) is talked to as the reference does (``mgpt_lm.py``
``generate_conditional``): its config's ``prompts`` (the reference's evaluation prompts),
unconstrained decoding (motion sampled up to 127 tokens, text greedy up to 39), the codes
read between the first start and the first end token and clamped to the codebook (``[0]``
when either is missing), captions decoded as ``transformers`` decodes them
(``reference_text``), and the run's own ``data.stats`` mean/std for the VQ-VAE.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from motiongpt_jax import protocol, runs
from motiongpt_jax.data import humanml3d
from motiongpt_jax.motion import features as F
from motiongpt_jax.t5 import decoding
from motiongpt_jax.t5.network import Transformer
from motiongpt_jax.vocab import vocabulary_for_tokens
from motiongpt_jax.vqvae.tokenizer import MotionTokenizer
from tasks.instructions import load_templates


def splice(real: np.ndarray, generated: np.ndarray, first: int) -> np.ndarray:
  """The real feature frames before ``first``, then the generated ones. Features carry the
  root as local velocities, so the generated frames continue from where the real ones end."""
  return np.concatenate([real[:first], generated[first:]])


class InputError(ValueError):
  """A prompt or motion file the model cannot take; the message says why."""


MAX_SAMPLES = 1024  # motions per call of ``generate``: more is a loop for the caller


def check_sampling(temperature: float = 1.0, top_k: int = 50, n: int = 1) -> None:
  """Raises InputError unless temperature is finite and >= 0 (0: greedy), top_k >= 0
  (0: no cut) and 1 <= n <= MAX_SAMPLES."""
  if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
      math.isfinite(temperature) and temperature >= 0):
    raise InputError(f"--temperature {temperature}: expected a finite number >= 0 (0 is "
                     f"greedy decoding)")
  if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
    raise InputError(f"--top-k {top_k}: expected an integer >= 0 (0 keeps every token)")
  if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SAMPLES:
    raise InputError(f"-n {n}: expected 1 to {MAX_SAMPLES} samples per call")


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
  candidates = codes.copy()
  candidates[[start, end, eos]] = True
  return decoding.with_candidates(mask, np.flatnonzero(candidates))


REFERENCE_INTERFACE = "motiongpt"


def reference_codes(ids, vocab) -> list[int]:
  """MotionGPT's reading of a generated motion (``motion_string_to_token`` and the clamp of
  ``mgpt.py``): the motion ids between the first start and the first end token, clamped to
  the codebook; ``[0]`` when either token is missing or nothing lies between. Non-motion ids
  between them are skipped (the reference's parser would fail on them)."""
  ids = [int(t) for t in ids]
  start, end, k = vocab.motion_start_id, vocab.motion_end_id, vocab.num_motion_codes
  if start not in ids or end not in ids:
    return [0]
  inner = ids[ids.index(start) + 1:ids.index(end)]
  codes = [min(max(t - vocab.motion_offset, 0), k - 1) for t in inner
           if vocab.motion_offset <= t < vocab.motion_offset + k + 3]
  return codes or [0]


_CLEAN_UP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
             (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


def reference_text(ids, vocab) -> str:
  """Text as MotionGPT's tokenizer decodes it (``batch_decode(skip_special_tokens=True)`` of
  a ``transformers`` 4.x T5 tokenizer): padding, EOS, UNK and sentinels dropped, pieces
  joined with the leading space of the first removed, ``clean_up_tokenization`` applied.
  Motion ids are dropped (the reference leaves their strings in a caption)."""
  processor = vocab.text.tokenizer
  size = vocab.text_size - vocab.text.extra_ids  # SentencePiece's own pieces
  pieces = [processor.id_to_piece(int(t)) for t in ids if 3 <= int(t) < size]
  text = "".join(pieces).replace("\u2581", " ")
  if pieces and pieces[0].startswith("\u2581"):
    text = text[1:]
  for old, new in _CLEAN_UP:
    text = text.replace(old, new)
  return text


def text_only_mask(vocab):
  allowed = np.zeros(vocab.vocab_size, bool)
  allowed[1:vocab.text_size] = True  # no padding, no motion tokens
  return allowed


class MotionGPT:

  def __init__(self, config, t5_config, params, vocab, tokenizer, mean, std, templates,
               devices=None):
    self.config, self.t5_config = config, t5_config
    # Data-parallel decoding over this process's devices (all of them by default): the
    # parameters are replicated, each batch of prompts is split along its rows.
    devices = list(devices if devices is not None else jax.local_devices())
    self.mesh = jax.sharding.Mesh(np.asarray(devices), ("data",))
    self._rows = jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec("data"))
    self.params = jax.device_put(
        params, jax.sharding.NamedSharding(self.mesh, jax.sharding.PartitionSpec()))
    self.vocab, self.tokenizer, self.mean, self.std = vocab, tokenizer, mean, std
    self.templates = templates
    self.model = Transformer(t5_config.replace(dropout_rate=0.0))
    self.reference = config.get("interface", "") == REFERENCE_INTERFACE
    # Built once: decoding compiles once per hook function. The reference decodes freely.
    self._motion_mask = None if self.reference else motion_only_mask(vocab)
    self._text_mask = None if self.reference else decoding.allow_only(
        np.pad(text_only_mask(vocab), (0, t5_config.vocab_size - vocab.vocab_size)))

  @classmethod
  def load(cls, workdir: str, devices=None) -> "MotionGPT":
    config, t5_config, _, params = runs.load_lm(workdir)
    vocab = vocabulary_for_tokens(config.data.tokens, config.data.spm)
    vqvae_dir, vqvae_step = runs.tokens_vqvae(config.data.tokens)
    tokenizer = MotionTokenizer.load(vqvae_dir, vqvae_step)
    if config.data.get("stats"):  # statistics of the run's own (an imported MotionGPT)
      stats = config.data.stats
      mean, std = humanml3d.load_mean_std_files(
          f"{stats}/mean.npy", f"{stats}/std.npy", tokenizer.feature_dim)
    else:
      spec = humanml3d.SPECS[humanml3d.detect_kind(config.data.path)]
      mean, std = humanml3d.load_mean_std(config.data.path, spec)
    if config.get("interface", "") == REFERENCE_INTERFACE:
      templates = {name: {"inputs": [text]} for name, text in config.prompts.items()}
    else:
      templates = load_templates()
    return cls(config, t5_config, params, vocab, tokenizer, mean, std, templates, devices)

  # ------------------------------------------------------------------ prompts and decoding
  def fill(self, template: str, **values) -> str:
    """The first phrasing of an instruction template with its placeholders filled."""
    text = self.templates[template]["inputs"][0]
    for key, value in values.items():
      text = text.replace(f"<{key}>", value)
    return text

  def encode_prompts(self, texts: list[str]) -> np.ndarray:
    """Token ids [B, L] (EOS-terminated, zero-padded to a multiple of 16 for few compiles)."""
    rows, limit = [], self.config.data.inputs_length
    for text in texts:
      ids = list(self.vocab.encode(text)) + [self.vocab.eos_id]
      if len(ids) > limit:
        raise InputError(f"the prompt is {len(ids)} tokens long; this model takes at most "
                         f"{limit}")
      rows.append(ids)
    width = min(-(-max(map(len, rows)) // 16) * 16, limit)
    out = np.zeros((len(rows), width), np.int32)
    for i, ids in enumerate(rows):
      out[i, :len(ids)] = ids
    return out

  def _decode(self, prompts: list[str], motion: bool, seed: int, top_k: int,
              temperature: float, batch_size: int, max_length: int) -> list[np.ndarray]:
    outputs, pending = [], []
    for start in range(0, len(prompts), batch_size):
      chunk = prompts[start:start + batch_size]
      ids = self.encode_prompts(chunk)
      rows = batch_size if len(prompts) > batch_size else len(chunk)
      rows = -(-rows // self.mesh.size) * self.mesh.size  # whole rows per device
      if len(ids) < rows:  # padding rows (repeats of the last prompt) keep shapes fixed
        ids = np.concatenate([ids, np.repeat(ids[-1:], rows - len(ids), 0)])
      ids = jax.device_put(ids, self._rows)
      key = jax.random.fold_in(jax.random.PRNGKey(seed), start)
      if motion:
        tokens, _ = decoding.sample(self.model, self.params, ids, key,
                                    max_decode_length=max_length, temperature=temperature,
                                    top_k=top_k, eos_id=self.vocab.eos_id,
                                    logits_mask_fn=self._motion_mask)
      else:
        tokens, _ = decoding.sample(self.model, self.params, ids, key,
                                    max_decode_length=max_length, eos_id=self.vocab.eos_id,
                                    logits_mask_fn=self._text_mask)
      pending.append((tokens, len(chunk)))  # fetched at the end: the next batch's prompts
      # are encoded on the host while this one decodes (JAX dispatches asynchronously)
    for tokens, rows in pending:
      outputs.extend(np.asarray(tokens)[:rows])
    return outputs

  def motion_codes(self, prompts: list[str], seed: int = 0, top_k: int = 50,
                   temperature: float = 1.0, batch_size: int = 64) -> list[np.ndarray]:
    """Motion codes generated for each prompt (constrained for a model trained here: every
    output is a motion; an imported MotionGPT's are read by ``reference_codes``)."""
    rows = self._decode(prompts, True, seed, top_k, temperature, batch_size,
                        self.config.data.targets_length)
    if self.reference:
      return [np.asarray(reference_codes(row, self.vocab), np.int32) for row in rows]
    # An immediate end gives one token of motion.
    return [np.asarray(self.vocab.codes_in(row) or [0], np.int32) for row in rows]

  def texts(self, prompts: list[str], batch_size: int = 64,
            max_length: int | None = None) -> list[str]:
    """Greedy text answers to prompts (no motion tokens); at most 40 tokens by default (an
    imported MotionGPT: its config's ``decoding.text_max_tokens``)."""
    if max_length is None:
      max_length = int(self.config.get("decoding", {}).get("text_max_tokens", 40))
    rows = self._decode(prompts, False, 0, 0, 0.0, batch_size, max_length)
    if self.reference:
      return [reference_text(np.asarray(r).tolist(), self.vocab) for r in rows]
    return [self.vocab.decode(np.asarray(r).tolist()) for r in rows]

  def features(self, codes) -> np.ndarray:
    """Un-normalised features [4 * len(codes), D] of motion codes."""
    return self.tokenizer.decode(np.asarray(codes)) * self.std + self.mean

  def features_many(self, code_lists) -> list[np.ndarray]:
    """``features`` of many code sequences, decoded in batches of equal length."""
    longest = int(self.config.data.get("targets_length", 0) or 0)
    return [f * self.std + self.mean
            for f in self.tokenizer.decode_many(code_lists, longest=longest)]

  def codes_of(self, motion: np.ndarray) -> np.ndarray:
    """Codes of a motion given as features [T, D] or joints [T, J, 3] (not normalised)."""
    motion = np.asarray(motion, np.float32)
    dim = self.tokenizer.feature_dim
    joints = (dim + 1) // 12  # 263 = 12 * 22 - 1 (HumanML3D), 251 = 12 * 21 - 1 (KIT)
    if motion.ndim == 3:
      if motion.shape[1:] != (joints, 3):
        raise InputError(f"expected joints [T, {joints}, 3], got {motion.shape}")
      motion = F.joints_to_features(motion)
    if motion.ndim != 2 or motion.shape[1] != dim:
      raise InputError(f"expected features [T, {dim}] or joints [T, {joints}, 3], got "
                       f"{motion.shape}")
    if len(motion) < protocol.FRAMES_PER_TOKEN:
      raise InputError(f"a motion of {len(motion)} frames is shorter than one token "
                       f"({protocol.FRAMES_PER_TOKEN})")
    if not np.all(np.isfinite(motion)):
      raise InputError("the motion contains NaN or infinite values")
    return self.tokenizer.encode((motion - self.mean) / self.std)

  # --------------------------------------------------------------------------- the tasks
  def t2m_prompt(self, text: str, frames: int | None = None,
                 seconds: float | None = None) -> str:
    text = " ".join(str(text).split())
    if not text:
      raise InputError("the prompt is empty")
    if not text.isascii():
      raise InputError(f"the prompt has non-ASCII characters ({text[:40]!r}); this model "
                       f"was trained on English captions")
    if frames is not None and seconds is not None:
      raise InputError("give --frames or --seconds, not both")
    if frames is not None:
      unit = protocol.FRAMES_PER_TOKEN
      if not unit <= frames <= unit * self.config.data.targets_length:
        raise InputError(f"--frames {frames}: expected {unit} to "
                         f"{unit * self.config.data.targets_length}")
      return self.fill("t2m_caption_frames", Caption_Placeholder=text,
                       Frame_Placeholder=str(frames))
    if seconds is not None:
      if not 0 < seconds <= 60:
        raise InputError(f"--seconds {seconds}: expected a positive number up to 60")
      if "t2m_caption_seconds" not in self.templates:  # the reference's prompts: in frames
        frames = min(max(round(seconds * protocol.FPS), protocol.FRAMES_PER_TOKEN),
                     protocol.FRAMES_PER_TOKEN * self.config.data.targets_length)
        return self.fill("t2m_caption_frames", Caption_Placeholder=text,
                         Frame_Placeholder=str(frames))
      return self.fill("t2m_caption_seconds", Caption_Placeholder=text,
                       Second_Placeholder=f"{seconds:.1f}")
    return self.fill("t2m_caption", Caption_Placeholder=text)

  def generate(self, text: str, n: int = 1, frames: int | None = None,
               seconds: float | None = None, seed: int = 0, top_k: int = 50,
               temperature: float = 1.0) -> list[np.ndarray]:
    """``n`` motions (joints [T, J, 3] in metres) for a caption."""
    check_sampling(temperature, top_k, n)
    prompt = self.t2m_prompt(text, frames, seconds)
    codes = self.motion_codes([prompt] * n, seed, top_k, temperature)
    return [F.features_to_joints(self.features(c)) for c in codes]

  def caption(self, motion: np.ndarray) -> str:
    """A caption for a motion given as features [T, D] or joints [T, J, 3] (not normalised)."""
    return self.caption_codes([self.codes_of(motion)])[0]

  def caption_codes(self, codes_list) -> list[str]:
    prompts = [self.fill("m2t_caption", Motion_Placeholder=self.vocab.motion_string(c))
               for c in codes_list]
    return self.texts(prompts)

  def predict_codes(self, codes_list, seed: int = 0, top_k: int = 50,
                    temperature: float = 1.0) -> list[np.ndarray]:
    """The whole motion (seen prefix + continuation) for each prefix of codes."""
    prompts = [self.fill("m2m_prediction", Motion_Placeholder_s1=self.vocab.motion_string(c))
               for c in codes_list]
    generated = self.motion_codes(prompts, seed, top_k, temperature)
    return [np.concatenate([np.asarray(c), g]) for c, g in zip(codes_list, generated)]

  def inbetween_codes(self, codes_list, seed: int = 0, top_k: int = 50,
                      temperature: float = 1.0) -> list[np.ndarray]:
    """Whole motions whose middle half is re-generated (the ends as given)."""
    k = self.vocab.num_motion_codes
    prompts = [self.fill("m2m_inbetween", Motion_Placeholder_Masked=self.vocab.motion_string(
        protocol.inbetween_masked(codes, k))) for codes in codes_list]
    # The model writes the whole motion; its first and last quarter are replaced by the given
    # ones so the known frames stay exactly as they were.
    out = []
    for codes, whole in zip(codes_list, self.motion_codes(prompts, seed, top_k, temperature)):
      codes = np.asarray(codes)
      first, last = protocol.inbetween_bounds(len(codes))
      tail = len(codes) - last
      middle = whole[first:max(len(whole) - tail, first + 1)]
      out.append(np.concatenate([codes[:first], middle, codes[last:]]))
    return out

  def _features_of(self, motion: np.ndarray) -> np.ndarray:
    motion = np.asarray(motion, np.float32)
    return F.joints_to_features(motion) if motion.ndim == 3 else motion

  def predict(self, motion: np.ndarray, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
    """Joints of the motion continued: the model sees the first 20% of ``motion``'s tokens;
    those frames are returned as given, the generated ones follow on from them."""
    codes = self.codes_of(motion)
    keep = protocol.prediction_keep(len(codes))
    whole = self.features(self.predict_codes([codes[:keep]], seed,
                                             temperature=temperature)[0])
    return F.features_to_joints(splice(self._features_of(motion), whole,
                                       protocol.FRAMES_PER_TOKEN * keep))

  def inbetween(self, motion: np.ndarray, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
    """Joints of the motion with its middle half generated from the first and last quarter
    (the first quarter's frames as given)."""
    codes = self.codes_of(motion)
    if len(codes) < 4:
      raise InputError(f"in-betweening needs at least 16 frames (4 tokens), got "
                       f"{4 * len(codes)}")
    whole = self.features(self.inbetween_codes([codes], seed, temperature=temperature)[0])
    first, _ = protocol.inbetween_bounds(len(codes))
    return F.features_to_joints(splice(self._features_of(motion), whole,
                                       protocol.FRAMES_PER_TOKEN * first))

  def chat(self, instruction: str, motion: np.ndarray | None = None, seed: int = 0):
    """A free-form instruction; ``<motion>`` in it stands for ``motion``'s tokens.

    Returns (text without motion tokens, joints of the motion in the answer or None).
    """
    instruction = " ".join(str(instruction).split())
    if not instruction:
      raise InputError("the instruction is empty")
    if motion is not None:
      if "<motion>" not in instruction:
        instruction += " <motion>"
      instruction = instruction.replace("<motion>",
                                        self.vocab.motion_string(self.codes_of(motion)))
    elif "<motion>" in instruction:
      raise InputError("the instruction mentions <motion> but no --motion file was given")
    ids = self.encode_prompts([instruction])
    tokens, _ = decoding.sample(self.model, self.params, jnp.asarray(ids),
                                jax.random.PRNGKey(seed),
                                max_decode_length=self.config.data.targets_length,
                                temperature=1.0, top_k=50, eos_id=self.vocab.eos_id)
    row = np.asarray(tokens[0]).tolist()
    if self.reference:
      has_motion = self.vocab.motion_start_id in row and self.vocab.motion_end_id in row
      codes = reference_codes(row, self.vocab) if has_motion else []
      text = reference_text(row, self.vocab)
    else:
      codes = self.vocab.codes_in(row)
      text = self.vocab.decode([t for t in row if t < self.vocab.text_size])
    joints = F.features_to_joints(self.features(codes)) if codes else None
    return text.strip(), joints
