"""The text-motion evaluator of Guo et al. 2022 ("Generating Diverse and Natural 3D Human
Motions from Text", ``text_mot_match``), which every text-to-motion paper's table uses.

- Movement encoder: two stride-2 convolutions (kernel 4, padding 1; dropout 0.2, leaky ReLU
  0.2) and a linear layer over the features without the 4 foot contacts: one vector per 4
  frames.
- Motion encoder: linear -> bidirectional GRU over the valid movement vectors (packed: the
  padding is never read) with a learnt initial state -> [fwd, bwd] last states -> linear,
  LayerNorm, leaky ReLU, linear.
- Text encoder: word vector + linear(POS one-hot) -> linear -> the same bidirectional GRU and
  head.
Trained so that a caption's embedding lies near its motion's (contrastive, margin 10, with
negatives from shifting the batch). Sizes of the official model: word 300, text hidden 512,
motion hidden 1024, movement 512, embeddings 512.

The GRU follows PyTorch's equations and weight layout (gates r, z, n; ``b_hn`` inside the
reset product) and the parameter tree mirrors the reference's state dict, so the official
``finest.tar`` converts one to one (``load_official``). Departure: when trained here, the
movement encoder trains jointly with the rest instead of being pre-trained as an
auto-encoder and frozen (one stage instead of two; documented in the README).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from motiongpt_jax import runs
from motiongpt_jax.data import humanml3d
from motiongpt_jax.evaluation import words as W

UNIT_LENGTH = 4  # frames per movement vector


@dataclasses.dataclass(frozen=True)
class EvaluatorConfig:
  feature_dim: int = 263
  word_size: int = 300
  text_hidden: int = 512
  motion_hidden: int = 1024
  movement_hidden: int = 512
  movement_latent: int = 512
  embedding: int = 512
  vocab_size: int = 0          # > 0: the evaluator learns its word vectors (no GloVe)

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)


def _torch_uniform(scale):
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -scale, scale)
  return init


def gru_scan(inputs, lengths, h0, w_ih, w_hh, b_ih, b_hh, unroll: bool = False):
  """One GRU direction over [B, T, I] with PyTorch's gate layout; states freeze at the length.

  Returns the state after each sequence's last valid step [B, H]. ``unroll`` writes the T
  steps out (a Python loop: each step's slice is static): ~2x faster on CPU than
  ``lax.scan``, whose per-step loop overhead is larger than a step of this size, at the
  cost of a longer compilation; ``Evaluator`` uses it, training does not.
  """
  gates_x = jnp.einsum("bti,gi->btg", inputs, w_ih) + b_ih
  valid = (jnp.arange(inputs.shape[1])[None, :] < lengths[:, None])[..., None]  # [B, T, 1]

  def step(h, gx, keep):
    gh = h @ w_hh.T + b_hh
    xr, xz, xn = jnp.split(gx, 3, axis=-1)
    hr, hz, hn = jnp.split(gh, 3, axis=-1)
    r = jax.nn.sigmoid(xr + hr)
    z = jax.nn.sigmoid(xz + hz)
    n = jnp.tanh(xn + r * hn)
    return jnp.where(keep, (1 - z) * n + z * h, h)

  if unroll:
    h = h0
    for t in range(inputs.shape[1]):
      h = step(h, gates_x[:, t], valid[:, t])
    return h
  last, _ = jax.lax.scan(lambda h, xs: (step(h, *xs), None), h0,
                         (jnp.swapaxes(gates_x, 0, 1), jnp.swapaxes(valid, 0, 1)))
  return last


def reverse_valid(x, lengths):
  """Reverses each sequence within its own length (padding stays at the end)."""
  t = jnp.arange(x.shape[1])[None, :]
  index = jnp.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
  return jnp.take_along_axis(x, index[..., None], axis=1)


class BiGRU(nn.Module):
  """Bidirectional one-layer GRU with PyTorch parameter names; returns [fwd_last, bwd_last]."""
  input_size: int
  hidden: int
  unroll: bool = False

  @nn.compact
  def __call__(self, x, lengths, h0):
    h, i = self.hidden, self.input_size
    init = _torch_uniform(1.0 / np.sqrt(h))
    outputs = []
    for suffix, inputs, h_init in (("", x, h0[0]), ("_reverse", reverse_valid(x, lengths),
                                                     h0[1])):
      w_ih = self.param(f"weight_ih_l0{suffix}", init, (3 * h, i))
      w_hh = self.param(f"weight_hh_l0{suffix}", init, (3 * h, h))
      b_ih = self.param(f"bias_ih_l0{suffix}", init, (3 * h,))
      b_hh = self.param(f"bias_hh_l0{suffix}", init, (3 * h,))
      outputs.append(gru_scan(inputs, lengths, h_init, w_ih, w_hh, b_ih, b_hh,
                              self.unroll))
    return jnp.concatenate(outputs, axis=-1)


def _dense(features, name):
  # The reference initialises linear and conv weights Xavier-normal with zero biases.
  return nn.Dense(features, kernel_init=nn.initializers.xavier_normal(), name=name)


class Head(nn.Module):
  """linear -> LayerNorm -> leaky ReLU -> linear (``output_net`` 0, 1, 3 in the reference)."""
  hidden: int
  output: int

  @nn.compact
  def __call__(self, x):
    x = _dense(self.hidden, "linear_0")(x)
    x = nn.LayerNorm(epsilon=1e-5, name="layer_norm_1")(x)
    x = nn.leaky_relu(x, 0.2)
    return _dense(self.output, "linear_3")(x)


class MovementEncoder(nn.Module):
  hidden: int
  latent: int

  @nn.compact
  def __call__(self, x, train: bool = False):
    for k, features in enumerate((self.hidden, self.latent)):
      x = nn.Conv(features, (4,), strides=(2,), padding=[(1, 1)],
                  kernel_init=nn.initializers.xavier_normal(), name=f"conv_{3 * k}")(x)
      x = nn.Dropout(0.2, deterministic=not train)(x)
      x = nn.leaky_relu(x, 0.2)
    return _dense(self.latent, "out_net")(x)


class SequenceEncoder(nn.Module):
  """input linear -> BiGRU (learnt initial state) -> head: the shared shape of both encoders."""
  input_size: int
  hidden: int
  output: int
  unroll: bool = False

  @nn.compact
  def __call__(self, x, lengths):
    h0 = self.param("hidden", nn.initializers.normal(1.0), (2, 1, self.hidden))
    x = _dense(self.hidden, "input_emb")(x)
    h0 = jnp.broadcast_to(h0, (2, x.shape[0], self.hidden))
    last = BiGRU(self.hidden, self.hidden, self.unroll, name="gru")(x, lengths, h0)
    return Head(self.hidden, self.output, name="output_net")(last)


class TextEncoder(nn.Module):
  config: EvaluatorConfig
  unroll: bool = False

  @nn.compact
  def __call__(self, word_vectors, pos_onehot, lengths):
    c = self.config
    x = word_vectors + _dense(c.word_size, "pos_emb")(pos_onehot)
    return SequenceEncoder(c.word_size, c.text_hidden, c.embedding, self.unroll,
                           name="sequence")(x, lengths)


class TextMotionEvaluator(nn.Module):
  """Both encoders. ``unroll``: write the GRUs' time steps out (faster inference, longer
  compilation; see ``gru_scan``); parameters and results are the same either way."""
  config: EvaluatorConfig
  unroll: bool = False

  def setup(self):
    c = self.config
    if c.vocab_size:
      self.word_vectors = nn.Embed(c.vocab_size, c.word_size,
                                   embedding_init=nn.initializers.normal(1.0))
    self.movement_encoder = MovementEncoder(c.movement_hidden, c.movement_latent)
    self.motion_encoder = SequenceEncoder(c.movement_latent, c.motion_hidden, c.embedding,
                                          self.unroll)
    self.text_encoder = TextEncoder(c, self.unroll)

  def embed_motion(self, motion, lengths, train: bool = False):
    """motion [B, T, D] (evaluator-normalised features), lengths [B] in frames -> [B, E]."""
    movements = self.movement_encoder(motion[..., :-4], train)
    return self.motion_encoder(movements, lengths // UNIT_LENGTH)

  def embed_text(self, words, pos_onehot, lengths):
    """words: ids [B, L] (learnt vectors) or vectors [B, L, word_size] (GloVe)."""
    vectors = self.word_vectors(words) if self.config.vocab_size else words
    return self.text_encoder(vectors, pos_onehot, lengths)

  def __call__(self, words, pos_onehot, text_lengths, motion, motion_lengths,
               train: bool = False):
    return (self.embed_text(words, pos_onehot, text_lengths),
            self.embed_motion(motion, motion_lengths, train))


def contrastive_loss(text, motion, shift, margin: float = 10.0):
  """Guo et al.'s loss: pull pairs together, push (text, motion shifted by ``shift``) apart to
  at least ``margin``."""
  positive = jnp.sum((text - motion) ** 2, -1)
  negative_motion = jnp.roll(motion, -shift, axis=0)
  distance = jnp.sqrt(jnp.sum((text - negative_motion) ** 2, -1) + 1e-12)
  negative = jnp.maximum(margin - distance, 0.0) ** 2
  return positive.mean() + negative.mean(), (positive.mean(), negative.mean())


# ------------------------------------------------------------------ a trained evaluator on disk

class Evaluator:
  """A ready-to-use evaluator: parameters, word vectors, tagger, and its normalisation.

  ``embed_motions(features)`` takes un-normalised features (lists of [T, D]);
  ``embed_texts(token_lists)`` takes ``word/POS`` token lists (``tag`` makes them from text).
  Both are jitted per padded shape (motions are padded to multiples of 4 up to ``max_frames``).
  """

  def __init__(self, config: EvaluatorConfig, params, vocab: W.WordVocabulary,
               tagger: W.Tagger, mean: np.ndarray, std: np.ndarray, max_frames: int = 196):
    self.config, self.params, self.vocab, self.tagger = config, params, vocab, tagger
    self.mean, self.std = mean.astype(np.float32), std.astype(np.float32)
    self.max_frames = max_frames
    self.model = TextMotionEvaluator(config, unroll=True)
    self._motion = jax.jit(lambda p, m, n: self.model.apply(
        {"params": p}, m, n, method=TextMotionEvaluator.embed_motion))
    self._text = jax.jit(lambda p, w, pos, n: self.model.apply(
        {"params": p}, w, pos, n, method=TextMotionEvaluator.embed_text))

  def tag(self, text: str) -> list[str]:
    return self.tagger.tag(text)

  def embed_motions(self, motions, batch_size: int = 64) -> np.ndarray:
    lengths = np.asarray([min(len(m), self.max_frames) // UNIT_LENGTH * UNIT_LENGTH
                          for m in motions], np.int32)
    if np.any(lengths < UNIT_LENGTH):
      raise ValueError(f"a motion shorter than {UNIT_LENGTH} frames cannot be embedded")
    # Rows are independent, so motions go through in order of length: batches of similar
    # lengths pad less. The results come back in the caller's order.
    order = np.argsort(lengths, kind="stable")
    out = np.zeros((len(motions), self.config.embedding), np.float32)
    for start in range(0, len(motions), batch_size):
      rows = order[start:start + batch_size]
      # The reference zero-pads every motion to max_frames (Guo et al.'s loader), so only a
      # motion of max_frames has no padding after it. The last valid movement vector reads
      # frames up to n + 2 (two k4/s2/p1 convolutions): with >= 2 zero frames after the motion
      # it sees zero frames through the first conv, with 0 or 1 it sees the second conv's own
      # zero padding instead; the two differ. Widths: multiples of 48 (>= n + 4 for every
      # motion; four shapes compile up to 196 frames), capped at max_frames so that a
      # max_frames motion gets exactly the reference's padding (none) while shorter ones keep
      # >= 2 zero frames.
      width = int(min(-(-(lengths[rows].max() + UNIT_LENGTH) // 48) * 48, self.max_frames))
      batch = np.zeros((batch_size, width, self.config.feature_dim), np.float32)
      full = np.full(batch_size, UNIT_LENGTH, np.int32)
      for i, row in enumerate(rows):
        n = lengths[row]
        batch[i, :n] = (np.asarray(motions[row][:n], np.float32) - self.mean) / self.std
        full[i] = n
      out[rows] = np.asarray(self._motion(self.params, batch, full))[:len(rows)]
    return out

  def embed_texts(self, token_lists, batch_size: int = 64) -> np.ndarray:
    out = []
    for start in range(0, len(token_lists), batch_size):
      chunk = list(token_lists[start:start + batch_size])
      ids, pos, lengths = self.vocab.encode_batch(chunk + [[]] * (batch_size - len(chunk)))
      words = ids if self.config.vocab_size else self.vocab.vectors[ids]
      out.append(np.asarray(self._text(self.params, words, pos, lengths))[:len(chunk)])
    return np.concatenate(out)

  # ---------------------------------------------------------------------------- persistence
  def save(self, folder: str) -> None:
    """Writes evaluator.json, words.txt, tagger.json, mean.npy/std.npy (params: the trainer)."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "evaluator.json"), "w") as f:
      json.dump({"config": self.config.to_dict(), "max_frames": self.max_frames}, f, indent=1)
    self.vocab.save(os.path.join(folder, "words.txt"))
    with open(os.path.join(folder, "tagger.json"), "w") as f:
      json.dump(self.tagger.table, f, indent=0, sort_keys=True)
    np.save(os.path.join(folder, "mean.npy"), self.mean)
    np.save(os.path.join(folder, "std.npy"), self.std)

  @classmethod
  def load(cls, folder: str) -> "Evaluator":
    """A folder written by ``motiongpt train-evaluator`` (latest checkpoint)."""
    meta_path = os.path.join(folder, "evaluator.json")
    if not os.path.exists(meta_path):
      raise FileNotFoundError(f"{meta_path}: missing; train one with `motiongpt "
                              f"train-evaluator` or convert the official weights with "
                              f"`motiongpt convert-evaluator`")
    with open(meta_path) as f:
      meta = json.load(f)
    config = EvaluatorConfig(**meta["config"])
    vocab = W.WordVocabulary.load_words(os.path.join(folder, "words.txt"))
    with open(os.path.join(folder, "tagger.json")) as f:
      tagger = W.Tagger(json.load(f))
    mean, std = humanml3d.load_mean_std_files(
        os.path.join(folder, "mean.npy"), os.path.join(folder, "std.npy"), config.feature_dim)
    if os.path.exists(os.path.join(folder, "params.npz")):  # converted official weights
      params = _unflatten(dict(np.load(os.path.join(folder, "params.npz"))))
      vectors = np.load(os.path.join(folder, "word_vectors.npy"))
      vocab = W.WordVocabulary(vocab.words, vectors, learned=False)
    else:
      abstract = jax.eval_shape(lambda: init_params(config, jax.random.PRNGKey(0)))
      _, params, _ = runs.load_params(folder, abstract)
    return cls(config, params, vocab, tagger, mean, std, meta.get("max_frames", 196))


