"""The released MotionGPT (``motiongpt_s3_h3d.tar``) as an ordinary run folder.

The release is a PyTorch Lightning checkpoint; it is read by ``torch_pickle`` (no torch, no
code from the file runs). Its ``state_dict`` (OpenMotionLab/MotionGPT ``mGPT/models/mgpt.py``,
``mGPT/archs/mgpt_vq.py``, ``mgpt_lm.py``, ``mGPT/metrics/``) holds:

  vae.encoder.model.*, vae.decoder.model.*   the VQ-VAE (``configs/vq/default.yaml``)
  vae.quantizer.codebook                     its codes [512, 512] (the EMA sums are not saved)
  lm.language_model.*                        Flan-T5-base with 32,100 + 515 rows, untied lm_head
  metrics.{TM2T,M2T,MM}Metrics.t2m_*         three copies of the T2M evaluator's networks
  _losses.*                                  loss accumulators (skipped)

and the rest of the file (optimizer state, learning-rate schedulers, hyper-parameters as a
pickled OmegaConf object, loops and callbacks) is skipped. Any other weight key, or a missing
one, is refused with its name.

The output ``OUT`` is a language-model run like one of ``motiongpt train``:

  OUT/config.json, t5_config.json, checkpoints/0/   the T5 (rows padded to a multiple of 128,
                                                    the padding masked out of the softmax)
  OUT/spiece.model                                   the Flan-T5 SentencePiece model
  OUT/meta/mean.npy, std.npy                         the statistics the VQ-VAE expects
  OUT/vqvae/                                         the VQ-VAE as a train-vqvae run
  OUT/tokens/tokens.json                             names OUT/vqvae, as ``tokenize`` does

``config.json`` says ``interface = "motiongpt"`` with the reference's prompts and decoding
limits, so ``MotionGPT.load`` talks to it as the release expects (``inference``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time

import ml_collections
import numpy as np

from motiongpt_jax import config_utils, runs, torch_pickle
from motiongpt_jax.data import humanml3d
from motiongpt_jax.pipeline.report import Reporter
from motiongpt_jax.t5 import checkpoints as t5_checkpoints
from motiongpt_jax.train.checkpoints import Checkpointer
from motiongpt_jax.vocab import MotionTextVocabulary

INTERFACE = "motiongpt"
T5_PREFIX = "lm.language_model."
VAE_PREFIX = "vae."
METRICS_PREFIX = "metrics."
LOSSES_PREFIX = "_losses."
TEXT_EXTRA_IDS = 100  # T5's sentinels: motion ids start at SentencePiece size + 100

# The reference's evaluation prompts (mgpt_lm.py ``generate_conditional``), under the names of
# the instruction templates inference fills. A caption is inserted unquoted (the reference
# quotes it at random, with probability 0.5).
PROMPTS = {
    "t2m_caption": "Generate motion: <Caption_Placeholder>",
    "t2m_caption_frames": "Generate motion with <Frame_Placeholder> frames: <Caption_Placeholder>",
    "m2t_caption": "Generate text: <Motion_Placeholder>",
    "m2m_prediction": "Predict motion: <Motion_Placeholder_s1>",
    "m2m_inbetween": "Complete the masked motion: <Motion_Placeholder_Masked>",
}
# ``template_instructions.json`` (family, task) for each prompt, when the user gives the file.
TEMPLATE_TASKS = {
    "t2m_caption": ("Text-to-Motion", "caption"),
    "t2m_caption_frames": ("Text-to-Motion", "caption_framelen"),
    "t2m_caption_seconds": ("Text-to-Motion", "caption_seclen"),
    "m2t_caption": ("Motion-to-Text", "caption"),
    "m2m_prediction": ("Motion-to-Motion", "motion_prediction"),
    "m2m_inbetween": ("Motion-to-Motion", "motion_inbetween"),
}
# HF ``generate(max_length=...)`` counts the decoder start token: 128 and 40 in the reference.
MOTION_MAX_TOKENS = 127
TEXT_MAX_TOKENS = 39
INPUTS_LENGTH = 256  # the reference tokenizer's max_length


@dataclasses.dataclass
class ImportResult:
  out: str
  vqvae: str
  t5_config: object
  vq_model: dict
  skipped: list[str]           # what of the file was not converted, one line each
  evaluator: str | None        # the evaluator folder written, if any
  has_evaluator_weights: bool
  seconds: float


# ------------------------------------------------------------------------ the state dict
def split_state_dict(root, where: str) -> tuple[dict, list[str]]:
  """({'vae': {...}, 'lm': {...}, 'metrics': {...}, 'losses': {...}}, skipped lines) of a
  Lightning checkpoint's ``state_dict``; names outside these groups are refused."""
  if isinstance(root, dict) and "state_dict" in root:
    state = root["state_dict"]
    others = [k for k in root if k != "state_dict"]
  else:
    state, others = root, []
  if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
    raise ValueError(f"{where}: expected a PyTorch Lightning checkpoint (a dict with a "
                     f"'state_dict' of tensor names), got {type(state).__name__}")
  groups = {"vae": {}, "lm": {}, "metrics": {}, "losses": {}}
  prefixes = (("vae", VAE_PREFIX), ("lm", T5_PREFIX), ("metrics", METRICS_PREFIX),
              ("losses", LOSSES_PREFIX))
  unknown = []
  for key, value in state.items():
    for group, prefix in prefixes:
      if key.startswith(prefix):
        groups[group][key[len(prefix):]] = value
        break
    else:
      unknown.append(key)
  if unknown:
    raise ValueError(f"{where}: state_dict has weights this import has no place for: "
                     f"{', '.join(unknown[:5])} (expected names under {VAE_PREFIX}, "
                     f"{T5_PREFIX}, {METRICS_PREFIX} or {LOSSES_PREFIX})")
  for group, prefix in prefixes[:2]:
    if not groups[group]:
      raise ValueError(f"{where}: state_dict has no {prefix}* weights: not a MotionGPT "
                       f"checkpoint")
  for key, value in list(groups["vae"].items()) + list(groups["lm"].items()):
    if not isinstance(value, torch_pickle.TensorRef):
      raise ValueError(f"{where}: state_dict entry {key!r} is {type(value).__name__}, "
                       f"expected a tensor")
  skipped = [f"{key}: {_describe(root[key])}" for key in others]
  if groups["losses"]:
    skipped.append(f"{LOSSES_PREFIX}*: {len(groups['losses'])} loss accumulators")
  return groups, skipped


