"""T5X checkpoints in and out: Google's public T5 / T5 v1.1 / Flan-T5 layout.

Layouts read (facts from google-research/t5x ``t5x/checkpoints.py``, read, not copied):

* msgpack + TensorStore (T5X ``Checkpointer``, checkpoint ``version`` 3, what the public
  ``gs://t5-data/pretrained_models/t5x/...`` checkpoints use)::

    MODEL_DIR/checkpoint_N/checkpoint      msgpack {'version': 3, 'optimizer':
                                             {'target': params, 'state': {'step',
                                              'param_states': Adafactor v_row/v_col/v/m}}}
    MODEL_DIR/checkpoint_N/target.encoder.layers_0.attention.key.kernel/   zarr array
                                             (.zarray + chunk files, gzip)

  A large leaf of the msgpack tree is a TensorStore spec ``{'driver': 'zarr', 'dtype',
  'kvstore': {'driver': 'file'|'gfile'|'gcs', 'path': 'target.encoder...'}, 'metadata':
  {'shape', 'chunks', 'compressor'}}`` whose path is relative to ``checkpoint_N``; small
  leaves are arrays inline (flax msgpack ext types). bfloat16 is TensorStore's native
  ``bfloat16`` (version 3; version 2's uint16 stand-in is refused, as T5X does).
* Orbax (T5X ``OrbaxCheckpointManagerInterface``): ``checkpoint_N/state/`` is an Orbax
  PyTree checkpoint (OCDBT: ``_METADATA``, ``manifest.ocdbt``, ``ocdbt.process_0/``, ``d/``)
  of the same ``{'target', 'state'}`` dict. Read with Orbax itself, ``target`` only.

The ``target`` tree is that of T5X's minimal T5 (``t5x/examples/t5/network.py``), which
``network`` copies name for name, except that T5X's ``DenseGeneral`` stores attention
kernels flattened: ``query/key/value/kernel [embed, heads*head_dim]``, ``out/kernel
[heads*head_dim, embed]`` (reshaped to [e, h, d] / [h, d, e] here). Optimizer state is
never read, only counted. Parameters are returned as float32 whatever dtype they were
saved in.

Config: a T5X checkpoint carries no model config (T5X keeps it in gin), so it is inferred
from the array shapes: vocabulary rows and embed dim from ``token_embedder/embedding``,
heads and buckets from ``encoder/relpos_bias/rel_embedding [heads, buckets]``, head_dim =
joined kv width / heads, mlp dim from ``wi``/``wi_0``, layer counts from ``layers_N``,
gated-GELU when ``wi_0``/``wi_1`` are there (T5 v1.1, Flan-T5) else ReLU, tied output
(``logits_via_embedding``) when ``decoder/logits_dense`` is absent. What shapes cannot tell
takes the value every public T5X T5 uses: relative_attention_max_distance 128, layer norm
epsilon 1e-6. An export from this project also writes ``motiongpt_t5.json`` (the full
T5Config) next to ``checkpoint_N``; when present it is used and checked against the shapes.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re

import jax
import numpy as np

from motiongpt_jax.t5.checkpoints import CheckpointFormatError, config_from_dict, \
    config_to_dict
from motiongpt_jax.t5.config import PRESETS, T5Config
from motiongpt_jax.t5.network import abstract_params
from motiongpt_jax.train.checkpoints import CheckpointMismatchError, compare_shapes, \
    shapes_by_name

MSGPACK_FILE = "checkpoint"      # T5X's msgpack file inside checkpoint_N
ORBAX_ITEM = "state"            # T5X's Orbax item folder inside checkpoint_N
CONFIG_FILE = "motiongpt_t5.json"
VERSION = 3                     # T5X checkpoint version written (native bfloat16)
_STEP_DIR = re.compile(r"^checkpoint_(\d+)$")
_ATTENTION = re.compile(r"(attention|self_attention|encoder_decoder_attention)/"
                        r"(query|key|value|out)/kernel$")
_CHUNK_BYTES = 64 * 1024 * 1024  # T5X's desired chunk size


# ------------------------------------------------------------------------------ finding
def _steps(model_dir: str) -> list[int]:
  names = os.listdir(model_dir) if os.path.isdir(model_dir) else []
  return sorted(int(m.group(1)) for m in map(_STEP_DIR.match, names)
                if m and os.path.isdir(os.path.join(model_dir, m.group(0))))


def _is_step_dir(path: str) -> bool:
  return (os.path.isfile(os.path.join(path, MSGPACK_FILE))
          or os.path.isdir(os.path.join(path, ORBAX_ITEM)))


def is_t5x_checkpoint(path: str) -> bool:
  """Whether ``path`` is a T5X model dir (with checkpoint_N folders), a checkpoint_N folder,
  or the msgpack ``checkpoint`` file of one."""
  if os.path.isfile(path):
    return os.path.basename(path) == MSGPACK_FILE
  return _is_step_dir(path) or any(_is_step_dir(os.path.join(path, f"checkpoint_{s}"))
                                   for s in _steps(path))


def find_step_dir(path: str, step: int | None = None) -> str:
  """The checkpoint_N folder meant by ``path`` (model dir: ``step``, default the latest)."""
  if os.path.isfile(path) and os.path.basename(path) == MSGPACK_FILE:
    path = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(path):
    raise CheckpointFormatError(f"{path}: no such T5X checkpoint folder")
  if _is_step_dir(path):
    return path
  steps = _steps(path)
  if not steps:
    raise CheckpointFormatError(f"{path}: not a T5X checkpoint (expected checkpoint_N/ "
                                f"folders or a checkpoint_N folder holding '{MSGPACK_FILE}' "
                                f"or '{ORBAX_ITEM}/')")
  step = steps[-1] if step is None else step
  if step not in steps:
    raise CheckpointFormatError(f"{path}: no checkpoint_{step} (it has steps {steps})")
  step_dir = os.path.join(path, f"checkpoint_{step}")
  if not _is_step_dir(step_dir):
    raise CheckpointFormatError(f"{step_dir}: neither '{MSGPACK_FILE}' nor '{ORBAX_ITEM}/'")
  return step_dir


# ------------------------------------------------------------------------------ reading
def _flatten(tree, prefix: str = "") -> dict:
  """{'a/b/c': leaf} of nested dicts; a dict holding a TensorStore spec is a leaf."""
  if isinstance(tree, dict) and not _is_spec(tree):
    out = {}
    for k, v in tree.items():
      out.update(_flatten(v, f"{prefix}{k}/"))
    return out
  return {prefix[:-1]: tree}


def _is_spec(value) -> bool:
  return isinstance(value, dict) and ({"driver", "kvstore"} <= set(value)
                                      or {"driver", "path", "metadata"} <= set(value))


def _spec_shape(spec: dict, where: str) -> tuple:
  try:
    shape = spec["metadata"]["shape"]
    if isinstance(shape, dict):  # a list that went through flax's to_state_dict: {'0': ..}
      shape = [shape[str(i)] for i in range(len(shape))]
    return tuple(int(n) for n in shape)
  except (KeyError, TypeError, ValueError):
    raise CheckpointFormatError(f"{where}: TensorStore spec without metadata.shape") from None


def _local_spec(spec: dict, step_dir: str, where: str) -> dict:
  """The spec with its relative path made absolute under ``step_dir`` (file driver), the
  write-time chunks/compressor dropped (the array's own .zarray has them)."""
  spec = copy.deepcopy(spec)
  kvstore = spec.get("kvstore")
  if isinstance(kvstore, str):
    kvstore = {"driver": "file", "path": kvstore}
  kvstore = dict(kvstore or {})
  path = kvstore.get("path", spec.pop("path", None))  # tensorstore < 0.1.14 put it outside
  if kvstore.get("driver", "file") not in ("file", "gfile", "gcs"):
    raise CheckpointFormatError(f"{where}: kvstore driver {kvstore.get('driver')!r} is not "
                                f"supported (expected file, gfile or gcs)")
  if not isinstance(path, str) or os.path.isabs(path) or ".." in path.split("/"):
    raise CheckpointFormatError(f"{where}: array path {path!r} must be a folder inside "
                                f"{step_dir}")
  spec["kvstore"] = {"driver": "file", "path": os.path.join(step_dir, path)}
  spec.pop("path", None)
  metadata = dict(spec.get("metadata", {}))
  metadata.pop("chunks", None)
  metadata.pop("compressor", None)
  metadata["shape"] = list(_spec_shape(spec, where))
  spec["metadata"] = metadata
  if spec.get("dtype") == "uint16" or metadata.get("dtype") == "<u2":
    raise CheckpointFormatError(f"{where}: uint16 arrays (T5X checkpoint version 2's "
                                f"bfloat16) are not supported; re-save with T5X >= 2021-06")
  return spec


class _MsgpackReader:
  """T5X's msgpack + TensorStore layout of one checkpoint_N folder."""

  def __init__(self, step_dir: str):
    from flax import serialization
    self.step_dir = step_dir
    path = os.path.join(step_dir, MSGPACK_FILE)
    with open(path, "rb") as f:
      raw = f.read()
    try:
      contents = serialization.msgpack_restore(raw)
    except Exception as e:  # noqa: BLE001  any decoding failure: not a T5X checkpoint
      contents = e
    if not isinstance(contents, dict):
      tf_hint = (" (TensorFlow model.ckpt-* files are here: a Mesh TF checkpoint, which "
                 "T5X converts with t5x/scripts/convert_tf_checkpoint.py)"
                 if any(n.startswith("model.ckpt") for n in os.listdir(step_dir)) else "")
      raise CheckpointFormatError(f"{path}: not a msgpack T5X checkpoint (expected a msgpack "
                                  f"dict, found {type(contents).__name__}){tf_hint}")
    self.version = int(contents.get("version", 0))
    if self.version and self.version < 2:
      raise CheckpointFormatError(f"{path}: checkpoint version {self.version} (T5X reads "
                                  f"versions >= 2)")
    state = contents.get("optimizer", contents) if self.version else contents
    if not isinstance(state, dict) or "target" not in state:
      placeholders = any(isinstance(v, str) and v.startswith("PLACEHOLDER://")
                         for v in _flatten(contents).values())
      hint = (" (PLACEHOLDER:// leaves: an early T5X-on-Orbax checkpoint, which is not "
              "supported; re-save it with current T5X, whose Orbax layout keeps "
              f"checkpoint_N/{ORBAX_ITEM}/)" if placeholders else "")
      raise CheckpointFormatError(f"{path}: no 'target' parameters in the msgpack tree"
                                  f"{hint}")
    self.leaves = {f"target/{k}": v for k, v in _flatten(state["target"]).items()}
    self.other = _flatten(state.get("state", {}))
    self.where = path
    self.layout = f"T5X msgpack + TensorStore (version {self.version})"

  def shapes(self) -> dict[str, tuple]:
    out = {}
    for name, leaf in self.leaves.items():
      if _is_spec(leaf):
        out[name] = _spec_shape(leaf, f"{self.where}: {name}")
      elif leaf is not None:
        out[name] = tuple(np.shape(leaf))
    return out

  def read(self, names) -> dict[str, np.ndarray]:
    import tensorstore as ts
    out = {}
    for name in names:
      leaf = self.leaves[name]
      if not _is_spec(leaf):
        out[name] = np.asarray(leaf)
        continue
      spec = _local_spec(leaf, self.step_dir, f"{self.where}: {name}")
      folder = spec["kvstore"]["path"]
      if not os.path.isdir(folder):
        raise CheckpointFormatError(f"{folder}: array folder of {name} is missing (named by "
                                    f"{self.where})")
      try:
        out[name] = np.asarray(ts.open(spec, open=True, read=True).result().read().result())
      except Exception as e:  # noqa: BLE001  tensorstore raises ValueError / its own errors
        raise CheckpointFormatError(f"{folder}: cannot read {name} ({type(e).__name__}: "
                                    f"{e})") from None
    return out

  def ignored(self) -> dict:
    arrays = [k for k, v in self.other.items() if k.startswith("param_states") and
              v is not None]
    step = self.other.get("step")
    return {"optimizer_arrays": len(arrays),
            "step": int(np.asarray(step)) if step is not None and not _is_spec(step) else None}


class _OrbaxReader:
  """T5X's Orbax layout: an Orbax PyTree checkpoint in checkpoint_N/state."""

  def __init__(self, step_dir: str):
    import orbax.checkpoint as ocp
    self.item_dir = os.path.abspath(os.path.join(step_dir, ORBAX_ITEM))
    self.where = self.item_dir
    self.checkpointer = ocp.PyTreeCheckpointer()
    try:
      meta = self.checkpointer.metadata(self.item_dir)
    except Exception as e:  # noqa: BLE001  orbax raises many kinds
      raise CheckpointFormatError(f"{self.item_dir}: not a readable Orbax checkpoint "
                                  f"({type(e).__name__}: {e})") from None
    tree = getattr(getattr(meta, "item_metadata", None), "tree", None) or meta
    if not isinstance(tree, dict) or "target" not in tree:
      raise CheckpointFormatError(f"{self.item_dir}: no 'target' parameters in the Orbax tree")
    self.tree = tree
    self.leaves = {f"target/{k}": v for k, v in _flatten(dict(tree["target"])).items()}
    self.other = _flatten(dict(tree.get("state", {}) or {}))
    self.layout = "T5X Orbax (PyTree checkpoint in checkpoint_N/state)"

  def shapes(self) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in self.leaves.items()}

  def read(self, names) -> dict[str, np.ndarray]:
    import orbax.checkpoint as ocp
    names = set(names)
    flat = _flatten(dict(self.tree["target"]))
    # Only the wanted leaves of target: partial restore reads nothing else from disk.
    item, args = {}, {}
    for name in flat:
      if f"target/{name}" not in names:
        continue
      node_i, node_a = item, args
      *parents, last = name.split("/")
      for p in parents:
        node_i, node_a = node_i.setdefault(p, {}), node_a.setdefault(p, {})
      node_i[last] = np.zeros((), np.float32)
      node_a[last] = ocp.RestoreArgs(restore_type=np.ndarray)
    try:
      restored = self.checkpointer.restore(self.item_dir, args=ocp.args.PyTreeRestore(
          item={"target": item}, restore_args={"target": args}, partial_restore=True))
    except Exception as e:  # noqa: BLE001
      raise CheckpointFormatError(f"{self.item_dir}: cannot read the target parameters "
                                  f"({type(e).__name__}: {e})") from None
    return {f"target/{k}": np.asarray(v) for k, v in _flatten(restored["target"]).items()}

  def ignored(self) -> dict:
    arrays = [k for k in self.other if k.startswith("param_states")]
    return {"optimizer_arrays": len(arrays), "step": None}


