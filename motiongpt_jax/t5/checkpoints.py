"""T5 weights in and out: Hugging Face folders, vocabulary enlargement, Orbax save/restore.

``load_hf_t5(path)`` reads a local Hugging Face T5 / T5 v1.1 / Flan-T5 folder
(``config.json`` plus ``model.safetensors``, a sharded ``model.safetensors.index.json``, or
``pytorch_model.bin`` when torch is installed) into the T5X parameter tree of ``network``.
Mapping (HF -> here): ``q/k/v.weight [h*d, e]`` -> ``query/key/value/kernel [e, h, d]``;
``o.weight [e, h*d]`` -> ``out/kernel [h, d, e]``; ``wi/wi_0/wi_1.weight [f, e]`` -> ``[e, f]``;
``wo.weight [e, f]`` -> ``[f, e]``; ``relative_attention_bias.weight [buckets, h]`` ->
``relpos_bias/rel_embedding [h, buckets]``; ``lm_head.weight [V, e]`` -> ``logits_dense/kernel
[e, V]``; layer norms' ``weight`` -> ``scale``. Nothing is downloaded.

``export_hf_t5(path, config, params)`` writes the inverse (``hf_tensors_from_params``) as a
folder ``transformers``' ``T5ForConditionalGeneration.from_pretrained`` loads. T5X
checkpoints (msgpack + TensorStore, or Orbax) are read and written by ``t5x_checkpoints``.
"""

from __future__ import annotations

import dataclasses
import json
import os

import jax
import numpy as np
import orbax.checkpoint as ocp

from motiongpt_jax.t5.config import T5Config
from motiongpt_jax.t5.network import abstract_params
from motiongpt_jax.train.checkpoints import CheckpointMismatchError, compare_shapes, \
    shapes_by_name


class CheckpointFormatError(ValueError):
  """A checkpoint folder is missing files or holds something this T5 cannot represent."""


_ACTIVATIONS = {"relu": ("relu",), "gated-gelu": ("gelu", "linear")}
# config.json key of ``export_hf_t5``: rows from this id on are padding (see below).
REAL_VOCAB_KEY = "motiongpt_real_vocab_size"


def _scaled_tied_output(hf: dict) -> bool:
  """Original T5 computes logits with the shared embedding, rescaled by d_model**-0.5; v1.1
  does not rescale and has its own lm_head. transformers >= 5 writes this as
  ``scale_decoder_outputs`` (and always sets tie_word_embeddings), older versions as
  ``tie_word_embeddings``."""
  if "scale_decoder_outputs" in hf:
    return bool(hf["scale_decoder_outputs"])
  return bool(hf.get("tie_word_embeddings", True))


def config_from_hf(hf: dict, path: str = "config.json") -> T5Config:
  proj = hf.get("feed_forward_proj", "relu")
  if proj not in _ACTIVATIONS:
    raise CheckpointFormatError(f"{path}: feed_forward_proj {proj!r} is not supported "
                                f"(expected one of {sorted(_ACTIVATIONS)})")
  try:
    return T5Config(
        vocab_size=hf["vocab_size"], emb_dim=hf["d_model"], num_heads=hf["num_heads"],
        head_dim=hf["d_kv"], mlp_dim=hf["d_ff"], num_encoder_layers=hf["num_layers"],
        num_decoder_layers=hf.get("num_decoder_layers") or hf["num_layers"],
        mlp_activations=_ACTIVATIONS[proj],
        logits_via_embedding=_scaled_tied_output(hf),
        dropout_rate=hf.get("dropout_rate", 0.1),
        relative_attention_num_buckets=hf.get("relative_attention_num_buckets", 32),
        relative_attention_max_distance=hf.get("relative_attention_max_distance", 128),
        layer_norm_epsilon=hf.get("layer_norm_epsilon", 1e-6),
        real_vocab_size=hf.get(REAL_VOCAB_KEY))
  except KeyError as e:
    raise CheckpointFormatError(f"{path}: missing field {e.args[0]!r}") from None