def _describe(value) -> str:
  tensors = _count_tensors(value)
  if tensors:
    return f"{tensors} tensors"
  if isinstance(value, torch_pickle.Opaque):
    return f"a {value.module}.{value.name} object (not built)"
  if isinstance(value, (int, float, str)):
    return repr(value)[:40]
  return type(value).__name__


def _count_tensors(value, depth: int = 0) -> int:
  if isinstance(value, torch_pickle.TensorRef):
    return 1
  if depth > 8:
    return 0
  if isinstance(value, dict):
    return sum(_count_tensors(v, depth + 1) for v in value.values())
  if isinstance(value, (list, tuple)):
    return sum(_count_tensors(v, depth + 1) for v in value)
  return 0


def hyper_parameter(root, key: str, default):
  """A plain value named ``key`` in the checkpoint's (untrusted, unbuilt) hyper-parameters,
  or ``default`` when it is absent or not a plain number."""
  if not isinstance(root, dict) or "hyper_parameters" not in root:
    return default
  for value in torch_pickle.opaque_values(root["hyper_parameters"], key):
    if isinstance(value, int) and not isinstance(value, bool):
      return value
  return default


# ------------------------------------------------------------------------------ VQ-VAE
def vqvae_key_map(down_t: int, depth: int) -> dict[tuple[str, ...], str]:
  """Flax parameter path (module path + 'kernel'/'bias') -> the reference's tensor name
  without the ``.weight``/``.bias`` suffix (``mgpt_vq.py``: ``encoder.model`` = conv, ReLU,
  down_t x (strided conv, Resnet1D), conv; ``decoder.model`` = conv, ReLU, down_t x (Resnet1D,
  upsample, conv), conv, ReLU, conv; a Resnet1D block is ``model.j.conv1`` (dilated) and
  ``conv2`` (1x1))."""
  names = {("encoder", "conv_in"): "encoder.model.0",
           ("encoder", "conv_out"): f"encoder.model.{2 + down_t}",
           ("decoder", "conv_in"): "decoder.model.0",
           ("decoder", "conv_mid"): f"decoder.model.{2 + down_t}",
           ("decoder", "conv_out"): f"decoder.model.{4 + down_t}"}
  for i in range(down_t):
    names[("encoder", f"down_{i}")] = f"encoder.model.{2 + i}.0"
    names[("decoder", f"up_{i}")] = f"decoder.model.{2 + i}.2"
    for j in range(depth):
      for part, stack in (("encoder", f"encoder.model.{2 + i}.1"),
                          ("decoder", f"decoder.model.{2 + i}.0")):
        names[(part, f"res_{i}", f"block_{j}_conv_dilated")] = f"{stack}.model.{j}.conv1"
        names[(part, f"res_{i}", f"block_{j}_conv_1x1")] = f"{stack}.model.{j}.conv2"
  return names