def _reader(step_dir: str):
  if os.path.isdir(os.path.join(step_dir, ORBAX_ITEM)):
    return _OrbaxReader(step_dir)
  return _MsgpackReader(step_dir)


# ------------------------------------------------------------------------------ config
def _layer_count(shapes: dict, tower: str, where: str) -> int:
  found = sorted({int(m.group(1)) for m in (re.match(rf"target/{tower}/layers_(\d+)/", k)
                                              for k in shapes) if m})
  if not found:
    raise CheckpointFormatError(f"{where}: no target/{tower}/layers_N parameters (not a T5X "
                                f"T5 encoder-decoder)")
  missing = sorted(set(range(found[-1] + 1)) - set(found))
  if missing:
    raise CheckpointMismatchError(f"{where}: target/{tower}/layers_{missing[0]} is missing "
                                  f"(found layers {found})")
  return len(found)


def config_from_shapes(shapes: dict[str, tuple], where: str) -> T5Config:
  """The T5Config implied by T5X ``target/...`` array shapes (see the module docstring)."""
  def need(name, ndim):
    key = f"target/{name}"
    if key not in shapes:
      raise CheckpointFormatError(f"{where}: {key} is missing (not a T5X T5 checkpoint of "
                                  f"t5x/examples/t5's network)")
    if len(shapes[key]) != ndim:
      raise CheckpointMismatchError(f"{where}: {key} has shape {shapes[key]}, expected "
                                    f"{ndim} dimensions")
    return shapes[key]

  vocab, emb = need("token_embedder/embedding", 2)
  heads, buckets = need("encoder/relpos_bias/rel_embedding", 2)
  query = need("encoder/layers_0/attention/query/kernel", 2)  # [embed, heads*head_dim]
  joined = query[1]
  if joined % heads:
    raise CheckpointMismatchError(
        f"{where}: target/encoder/layers_0/attention/query/kernel {query} is not a multiple of "
        f"the {heads} heads of target/encoder/relpos_bias/rel_embedding")
  gated = "target/encoder/layers_0/mlp/wi_0/kernel" in shapes
  mlp = need("encoder/layers_0/mlp/" + ("wi_0" if gated else "wi") + "/kernel", 2)[1]
  return T5Config(
      vocab_size=vocab, emb_dim=emb, num_heads=heads, head_dim=joined // heads, mlp_dim=mlp,
      num_encoder_layers=_layer_count(shapes, "encoder", where),
      num_decoder_layers=_layer_count(shapes, "decoder", where),
      mlp_activations=("gelu", "linear") if gated else ("relu",),
      logits_via_embedding="target/decoder/logits_dense/kernel" not in shapes,
      dropout_rate=0.0 if gated else 0.1, relative_attention_num_buckets=buckets)