def init_params(config: EvaluatorConfig, key, batch: int = 2, frames: int = 16):
  model = TextMotionEvaluator(config)
  words = (jnp.zeros((batch, W.MAX_TEXT_LENGTH + 2), jnp.int32) if config.vocab_size else
           jnp.zeros((batch, W.MAX_TEXT_LENGTH + 2, config.word_size)))
  pos = jnp.zeros((batch, W.MAX_TEXT_LENGTH + 2, len(W.POS)))
  return model.init(key, words, pos, jnp.full((batch,), 3), jnp.zeros(
      (batch, frames, config.feature_dim)), jnp.full((batch,), frames))["params"]


def _flatten(tree, prefix=""):
  flat = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      flat.update(_flatten(value, f"{prefix}{key}/"))
    else:
      flat[prefix + key] = np.asarray(value)
  return flat


def _unflatten(flat):
  tree: dict[str, Any] = {}
  for key, value in flat.items():
    node = tree
    *parents, leaf = key.split("/")
    for p in parents:
      node = node.setdefault(p, {})
    node[leaf] = jnp.asarray(value)
  return tree


# ------------------------------------------------------------ the official PyTorch weights

def convert_state_dicts(movement: dict, text: dict, motion: dict) -> dict:
  """Flax parameters from the reference's three state dicts (name -> numpy array)."""

  def linear(sd, name):
    return {"kernel": sd[f"{name}.weight"].T, "bias": sd[f"{name}.bias"]}

  def sequence(sd):
    gru = {k[len("gru."):]: v for k, v in sd.items() if k.startswith("gru.")}
    return {"hidden": sd["hidden"], "input_emb": linear(sd, "input_emb"), "gru": gru,
            "output_net": {"linear_0": linear(sd, "output_net.0"),
                           "layer_norm_1": {"scale": sd["output_net.1.weight"],
                                            "bias": sd["output_net.1.bias"]},
                           "linear_3": linear(sd, "output_net.3")}}

  conv = lambda name: {"kernel": movement[f"{name}.weight"].transpose(2, 1, 0),  # noqa: E731
                       "bias": movement[f"{name}.bias"]}
  params = {
      "movement_encoder": {"conv_0": conv("main.0"), "conv_3": conv("main.3"),
                           "out_net": linear(movement, "out_net")},
      "motion_encoder": sequence(motion),
      "text_encoder": {"pos_emb": linear(text, "pos_emb"), "sequence": sequence(text)},
  }
  return jax.tree_util.tree_map(lambda a: jnp.asarray(np.asarray(a, np.float32)), params)