def _read_tensors(path: str) -> dict[str, np.ndarray]:
  single = os.path.join(path, "model.safetensors")
  index = os.path.join(path, "model.safetensors.index.json")
  torch_bin = os.path.join(path, "pytorch_model.bin")
  if os.path.exists(single) or os.path.exists(index):
    from safetensors.numpy import load_file
    if os.path.exists(single):
      return load_file(single)
    try:
      with open(index) as f:
        files = sorted(set(json.load(f)["weight_map"].values()))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
      raise CheckpointFormatError(f"{index}: expected JSON with a weight_map of tensor name "
                                  f"-> file ({type(e).__name__}: {e})") from None
    tensors = {}
    root = os.path.realpath(path)
    for name in files:
      shard = os.path.realpath(os.path.join(path, str(name)))
      if os.path.dirname(shard) != root or not shard.endswith(".safetensors"):
        raise CheckpointFormatError(f"{index}: weight_map names {name!r}; shards must be "
                                    f".safetensors files inside {path}")
      if not os.path.exists(shard):
        raise CheckpointFormatError(f"{index}: names {name!r}, which is not in {path}")
      tensors.update(load_file(shard))
    return tensors
  if os.path.exists(torch_bin):
    try:
      import torch
    except ImportError:
      raise CheckpointFormatError(f"{torch_bin}: reading pytorch_model.bin needs torch "
                                  f"(pip install 'motiongpt-jax[bench]'), or convert the "
                                  f"folder to safetensors") from None
    state = torch.load(torch_bin, map_location="cpu", weights_only=True)
    return {k: v.float().numpy() for k, v in state.items()}
  raise CheckpointFormatError(f"{path}: no model.safetensors, model.safetensors.index.json "
                              f"or pytorch_model.bin")


def load_hf_t5(path: str) -> tuple[T5Config, dict]:
  """(config, params) of a local Hugging Face T5 folder, in float32 numpy arrays."""
  config_path = os.path.join(path, "config.json")
  if not os.path.exists(config_path):
    raise CheckpointFormatError(f"{path}: no config.json (expected a Hugging Face T5 folder)")
  with open(config_path) as f:
    hf = json.load(f)
  config = config_from_hf(hf, config_path)
  return config, params_from_hf_tensors(config, _read_tensors(path), path)