def t5x_shapes(config: T5Config, model_shapes: dict | None = None) -> dict[str, tuple]:
  """``target/...`` name -> shape of ``config`` in T5X's layout (flat attention kernels)."""
  out = {}
  model_shapes = model_shapes or shapes_by_name(abstract_params(config))
  for name, shape in model_shapes.items():
    if _ATTENTION.search(name):  # ours [e, h, d] / out [h, d, e]; T5X's 2-D DenseGeneral
      shape = ((shape[0] * shape[1], shape[2]) if name.endswith("out/kernel")
               else (shape[0], shape[1] * shape[2]))
    out[f"target/{name}"] = tuple(shape)
  return out


def _architecture(config: T5Config) -> dict:
  d = config_to_dict(config)
  for key in ("vocab_size", "real_vocab_size", "dtype", "dropout_rate",
              "float32_attention_logits"):
    d.pop(key, None)
  return d


def _unflatten(flat: dict) -> dict:
  tree = {}
  for name, value in flat.items():
    node = tree
    *parents, last = name.split("/")
    for p in parents:
      node = node.setdefault(p, {})
    node[last] = value
  return tree


def _saved_config(step_dir: str) -> tuple[T5Config | None, str | None]:
  for folder in (step_dir, os.path.dirname(os.path.abspath(step_dir))):
    path = os.path.join(folder, CONFIG_FILE)
    if os.path.exists(path):
      try:
        with open(path) as f:
          return config_from_dict(json.load(f)["t5_config"]), path
      except (ValueError, KeyError, TypeError) as e:
        raise CheckpointFormatError(f"{path}: expected JSON with a 't5_config' object of "
                                    f"T5Config fields ({type(e).__name__}: {e})") from None
  return None, None