def config_from_state_dicts(movement: dict, text: dict, motion: dict) -> EvaluatorConfig:
  return EvaluatorConfig(
      feature_dim=int(movement["main.0.weight"].shape[1]) + 4,
      word_size=int(text["pos_emb.weight"].shape[0]),
      text_hidden=int(text["input_emb.weight"].shape[0]),
      motion_hidden=int(motion["input_emb.weight"].shape[0]),
      movement_hidden=int(movement["main.0.weight"].shape[0]),
      movement_latent=int(movement["out_net.weight"].shape[0]),
      embedding=int(text["output_net.3.weight"].shape[0]), vocab_size=0)


def read_official_checkpoint(path: str) -> tuple[dict, dict, dict]:
  """The three state dicts of ``text_mot_match/model/finest.tar``, read with
  ``torch.load(weights_only=True)``: tensors and plain containers only, no code runs."""
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path}: no such file (the official evaluator is "
                            f"checkpoints/t2m/text_mot_match/model/finest.tar)")
  try:
    import torch
  except ImportError:
    raise ImportError("reading the official PyTorch evaluator needs torch (CPU build is "
                      "enough): pip install 'motiongpt-jax[bench]'") from None
  try:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
  except Exception as e:  # an unpickling refusal or a corrupt file
    raise ValueError(f"{path}: not a loadable weights-only PyTorch checkpoint ({e})") from None
  missing = [k for k in ("movement_encoder", "text_encoder", "motion_encoder")
             if k not in checkpoint]
  if missing:
    raise ValueError(f"{path}: missing {missing} (found {sorted(checkpoint)})")
  return tuple({k: v.detach().cpu().numpy() for k, v in checkpoint[name].items()}
               for name in ("movement_encoder", "text_encoder", "motion_encoder"))


