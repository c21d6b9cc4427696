"""PyTorch statements of the original modules, for parity tests and the benchmarks.

Needs ``torch`` (the ``test`` extra). Each class states a reference network as its state-dict
names describe it, so a state dict made here has the released checkpoints' keys:

- ``VQVAE``: MotionGPT's ``mgpt_vq.py`` (T2M-GPT's VQ-VAE), layout [B, C, T]: encoder and
  decoder as ``encoder.model.N`` / ``decoder.model.N``, residual stacks as
  ``...model.N.model.M`` with pre-activation blocks ``conv1`` (dilated 3) and ``conv2`` (1x1),
  the codebook as ``quantizer.codebook``.
- ``Movement`` and ``Sequence``: Guo et al.'s (text-to-motion) evaluator modules, the
  movement convolutions and the packed bidirectional GRU encoders (``input_emb``, ``gru``,
  ``output_net``, the learnt initial state ``hidden``, and for the text encoder ``pos_emb``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


class ResBlock(nn.Module):
  """x + conv1x1(ReLU(conv3_dilated(ReLU(x))))."""

  def __init__(self, width: int, dilation: int):
    super().__init__()
    self.activation1, self.activation2 = nn.ReLU(), nn.ReLU()
    self.conv1 = nn.Conv1d(width, width, 3, 1, dilation, dilation)
    self.conv2 = nn.Conv1d(width, width, 1)

  def forward(self, x):
    return x + self.conv2(self.activation2(self.conv1(self.activation1(x))))


class ResStack(nn.Module):
  """Dilations growth**(depth-1) .. 1."""

  def __init__(self, width: int, depth: int, growth: int):
    super().__init__()
    self.model = nn.Sequential(*[ResBlock(width, growth ** d) for d in reversed(range(depth))])

  def forward(self, x):
    return self.model(x)


class Holder(nn.Module):
  def __init__(self, *layers):
    super().__init__()
    self.model = nn.Sequential(*layers)

  def forward(self, x):
    return self.model(x)


class VQVAE(nn.Module):
  """The reference VQ-VAE; ``encode``/``decode`` take one motion, the ``*_batch`` forms
  [B, T, D] / [B, N] (normalised features, codes)."""

  def __init__(self, feats: int = 263, width: int = 512, code_dim: int = 512,
               codes: int = 512, down_t: int = 2, depth: int = 3, growth: int = 3):
    super().__init__()
    self.encoder = Holder(
        nn.Conv1d(feats, width, 3, 1, 1), nn.ReLU(),
        *[nn.Sequential(nn.Conv1d(width, width, 4, 2, 1), ResStack(width, depth, growth))
          for _ in range(down_t)], nn.Conv1d(width, code_dim, 3, 1, 1))
    self.decoder = Holder(
        nn.Conv1d(code_dim, width, 3, 1, 1), nn.ReLU(),
        *[nn.Sequential(ResStack(width, depth, growth), nn.Upsample(scale_factor=2),
                        nn.Conv1d(width, width, 3, 1, 1)) for _ in range(down_t)],
        nn.Conv1d(width, width, 3, 1, 1), nn.ReLU(), nn.Conv1d(width, feats, 3, 1, 1))
    self.quantizer = nn.Module()
    self.quantizer.register_buffer("codebook", torch.randn(codes, code_dim))

  def latents_batch(self, features):  # [B, T, D] -> [B, T // 4, code_dim]
    return self.encoder(torch.as_tensor(features).permute(0, 2, 1)).permute(0, 2, 1)

  def nearest(self, z):  # [..., code_dim] -> codes [...]
    book = self.quantizer.codebook
    distance = (z ** 2).sum(-1, keepdim=True) - 2 * z @ book.T + (book ** 2).sum(-1)
    return distance.argmin(-1)

  def decode_batch(self, codes):  # [B, N] -> [B, 4N, D]
    z = self.quantizer.codebook[torch.as_tensor(codes)]
    return self.decoder(z.permute(0, 2, 1)).permute(0, 2, 1)

  def encode(self, features):  # [T, D] -> codes [T // 4]
    return self.nearest(self.latents_batch(torch.as_tensor(features)[None])[0])

  def decode(self, codes):  # [N] -> [4N, D]
    return self.decode_batch(torch.as_tensor(codes)[None])[0]


class Movement(nn.Module):
  """The movement encoder: two k4/s2/p1 convolutions (dropout, leaky ReLU), then a linear."""

  def __init__(self, d: int, hidden: int, latent: int):
    super().__init__()
    self.main = nn.Sequential(nn.Conv1d(d, hidden, 4, 2, 1), nn.Dropout(0.2), nn.LeakyReLU(0.2),
                              nn.Conv1d(hidden, latent, 4, 2, 1), nn.Dropout(0.2),
                              nn.LeakyReLU(0.2))
    self.out_net = nn.Linear(latent, latent)

  def forward(self, x):  # [B, T, d] -> [B, T // 4, latent]
    return self.out_net(self.main(x.permute(0, 2, 1)).permute(0, 2, 1))


class Sequence(nn.Module):
  """A BiGRU encoder over packed sequences (the motion encoder; with ``pos_size`` the text
  encoder, whose word vectors first get a linear image of the POS one-hots added)."""

  def __init__(self, input_size: int, hidden: int, output: int, pos_size: int | None = None):
    super().__init__()
    if pos_size:
      self.pos_emb = nn.Linear(pos_size, input_size)
    self.input_emb = nn.Linear(input_size, hidden)
    self.gru = nn.GRU(hidden, hidden, batch_first=True, bidirectional=True)
    self.output_net = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.LayerNorm(hidden),
                                    nn.LeakyReLU(0.2), nn.Linear(hidden, output))
    self.hidden = nn.Parameter(torch.randn(2, 1, hidden))

  def forward(self, x, lengths, pos=None):
    if pos is not None:
      x = x + self.pos_emb(pos)
    x = self.input_emb(x)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    _, last = self.gru(packed, self.hidden.repeat(1, x.shape[0], 1))
    return self.output_net(torch.cat([last[0], last[1]], -1))