def params_from_hf_tensors(config: T5Config, tensors: dict, where: str) -> dict:
  """The T5X parameter tree of ``config`` from tensors under ``transformers``' T5 names
  (``shared.weight``, ``encoder.block.0.layer.0.SelfAttention.q.weight``, ...), float32 numpy.
  Every tensor must find a place; ``where`` names the source in errors."""
  tensors = {k: np.asarray(v, np.float32) for k, v in tensors.items()}
  path = where
  used = set()

  def take(name):
    if name not in tensors:
      raise CheckpointFormatError(f"{path}: tensor {name!r} is missing")
    used.add(name)
    return tensors[name]

  h, d, e = config.num_heads, config.head_dim, config.emb_dim

  def attention(prefix):
    return {"query": {"kernel": take(prefix + "q.weight").T.reshape(e, h, d)},
            "key": {"kernel": take(prefix + "k.weight").T.reshape(e, h, d)},
            "value": {"kernel": take(prefix + "v.weight").T.reshape(e, h, d)},
            "out": {"kernel": take(prefix + "o.weight").T.reshape(h, d, e)}}

  def mlp(prefix):
    if config.gated:
      return {"wi_0": {"kernel": take(prefix + "wi_0.weight").T},
              "wi_1": {"kernel": take(prefix + "wi_1.weight").T},
              "wo": {"kernel": take(prefix + "wo.weight").T}}
    return {"wi": {"kernel": take(prefix + "wi.weight").T},
            "wo": {"kernel": take(prefix + "wo.weight").T}}

  def norm(name):
    return {"scale": take(name)}

  encoder = {"relpos_bias": {"rel_embedding": take(
      "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight").T}}
  for i in range(config.num_encoder_layers):
    p = f"encoder.block.{i}.layer."
    encoder[f"layers_{i}"] = {
        "pre_attention_layer_norm": norm(p + "0.layer_norm.weight"),
        "attention": attention(p + "0.SelfAttention."),
        "pre_mlp_layer_norm": norm(p + "1.layer_norm.weight"),
        "mlp": mlp(p + "1.DenseReluDense.")}
  encoder["encoder_norm"] = norm("encoder.final_layer_norm.weight")
  decoder = {"relpos_bias": {"rel_embedding": take(
      "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight").T}}
  for i in range(config.num_decoder_layers):
    p = f"decoder.block.{i}.layer."
    decoder[f"layers_{i}"] = {
        "pre_self_attention_layer_norm": norm(p + "0.layer_norm.weight"),
        "self_attention": attention(p + "0.SelfAttention."),
        "pre_cross_attention_layer_norm": norm(p + "1.layer_norm.weight"),
        "encoder_decoder_attention": attention(p + "1.EncDecAttention."),
        "pre_mlp_layer_norm": norm(p + "2.layer_norm.weight"),
        "mlp": mlp(p + "2.DenseReluDense.")}
  decoder["decoder_norm"] = norm("decoder.final_layer_norm.weight")
  shared = take("shared.weight")
  if not config.logits_via_embedding:
    # Untied output layer; transformers >= 5 may tie it to `shared` and not write it.
    head = take("lm_head.weight") if "lm_head.weight" in tensors else shared
    decoder["logits_dense"] = {"kernel": np.array(head.T)}
  params = {"token_embedder": {"embedding": shared}, "encoder": encoder, "decoder": decoder}
  # Aliases of the shared table that some exports write; anything else left over is an error.
  aliases = {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight"}
  unused = sorted(set(tensors) - used - aliases)
  if unused:
    raise CheckpointFormatError(f"{path}: tensors this T5 has no place for: "
                                f"{', '.join(unused[:5])}")
  return jax.tree_util.tree_map(np.ascontiguousarray, params)


def hf_tensors_from_params(config: T5Config, params) -> dict[str, np.ndarray]:
  """The inverse of ``params_from_hf_tensors``: ``transformers``' T5 tensor names -> float32
  numpy arrays. The tied (``logits_via_embedding``) model writes no ``lm_head.weight``."""
  h, d, e = config.num_heads, config.head_dim, config.emb_dim
  p = jax.tree_util.tree_map(lambda x: np.asarray(x, np.float32), params)
  out = {"shared.weight": p["token_embedder"]["embedding"]}

  def attention(prefix, a):
    for ours, theirs in (("query", "q"), ("key", "k"), ("value", "v")):
      out[prefix + theirs + ".weight"] = a[ours]["kernel"].reshape(e, h * d).T
    out[prefix + "o.weight"] = a["out"]["kernel"].reshape(h * d, e).T

  def mlp(prefix, m):
    for name in (("wi_0", "wi_1") if config.gated else ("wi",)) + ("wo",):
      out[prefix + name + ".weight"] = m[name]["kernel"].T

  enc, dec = p["encoder"], p["decoder"]
  out["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"] = (
      enc["relpos_bias"]["rel_embedding"].T)
  for i in range(config.num_encoder_layers):
    layer, pre = enc[f"layers_{i}"], f"encoder.block.{i}.layer."
    out[pre + "0.layer_norm.weight"] = layer["pre_attention_layer_norm"]["scale"]
    attention(pre + "0.SelfAttention.", layer["attention"])
    out[pre + "1.layer_norm.weight"] = layer["pre_mlp_layer_norm"]["scale"]
    mlp(pre + "1.DenseReluDense.", layer["mlp"])
  out["encoder.final_layer_norm.weight"] = enc["encoder_norm"]["scale"]
  out["decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"] = (
      dec["relpos_bias"]["rel_embedding"].T)
  for i in range(config.num_decoder_layers):
    layer, pre = dec[f"layers_{i}"], f"decoder.block.{i}.layer."
    out[pre + "0.layer_norm.weight"] = layer["pre_self_attention_layer_norm"]["scale"]
    attention(pre + "0.SelfAttention.", layer["self_attention"])
    out[pre + "1.layer_norm.weight"] = layer["pre_cross_attention_layer_norm"]["scale"]
    attention(pre + "1.EncDecAttention.", layer["encoder_decoder_attention"])
    out[pre + "2.layer_norm.weight"] = layer["pre_mlp_layer_norm"]["scale"]
    mlp(pre + "2.DenseReluDense.", layer["mlp"])
  out["decoder.final_layer_norm.weight"] = dec["decoder_norm"]["scale"]
  if not config.logits_via_embedding:
    out["lm_head.weight"] = dec["logits_dense"]["kernel"].T
  return {k: np.ascontiguousarray(v) for k, v in out.items()}


def hf_config(config: T5Config, eos_id: int = 1, pad_id: int = 0) -> dict:
  """``transformers`` T5 config.json fields of ``config``. The output layer is written with
  ``tie_word_embeddings``: True = tied and rescaled by d_model**-0.5 (original T5), False =
  own ``lm_head`` (v1.1); transformers >= 5 derives ``scale_decoder_outputs`` from it and
  keeps an ``lm_head.weight`` that differs from ``shared.weight`` untied."""
  if tuple(config.mlp_activations) not in _ACTIVATIONS.values():
    raise CheckpointFormatError(f"mlp_activations {config.mlp_activations} have no "
                                f"transformers feed_forward_proj (expected one of "
                                f"{sorted(_ACTIVATIONS.values())})")
  proj = {v: k for k, v in _ACTIVATIONS.items()}[tuple(config.mlp_activations)]
  out = {"architectures": ["T5ForConditionalGeneration"], "model_type": "t5",
         "vocab_size": config.vocab_size, "d_model": config.emb_dim, "d_kv": config.head_dim,
         "d_ff": config.mlp_dim, "num_layers": config.num_encoder_layers,
         "num_decoder_layers": config.num_decoder_layers, "num_heads": config.num_heads,
         "relative_attention_num_buckets": config.relative_attention_num_buckets,
         "relative_attention_max_distance": config.relative_attention_max_distance,
         "dropout_rate": config.dropout_rate, "layer_norm_epsilon": config.layer_norm_epsilon,
         "feed_forward_proj": proj, "tie_word_embeddings": bool(config.logits_via_embedding),
         "is_encoder_decoder": True, "decoder_start_token_id": pad_id, "pad_token_id": pad_id,
         "eos_token_id": eos_id}
  if config.real_vocab_size is not None and config.real_vocab_size < config.vocab_size:
    out[REAL_VOCAB_KEY] = config.real_vocab_size
  return out


def export_hf_t5(path: str, config: T5Config, params, eos_id: int = 1, pad_id: int = 0) -> None:
  """A Hugging Face T5 folder (config.json, model.safetensors, generation_config.json) that
  ``T5ForConditionalGeneration.from_pretrained`` and ``load_hf_t5`` read. Rows past
  ``real_vocab_size`` (padding to a multiple of 128) are written, recorded in config.json
  and listed as ``suppress_tokens`` in generation_config.json so ``generate`` never emits
  them (this project masks them out of the softmax)."""
  from safetensors.numpy import save_file
  os.makedirs(path, exist_ok=True)
  tensors = hf_tensors_from_params(config, params)
  params_from_hf_tensors(config, tensors, "export")  # the inverse must account for all
  save_file(tensors, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})
  generation = {"decoder_start_token_id": pad_id, "pad_token_id": pad_id,
                "eos_token_id": eos_id}
  if config.real_vocab_size is not None and config.real_vocab_size < config.vocab_size:
    generation["suppress_tokens"] = list(range(config.real_vocab_size, config.vocab_size))
  for name, value in (("config.json", hf_config(config, eos_id, pad_id)),
                      ("generation_config.json", generation)):
    with open(os.path.join(path, name), "w") as f:
      json.dump(value, f, indent=2)