def load_t5x_t5(path: str, step: int | None = None, preset: str | None = None
                ) -> tuple[T5Config, dict, dict]:
  """(config, params, info) of a T5X checkpoint; params are float32 numpy in ``network``'s
  tree. ``preset`` (a name in ``config.PRESETS``) must then match the shapes (vocabulary
  aside). ``info``: step, layout, stored dtypes, ignored optimizer arrays, config source."""
  step_dir = find_step_dir(path, step)
  reader = _reader(step_dir)
  found = reader.shapes()
  config, config_source = _saved_config(step_dir)
  if config is None:
    config, config_source = config_from_shapes(found, reader.where), "inferred from shapes"
  if preset is not None:
    if preset not in PRESETS:
      raise ValueError(f"preset {preset!r} is unknown; choose one of {', '.join(sorted(PRESETS))}")
    want, have = _architecture(PRESETS[preset]), _architecture(config)
    diff = [f"{k}: preset {want[k]}, checkpoint {have[k]}" for k in want if want[k] != have[k]]
    if diff:
      raise CheckpointMismatchError(f"{reader.where} is not a {preset}: " + "; ".join(diff))
    config = PRESETS[preset].replace(vocab_size=config.vocab_size,
                                     real_vocab_size=config.real_vocab_size)
  # Every array named, every shape as the config expects: errors name the parameter.
  model_shapes = shapes_by_name(abstract_params(config))
  compare_shapes(t5x_shapes(config, model_shapes), found, reader.where)
  arrays = reader.read(sorted(found))
  dtypes: dict[str, int] = {}
  params = {}
  for name, value in arrays.items():
    dtypes[str(value.dtype)] = dtypes.get(str(value.dtype), 0) + 1
    ours = name[len("target/"):]
    value = np.asarray(value, np.float32).reshape(model_shapes[ours])
    if not np.all(np.isfinite(value)):
      raise CheckpointFormatError(f"{reader.where}: {name} holds NaN or infinite values")
    params[ours] = np.ascontiguousarray(value)
  info = {"step_dir": step_dir, "layout": reader.layout, "dtypes": dtypes,
          "config": config_source, **reader.ignored()}
  if info["step"] is None:
    m = _STEP_DIR.match(os.path.basename(os.path.normpath(step_dir)))
    info["step"] = int(m.group(1)) if m else None
  return config, _unflatten(params), info