def vqvae_architecture(vae: dict, where: str, dilation_growth: int = 3) -> dict:
  """The model block (configs/vqvae.py names) read off the tensor shapes. The dilation
  growth is not in the weights: the caller passes the checkpoint's (3 in the release)."""
  def shape(name):
    if name not in vae:
      raise ValueError(f"{where}: tensor {VAE_PREFIX}{name} is missing")
    return vae[name].shape
  width, feature_dim, _ = shape("encoder.model.0.weight")
  down_t = 0
  while f"encoder.model.{2 + down_t}.0.weight" in vae:
    down_t += 1
  depth = 0
  while f"encoder.model.2.1.model.{depth}.conv1.weight" in vae:
    depth += 1
  if down_t == 0 or depth == 0:
    raise ValueError(f"{where}: {VAE_PREFIX}encoder has no down-sampling blocks "
                     f"(encoder.model.2.0.weight, encoder.model.2.1.model.0.conv1.weight)")
  code_dim = shape(f"encoder.model.{2 + down_t}.weight")[0]
  num_codes, book_dim = shape("quantizer.codebook")
  if book_dim != code_dim:
    raise ValueError(f"{where}: {VAE_PREFIX}quantizer.codebook has codes of {book_dim} "
                     f"values, the encoder writes {code_dim}")
  return {"width": int(width), "code_dim": int(code_dim), "num_codes": int(num_codes),
          "down_t": down_t, "depth": depth, "dilation_growth": int(dilation_growth),
          "feature_dim": int(feature_dim)}