def round_up(n: int, multiple: int) -> int:
  return -(-n // multiple) * multiple


def enlarge_vocab(config: T5Config, params: dict, num_new_tokens: int,
                  used_vocab: int | None = None, multiple: int = 128,
                  seed: int = 0) -> tuple[T5Config, dict]:
  """Room for ``num_new_tokens`` ids after the ``used_vocab`` ids in use.

  Rows [used, used + new) are (re-)initialised from the per-dimension mean and standard
  deviation of the rows in use (T5's 28 unused rows past its 32100 ids are reused before
  the table grows). The table grows to a multiple of ``multiple``; rows past
  used + new are padding, masked out of the softmax via ``real_vocab_size``. The output
  layer is enlarged the same way when it is not tied.
  """
  used = used_vocab or config.real_vocab_size or config.vocab_size
  needed = used + num_new_tokens
  rows = max(round_up(needed, multiple), config.vocab_size)
  rng = np.random.default_rng(seed)

  def grow(table):  # table [V, e]
    table = np.asarray(table, np.float32)
    mean, std = table[:used].mean(0), table[:used].std(0)
    out = np.zeros((rows, table.shape[1]), np.float32)
    out[:table.shape[0]] = table
    out[used:needed] = mean + std * rng.standard_normal((num_new_tokens, table.shape[1]))
    out[needed:] = mean  # padding rows: masked out of the softmax, never looked up
    return out

  params = jax.tree_util.tree_map(lambda x: x, params)  # shallow copy of the dict tree
  params["token_embedder"] = {"embedding": grow(params["token_embedder"]["embedding"])}
  if not config.logits_via_embedding:
    kernel = params["decoder"]["logits_dense"]["kernel"]
    params["decoder"] = dict(params["decoder"])
    params["decoder"]["logits_dense"] = {"kernel": grow(np.asarray(kernel).T).T.copy()}
  return config.replace(vocab_size=rows, real_vocab_size=needed), params


def config_to_dict(config: T5Config) -> dict:
  d = dataclasses.asdict(config)
  d["dtype"] = str(np.dtype(config.activation_dtype))
  return d


def config_from_dict(d: dict) -> T5Config:
  d = dict(d)
  d["mlp_activations"] = tuple(d["mlp_activations"])
  return T5Config(**d)


def save_params(directory: str, config: T5Config, params) -> None:
  """Parameters (Orbax, atomic) and ``t5_config.json`` under ``directory``."""
  directory = os.path.abspath(directory)
  os.makedirs(directory, exist_ok=True)
  target = os.path.join(directory, "params")
  checkpointer = ocp.StandardCheckpointer()
  checkpointer.save(target, params, force=True)
  checkpointer.wait_until_finished()
  tmp = os.path.join(directory, "t5_config.json.tmp")
  with open(tmp, "w") as f:
    json.dump(config_to_dict(config), f, indent=2)
  os.replace(tmp, os.path.join(directory, "t5_config.json"))


def restore_params(directory: str, config: T5Config | None = None):
  """(config, params) from ``save_params``; with ``config``, checks every shape against it."""
  directory = os.path.abspath(directory)
  config_path = os.path.join(directory, "t5_config.json")
  if not os.path.exists(config_path):
    raise CheckpointFormatError(f"{directory}: no t5_config.json (not a saved T5)")
  with open(config_path) as f:
    saved = config_from_dict(json.load(f))
  config = config or saved
  abstract = abstract_params(config)
  checkpointer = ocp.StandardCheckpointer()
  target = os.path.join(directory, "params")
  found = shapes_by_name(checkpointer.metadata(target).item_metadata.tree)
  compare_shapes(shapes_by_name(abstract), found, target)
  return config, checkpointer.restore(target, abstract)


__all__ = ["load_hf_t5", "params_from_hf_tensors", "hf_tensors_from_params", "hf_config",
           "export_hf_t5", "enlarge_vocab", "save_params", "restore_params",
           "CheckpointFormatError", "CheckpointMismatchError"]