# ------------------------------------------------------------------------------ writing
def _chunks(shape: tuple, itemsize: int) -> list[int]:
  """Chunk shape under T5X's 64 MiB target: halve the largest even dimension."""
  chunks = list(shape)
  while chunks and math.prod(chunks) * itemsize > _CHUNK_BYTES:
    even = [i for i, n in enumerate(chunks) if n % 2 == 0]
    if not even:
      break
    i = max(even, key=lambda j: chunks[j])
    chunks[i] //= 2
  return chunks


def t5x_target(config: T5Config, params) -> dict:
  """``network``'s params in T5X's tree (attention kernels flattened to 2-D), numpy."""
  flat = {}
  leaves = jax.tree_util.tree_flatten_with_path(params)[0]
  for path, value in leaves:
    name = "/".join(str(getattr(k, "key", k)) for k in path)
    value = np.asarray(value)
    if _ATTENTION.search(name):
      value = (value.reshape(value.shape[0] * value.shape[1], value.shape[2])
               if name.endswith("out/kernel") else value.reshape(value.shape[0], -1))
    flat[name] = value
  expected = {k[len("target/"):]: v for k, v in t5x_shapes(config).items()}
  compare_shapes(expected, {k: v.shape for k, v in flat.items()}, "params to export")
  return _unflatten(flat)