def convert_official(checkpoint: str, glove: str, meta: str, data: str, out: str) -> Evaluator:
  """Writes an evaluator folder from the official files: finest.tar, the GloVe folder, and
  the evaluator's mean.npy/std.npy (``t2m/.../meta``); the tagger comes from ``data``."""
  dicts = read_official_checkpoint(checkpoint)
  for name in ("mean.npy", "std.npy"):
    path = os.path.join(meta, name)
    if not os.path.exists(path):
      raise FileNotFoundError(f"{path}: missing (the evaluator's normalisation statistics)")
  feature_dim = config_from_state_dicts(*dicts).feature_dim
  mean, std = humanml3d.load_mean_std_files(os.path.join(meta, "mean.npy"),
                                            os.path.join(meta, "std.npy"), feature_dim)
  return write_from_state_dicts(dicts, glove, mean, std, data, out)


def write_from_state_dicts(dicts, glove: str, mean: np.ndarray, std: np.ndarray, data: str,
                           out: str) -> Evaluator:
  """An evaluator folder in ``out`` from the reference's three state dicts (movement, text,
  motion encoders), the GloVe folder, its normalisation, and a tagger learnt from ``data``'s
  train captions."""
  movement, text, motion = dicts
  config = config_from_state_dicts(movement, text, motion)
  params = convert_state_dicts(movement, text, motion)
  vocab = W.WordVocabulary.from_glove(glove)
  if vocab.vectors.shape[1] != config.word_size:
    raise ValueError(f"{glove}: {vocab.vectors.shape[1]}-d vectors but the evaluator expects "
                     f"{config.word_size}")
  tagger = W.Tagger.from_captions(
      (c.text, c.tokens)
      for s in humanml3d.iter_samples(data, "train", normalize=False, include_spans=False)
      for c in s.captions)
  evaluator = Evaluator(config, params, vocab, tagger, mean, std)
  evaluator.save(out)
  np.savez(os.path.join(out, "params.npz"), **_flatten(params))
  np.save(os.path.join(out, "word_vectors.npy"), vocab.vectors)
  return evaluator