def convert_vqvae(vae: dict, where: str, dilation_growth: int = 3):
  """(architecture dict, Flax params, codebook [K, D]) from the ``vae.*`` tensors."""
  import jax
  import jax.numpy as jnp
  from motiongpt_jax.vqvae import model as vq_model

  arch = vqvae_architecture(vae, where, dilation_growth)
  names = vqvae_key_map(arch["down_t"], arch["depth"])
  expected = {f"{n}.{s}" for n in names.values() for s in ("weight", "bias")}
  expected.add("quantizer.codebook")
  unknown, missing = sorted(set(vae) - expected), sorted(expected - set(vae))
  if unknown or missing:
    raise ValueError(f"{where}: the VQ-VAE's tensors do not match its architecture "
                     f"({arch['down_t']} down-sampling stages of {arch['depth']} residual "
                     f"blocks): " + "; ".join(
                         ([f"unknown {VAE_PREFIX}{k}" for k in unknown[:3]]) +
                         ([f"missing {VAE_PREFIX}{k}" for k in missing[:3]])))
  model = vq_model.MotionVQVAE(arch["feature_dim"], arch["width"], arch["code_dim"],
                               arch["down_t"], arch["depth"], arch["dilation_growth"])
  unit = 2 ** arch["down_t"]
  abstract = jax.eval_shape(lambda: model.init(
      jax.random.PRNGKey(0), jnp.zeros((1, 2 * unit, arch["feature_dim"])))["params"])
  params = {}
  for path, name in names.items():
    node = params
    for part in path:
      node = node.setdefault(part, {})
    target = abstract
    for part in path:
      target = target[part]
    kernel = vae[f"{name}.weight"].numpy().astype(np.float32).transpose(2, 1, 0)
    bias = vae[f"{name}.bias"].numpy().astype(np.float32)
    for value, leaf, suffix in ((kernel, "kernel", "weight"), (bias, "bias", "bias")):
      if value.shape != tuple(target[leaf].shape):
        raise ValueError(f"{where}: {VAE_PREFIX}{name}.{suffix} has shape "
                         f"{_torch_shape(value, leaf)}, expected "
                         f"{_torch_shape(np.zeros(target[leaf].shape), leaf)}")
      node[leaf] = np.ascontiguousarray(value)
  codebook = vae["quantizer.codebook"].numpy().astype(np.float32)
  return arch, params, codebook


def _torch_shape(value, leaf: str) -> tuple:
  return tuple(value.shape[::-1]) if leaf == "kernel" else tuple(value.shape)


# ---------------------------------------------------------------------------------- T5
def convert_t5(lm: dict, hf_config: dict, hf_path: str, where: str):
  """(T5Config, params) from the ``lm.language_model.*`` tensors and the Flan-T5 folder's
  config.json; the vocabulary is the checkpoint's embedding rows, rounded up to a multiple
  of 128 (padding rows are zero and masked out of the softmax via ``real_vocab_size``)."""
  shared = lm.get("shared.weight")
  if shared is None:
    raise ValueError(f"{where}: tensor {T5_PREFIX}shared.weight is missing")
  rows = shared.shape[0]
  config = t5_checkpoints.config_from_hf(hf_config, hf_path)
  if config.emb_dim != shared.shape[1]:
    raise ValueError(f"{where}: {T5_PREFIX}shared.weight is {tuple(shared.shape)}, but "
                     f"{hf_path} describes d_model {config.emb_dim}: give the Flan-T5 "
                     f"folder the model was trained from")
  tensors = {}
  for key, ref in lm.items():
    if key in ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight"):
      if not ref.same_view(shared) and not np.array_equal(ref.numpy(), shared.numpy()):
        raise ValueError(f"{where}: {T5_PREFIX}{key} differs from shared.weight (this T5 "
                         f"has one input embedding)")
      continue
    tensors[key] = ref.numpy()
  head = tensors.get("lm_head.weight")
  if head is not None and head.shape[0] != rows:
    raise ValueError(f"{where}: {T5_PREFIX}lm_head.weight has {head.shape[0]} rows, "
                     f"shared.weight {rows}")
  config = config.replace(vocab_size=rows)
  params = t5_checkpoints.params_from_hf_tensors(config, tensors, f"{where}: {T5_PREFIX}*")
  del tensors
  padded = t5_checkpoints.round_up(rows, 128)
  if padded != rows:
    params["token_embedder"]["embedding"] = np.pad(
        params["token_embedder"]["embedding"], ((0, padded - rows), (0, 0)))
    if not config.logits_via_embedding:
      params["decoder"]["logits_dense"]["kernel"] = np.pad(
          params["decoder"]["logits_dense"]["kernel"], ((0, 0), (0, padded - rows)))
  return config.replace(vocab_size=padded, real_vocab_size=rows), params


