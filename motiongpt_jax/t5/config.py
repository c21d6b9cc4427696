"""T5 architecture configs, named as the Hugging Face / T5X checkpoints they describe.

Sizes from the T5 paper (Raffel et al. 2020, table 14) and the T5 v1.1 / Flan-T5 release
notes: v1.1 uses a gated-GELU MLP, untied output logits and no dropout in pre-training, and
changes the small/large shapes (d_ff 1024 and 2816, small has 8 layers and 6 heads).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class T5Config:
  vocab_size: int = 32128            # embedding rows (a multiple of 128 for TPU)
  emb_dim: int = 512
  num_heads: int = 8
  head_dim: int = 64
  mlp_dim: int = 2048
  num_encoder_layers: int = 6
  num_decoder_layers: int = 6
  mlp_activations: tuple[str, ...] = ("relu",)   # ("gelu", "linear") = gated-GELU (v1.1)
  logits_via_embedding: bool = True               # tied input/output embedding (original T5)
  dropout_rate: float = 0.1
  relative_attention_num_buckets: int = 32
  relative_attention_max_distance: int = 128
  layer_norm_epsilon: float = 1e-6
  dtype: Any = "float32"             # activations; parameters are always float32
  float32_attention_logits: bool = True
  real_vocab_size: int | None = None  # rows >= this are padding: masked out of the softmax

  @property
  def activation_dtype(self):
    return jnp.dtype(self.dtype)

  @property
  def gated(self) -> bool:
    return len(self.mlp_activations) > 1

  def replace(self, **changes) -> "T5Config":
    return dataclasses.replace(self, **changes)


_V1_1 = dict(mlp_activations=("gelu", "linear"), logits_via_embedding=False, dropout_rate=0.0)

PRESETS: dict[str, T5Config] = {
    # A CPU-sized model for tests, the demo and benchmarks (v1.1 style).
    "tiny": T5Config(emb_dim=128, num_heads=4, head_dim=32, mlp_dim=256, num_encoder_layers=2,
                     num_decoder_layers=2, vocab_size=1024, **_V1_1),
    "t5_small": T5Config(emb_dim=512, num_heads=8, head_dim=64, mlp_dim=2048,
                         num_encoder_layers=6, num_decoder_layers=6),
    "t5_base": T5Config(emb_dim=768, num_heads=12, head_dim=64, mlp_dim=3072,
                        num_encoder_layers=12, num_decoder_layers=12),
    "t5_large": T5Config(emb_dim=1024, num_heads=16, head_dim=64, mlp_dim=4096,
                         num_encoder_layers=24, num_decoder_layers=24),
    "t5_1_1_small": T5Config(emb_dim=512, num_heads=6, head_dim=64, mlp_dim=1024,
                             num_encoder_layers=8, num_decoder_layers=8, **_V1_1),
    "t5_1_1_base": T5Config(emb_dim=768, num_heads=12, head_dim=64, mlp_dim=2048,
                            num_encoder_layers=12, num_decoder_layers=12, **_V1_1),
    "t5_1_1_large": T5Config(emb_dim=1024, num_heads=16, head_dim=64, mlp_dim=2816,
                             num_encoder_layers=24, num_decoder_layers=24, **_V1_1),
    "t5_1_1_xl": T5Config(emb_dim=2048, num_heads=32, head_dim=64, mlp_dim=5120,
                          num_encoder_layers=24, num_decoder_layers=24, **_V1_1),
}
# Flan-T5 checkpoints share the v1.1 architecture.
PRESETS.update({name.replace("t5_1_1", "flan_t5"): cfg for name, cfg in list(PRESETS.items())
                if name.startswith("t5_1_1")})
# Short names used by configs: small/base/large are the v1.1 (Flan-T5) shapes MotionGPT uses.
PRESETS.update({"small": PRESETS["t5_1_1_small"], "base": PRESETS["t5_1_1_base"],
                "large": PRESETS["t5_1_1_large"], "xl": PRESETS["t5_1_1_xl"]})


# The fields a config may change in a preset (``configs/t5_pretrain.py``'s ``model`` block).
SHAPE_FIELDS = ("emb_dim", "num_heads", "head_dim", "mlp_dim", "num_encoder_layers",
                "num_decoder_layers")


def get_preset(name: str, **overrides) -> T5Config:
  if name not in PRESETS:
    raise ValueError(f"unknown T5 preset {name!r}; choose one of {', '.join(sorted(PRESETS))}")
  return PRESETS[name].replace(**overrides)