def write_t5x_checkpoint(model_dir: str, config: T5Config, params, step: int = 0,
                         layout: str = "msgpack", dtype: str = "float32",
                         state: dict | None = None, write_config: bool = True) -> str:
  """Writes ``model_dir/checkpoint_{step}`` in T5X's ``layout`` ("msgpack": msgpack +
  TensorStore zarr/gzip, version 3; "orbax": Orbax OCDBT in ``state/``) and returns it.

  ``dtype`` is the saved parameter dtype (float32 or bfloat16, T5X's save_dtype). ``state``
  (default ``{'step': step}``) is stored as T5X's optimizer ``state``; no optimizer moments
  are written unless given. ``write_config`` adds ``motiongpt_t5.json`` (the T5Config)."""
  import ml_dtypes
  if layout not in ("msgpack", "orbax"):
    raise ValueError(f"layout {layout!r}: expected 'msgpack' or 'orbax'")
  if dtype not in ("float32", "bfloat16"):
    raise ValueError(f"dtype {dtype!r}: expected 'float32' or 'bfloat16'")
  save_dtype = np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.dtype(np.float32)
  target = jax.tree_util.tree_map(lambda x: np.asarray(x, save_dtype),
                                  t5x_target(config, params))
  state = {"step": np.int32(step)} if state is None else state
  model_dir = os.path.abspath(model_dir)
  final = os.path.join(model_dir, f"checkpoint_{step}")
  if os.path.exists(final):
    raise FileExistsError(f"{final} already exists; choose another --out or step")
  tmp = f"{final}.tmp-{os.getpid()}"
  os.makedirs(tmp)
  if layout == "msgpack":
    _write_msgpack(tmp, target, state)
  else:
    import orbax.checkpoint as ocp
    checkpointer = ocp.PyTreeCheckpointer(use_ocdbt=True)
    checkpointer.save(os.path.join(tmp, ORBAX_ITEM), {"target": target, "state": state},
                      force=True)
  os.replace(tmp, final)
  if write_config:
    with open(os.path.join(model_dir, CONFIG_FILE), "w") as f:
      json.dump({"t5_config": config_to_dict(config),
                 "note": "written by motiongpt-jax; T5X itself does not read this file"},
                f, indent=2)
  return final


def _write_msgpack(step_dir: str, target: dict, state: dict) -> None:
  import tensorstore as ts
  from flax import serialization

  def write(prefix, tree):
    if isinstance(tree, dict):
      return {k: write(f"{prefix}.{k}", v) for k, v in tree.items()}
    value = np.asarray(tree)
    if value.ndim == 0:
      return value  # scalars (the step) go inline, as T5X writes unpartitioned leaves
    spec = {"driver": "zarr", "dtype": value.dtype.name,
            "kvstore": {"driver": "file", "path": prefix},
            "metadata": {"compressor": {"id": "gzip", "level": 1}, "shape": list(value.shape),
                         "chunks": _chunks(value.shape, value.dtype.itemsize)}}
    local = copy.deepcopy(spec)
    local["kvstore"]["path"] = os.path.join(step_dir, prefix)
    ts.open(local, create=True, open=True).result().write(value).result()
    return spec

  contents = {"version": VERSION, "optimizer": {"target": write("target", target),
                                                "state": write("state", state)}}
  with open(os.path.join(step_dir, MSGPACK_FILE), "wb") as f:
    f.write(serialization.msgpack_serialize(contents))


__all__ = ["is_t5x_checkpoint", "find_step_dir", "load_t5x_t5", "config_from_shapes",
           "t5x_shapes", "t5x_target", "write_t5x_checkpoint", "CheckpointFormatError",
           "CheckpointMismatchError"]