def read_t5_folder(folder: str) -> tuple[dict, str]:
  """(config.json as a dict, spiece.model path) of a local Flan-T5 folder."""
  config_path = os.path.join(folder, "config.json")
  spm = os.path.join(folder, "spiece.model")
  for path, what in ((config_path, "the T5's config.json"),
                     (spm, "the SentencePiece model (spiece.model)")):
    if not os.path.exists(path):
      raise FileNotFoundError(f"{path}: missing ({what}; --t5 is the flan-t5-base folder "
                              f"MotionGPT was trained from)")
  try:
    with open(config_path) as f:
      hf = json.load(f)
  except ValueError as e:
    raise ValueError(f"{config_path}: not JSON ({e})") from None
  if not isinstance(hf, dict) or hf.get("model_type", "t5") != "t5":
    raise ValueError(f"{config_path}: expected a T5 config (model_type 't5')")
  return hf, spm


# --------------------------------------------------------------------------- evaluator
EVALUATOR_PARTS = {"t2m_moveencoder": "movement", "t2m_textencoder": "text",
                   "t2m_motionencoder": "motion"}


def evaluator_state_dicts(metrics: dict, where: str):
  """(movement, text, motion) state dicts (numpy) of the T2M evaluator held by the metric
  modules (TM2TMetrics first), or None when the checkpoint has none."""
  by_metric: dict[str, dict] = {}
  for key, ref in metrics.items():
    metric, _, rest = key.partition(".")
    part, _, name = rest.partition(".")
    if part in EVALUATOR_PARTS and name and isinstance(ref, torch_pickle.TensorRef):
      by_metric.setdefault(metric, {}).setdefault(EVALUATOR_PARTS[part], {})[name] = ref
  complete = [m for m, parts in by_metric.items() if len(parts) == 3]
  if not complete:
    return None
  metric = "TM2TMetrics" if "TM2TMetrics" in complete else sorted(complete)[0]
  parts = by_metric[metric]
  return tuple({k: v.numpy().astype(np.float32) for k, v in parts[name].items()}
               for name in ("movement", "text", "motion"))


def write_evaluator(dicts, glove: str, meta: str, data: str, out: str):
  """An evaluator folder from the three state dicts, as ``convert-evaluator`` writes one."""
  from motiongpt_jax.evaluation import evaluator as E
  mean, std = read_meta(meta, E.config_from_state_dicts(*dicts).feature_dim)
  return E.write_from_state_dicts(dicts, glove, mean, std, data, out)


# ------------------------------------------------------------------------------- meta
def read_meta(folder: str, feature_dim: int) -> tuple[np.ndarray, np.ndarray]:
  """mean.npy/std.npy (or Mean.npy/Std.npy) of a folder, checked."""
  for mean_name, std_name in (("mean.npy", "std.npy"), ("Mean.npy", "Std.npy")):
    if os.path.exists(os.path.join(folder, mean_name)):
      return humanml3d.load_mean_std_files(os.path.join(folder, mean_name),
                                           os.path.join(folder, std_name), feature_dim)
  raise FileNotFoundError(f"{os.path.join(folder, 'mean.npy')}: missing (--meta is the "
                          f"folder with MotionGPT's assets/meta mean.npy and std.npy)")


def read_prompts(templates: str | None) -> dict:
  """The prompts of an imported run: the reference's evaluation prompts, or the first
  phrasing of each task of a ``template_instructions.json``."""
  if not templates:
    return dict(PROMPTS)
  try:
    with open(templates) as f:
      table = json.load(f)
  except ValueError as e:
    raise ValueError(f"{templates}: not JSON ({e})") from None
  prompts = {}
  for name, (family, task) in TEMPLATE_TASKS.items():
    try:
      text = table[family][task]["input"][0]
    except (KeyError, IndexError, TypeError):
      raise ValueError(f"{templates}: no {family} / {task} / input phrasing (expected "
                       f"MotionGPT's prepare/instructions/template_instructions.json)") from None
    if not isinstance(text, str) or not text.strip():
      raise ValueError(f"{templates}: {family} / {task} / input[0] is not a phrasing")
    prompts[name] = text
  return prompts


# ---------------------------------------------------------------------------- writing
def _check_out(out: str) -> None:
  if os.path.exists(out) and os.listdir(out):
    raise ValueError(f"{out}: exists and is not empty; import into a new folder")


def _vqvae_config(arch: dict, stats: str) -> ml_collections.ConfigDict:
  config = config_utils.load_config(config_utils.project_config("vqvae.py:base"))
  with config.unlocked():
    config.variant = "imported"
    for key in ("width", "code_dim", "num_codes", "down_t", "depth", "dilation_growth"):
      config.model[key] = arch[key]
    config.data.feature_dim = arch["feature_dim"]
    config.data.stats = stats
  return config


def _lm_config(out: str, data: str | None, prompts: dict, provenance: dict):
  config = config_utils.load_config(config_utils.project_config("t5_instruct.py:base"))
  with config.unlocked():
    config.variant = "imported"
    config.stage = "imported"
    config.data.path = os.path.abspath(data) if data else ""
    config.data.tokens = os.path.join(out, "tokens")
    config.data.spm = os.path.join(out, "spiece.model")
    config.data.stats = os.path.join(out, "meta")
    config.data.inputs_length = INPUTS_LENGTH
    config.data.targets_length = MOTION_MAX_TOKENS
    config.interface = INTERFACE
    config.prompts = prompts
    config.decoding = {"motion_max_tokens": MOTION_MAX_TOKENS,
                       "text_max_tokens": TEXT_MAX_TOKENS}
    config.imported = provenance
  return config


def _save_step(workdir: str, params, extra) -> None:
  checkpointer = Checkpointer(workdir, keep=1)
  try:
    checkpointer.save(0, {"step": np.int32(0), "params": params, "opt_state": {},
                          "extra": extra})
  finally:
    checkpointer.close()


def import_motiongpt(checkpoint: str, t5: str, meta: str, out: str, data: str | None = None,
                     templates: str | None = None, evaluator_out: str | None = None,
                     glove: str | None = None, evaluator_meta: str | None = None,
                     report: Reporter | None = None) -> ImportResult:
  """Writes the run folder ``out`` from the released checkpoint, the Flan-T5 folder ``t5``
  (config.json, spiece.model) and ``meta`` (mean.npy, std.npy the VQ-VAE expects).

  ``data``: a HumanML3D folder recorded as the run's data (``eval``'s default). With
  ``evaluator_out`` (and ``glove``, ``data``), the T2M evaluator weights held by the
  checkpoint's metric modules are written there as ``convert-evaluator`` writes them,
  normalised with ``evaluator_meta`` (default ``meta``).
  """
  report = report or Reporter()
  start = time.time()
  if evaluator_out and not (glove and data):
    raise ValueError("--evaluator-out needs --glove (the GloVe folder) and --data (a "
                     "HumanML3D folder whose captions teach the tagger)")
  if data:
    humanml3d.detect_kind(data)
  _check_out(out)
  if evaluator_out:
    _check_out(evaluator_out)
  hf_config, spm = read_t5_folder(t5)
  prompts = read_prompts(templates)
  with torch_pickle.TorchCheckpoint(checkpoint) as archive:
    groups, skipped = split_state_dict(archive.root, checkpoint)
    growth = hyper_parameter(archive.root, "dilation_growth_rate", 3)
    arch, vq_params, codebook = convert_vqvae(groups["vae"], checkpoint, growth)
    mean, std = read_meta(meta, arch["feature_dim"])
    vocab = MotionTextVocabulary(spm, num_motion_codes=arch["num_codes"],
                                 text_extra_ids=TEXT_EXTRA_IDS)
    rows = groups["lm"]["shared.weight"].shape[0] if "shared.weight" in groups["lm"] else 0
    if rows != vocab.vocab_size:
      raise ValueError(f"{checkpoint}: the T5 embedding has {rows} rows, but {spm} gives "
                       f"{vocab.text_size} text ids + {arch['num_codes'] + 3} motion ids = "
                       f"{vocab.vocab_size}: give the Flan-T5 folder MotionGPT was trained "
                       f"from")
    t5_config, t5_params = convert_t5(groups["lm"], hf_config,
                                      os.path.join(t5, "config.json"), checkpoint)
    evaluator_dicts = evaluator_state_dicts(groups["metrics"], checkpoint)
    if groups["metrics"] and not (evaluator_out and evaluator_dicts):
      skipped.append(f"{METRICS_PREFIX}*: {len(groups['metrics'])} tensors (the T2M "
                     f"evaluator's networks; --evaluator-out writes them)")
    provenance = {"from": "OpenMotionLab/MotionGPT", "checkpoint": os.path.abspath(checkpoint),
                  "epoch": _plain(archive.root, "epoch"),
                  "global_step": _plain(archive.root, "global_step"),
                  "lightning": _plain(archive.root, "pytorch-lightning_version")}
  report.log(f"read {checkpoint}: VQ-VAE {arch['num_codes']} x {arch['code_dim']} codes, width "
             f"{arch['width']}; T5 d_model {t5_config.emb_dim}, {t5_config.num_encoder_layers}+"
             f"{t5_config.num_decoder_layers} layers, {t5_config.real_vocab_size} ids")
  from motiongpt_jax.vqvae import quantizer
  os.makedirs(out, exist_ok=True)
  meta_dir, vq_dir, tokens_dir = (os.path.join(out, n) for n in ("meta", "vqvae", "tokens"))
  os.makedirs(meta_dir)
  np.save(os.path.join(meta_dir, "mean.npy"), mean)
  np.save(os.path.join(meta_dir, "std.npy"), std)
  shutil.copyfile(spm, os.path.join(out, "spiece.model"))
  # The VQ-VAE: a train-vqvae run at step 0 (the EMA sums restart from the codebook).
  vq_config = _vqvae_config(arch, meta_dir)
  runs.write_config(vq_dir, vq_config)
  _save_step(vq_dir, vq_params, quantizer.CodebookState(
      codebook, codebook.copy(), np.ones(len(codebook), np.float32)))
  os.makedirs(tokens_dir)
  tokens_meta = {"format": "motiongpt-tokens-v1", "num_codes": arch["num_codes"],
                 "frames_per_token": 2 ** arch["down_t"], "rows": ["original", "mirrored"],
                 "vqvae_step": 0, "count": 0, "skipped": [],
                 "vqvae": runs.relative_ref(vq_dir, tokens_dir),
                 "vqvae_identity": runs.vqvae_identity(vq_dir, 0), "data": ""}
  runs.write_json(os.path.join(tokens_dir, runs.TOKENS), tokens_meta)
  # The language model.
  runs.write_config(out, _lm_config(out, data, prompts, provenance))
  runs.write_t5_config(out, t5_config)
  _save_step(out, t5_params, {})
  del t5_params
  written = None
  if evaluator_out and evaluator_dicts:
    write_evaluator(evaluator_dicts, glove, evaluator_meta or meta, data, evaluator_out)
    written = evaluator_out
    report.log(f"wrote the checkpoint's T2M evaluator to {evaluator_out}")
  elif evaluator_out:
    report.log(f"{checkpoint} holds no evaluator weights (metrics.*): nothing written to "
               f"{evaluator_out}")
  result = ImportResult(out, vq_dir, t5_config, arch, skipped, written,
                        evaluator_dicts is not None, time.time() - start)
  report.log(f"imported MotionGPT into {out} in {result.seconds:.1f}s; not converted: "
             + "; ".join(skipped))
  return result


def _plain(root, key: str):
  value = root.get(key) if isinstance(root, dict) else None
  return value if isinstance(value, (int, float, str)) and not isinstance(value, bool) else None


__all__ = ["import_motiongpt", "ImportResult", "PROMPTS", "INTERFACE", "split_state_dict",
           "convert_vqvae", "convert_t5", "vqvae_key_map", "read_meta", "read_prompts",
           "evaluator_state_dicts"]
