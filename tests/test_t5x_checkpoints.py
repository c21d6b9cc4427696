"""T5X checkpoints (msgpack + TensorStore, Orbax) in, T5X and Hugging Face folders out.

The stand-ins are written here, independently of ``t5x_checkpoints``' writer, in the layout
T5X's ``Checkpointer`` / ``OrbaxCheckpointManagerInterface`` write (google-research/t5x
``t5x/checkpoints.py``): flattened 2-D attention kernels, zarr + gzip arrays named
``target.encoder.layers_0.attention.key.kernel``, an inline step and Adafactor state.
"""

import functools
import json
import os
import shutil

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from motiongpt_jax import cli, runs
from motiongpt_jax.pipeline import lm as lm_pipeline
from motiongpt_jax.pipeline.report import silent
from motiongpt_jax.t5 import checkpoints, t5x_checkpoints
from motiongpt_jax.t5.config import T5Config
from motiongpt_jax.t5.network import Transformer, abstract_params

BF16 = np.dtype(ml_dtypes.bfloat16)


def tiny_config(gated=True, tied=False, **changes):
  return T5Config(vocab_size=128, emb_dim=32, num_heads=4, head_dim=8, mlp_dim=48,
                  num_encoder_layers=2, num_decoder_layers=3,
                  mlp_activations=("gelu", "linear") if gated else ("relu",),
                  logits_via_embedding=tied, dropout_rate=0.0).replace(**changes)


def random_params(config, seed=0):
  """Random float32 numpy params in the shapes of ``network``'s tree (nothing compiled)."""
  rng = np.random.default_rng(seed)  # every weight matters (layer norms are 1 at init)
  return jax.tree_util.tree_map(lambda x: rng.normal(0.0, 0.3, x.shape).astype(np.float32),
                                abstract_params(config))


def logits(config, params, seed=1):
  rng = np.random.default_rng(seed)
  enc = rng.integers(2, config.real_vocab_size or config.vocab_size, (2, 7))
  dec = rng.integers(2, config.real_vocab_size or config.vocab_size, (2, 5))
  enc[1, 5:], dec[:, 0] = 0, 0
  return np.asarray(_apply(config)(params, jnp.asarray(enc), jnp.asarray(dec))), enc, dec


@functools.lru_cache(maxsize=None)
def _apply(config):
  """One compiled forward pass per config (the file's time goes to compiling)."""
  return jax.jit(lambda p, e, d: Transformer(config).apply(
      {"params": p}, e, d, jnp.ones(d.shape, jnp.int32), enable_dropout=False))


def t5x_tree(params):
  """Our tree in T5X's: attention kernels [e, h, d] -> [e, h*d], out [h, d, e] -> [h*d, e]."""
  def fix(path, x):
    names = [p.key for p in path]
    x = np.asarray(x)
    if names[-1] == "kernel" and names[-2] in ("query", "key", "value"):
      return x.reshape(x.shape[0], -1)
    if names[-1] == "kernel" and names[-2] == "out":
      return x.reshape(-1, x.shape[-1])
    return x
  return jax.tree_util.tree_map_with_path(fix, params)


def adafactor_state(target):
  """Factored second moments per matrix, as T5X's Adafactor keeps them."""
  def slots(x):
    if x.ndim == 2:
      return {"v_row": np.ones(x.shape[0], np.float32), "v_col": np.ones(x.shape[1], np.float32),
              "v": np.zeros((1,), np.float32), "m": np.zeros((1,), np.float32)}
    return {"v": np.ones(x.shape, np.float32), "m": np.zeros((1,), np.float32)}
  return jax.tree_util.tree_map(slots, target)


def write_msgpack_standin(model_dir, params, step=7, dtype=np.float32, drop=(), reshape=None,
                          optimizer=False):
  """checkpoint_{step}/ as T5X's msgpack Checkpointer writes it (version 3); ``optimizer``
  adds Adafactor moments as TensorStore arrays."""
  import tensorstore as ts
  from flax import serialization
  step_dir = os.path.join(model_dir, f"checkpoint_{step}")
  os.makedirs(step_dir)

  def write(prefix, tree, cast):
    if isinstance(tree, dict):
      return {k: write(f"{prefix}/{k}", v, cast) for k, v in tree.items()
              if f"{prefix}/{k}" not in drop}
    value = np.asarray(tree, cast)
    if reshape and prefix in reshape:
      value = value.reshape(reshape[prefix])
    name = prefix.replace("/", ".")
    spec = {"driver": "zarr", "dtype": value.dtype.name,
            "kvstore": {"driver": "gfile", "path": name},  # T5X's own driver name
            "metadata": {"chunks": list(value.shape), "compressor": {"id": "gzip", "level": 1},
                         "shape": list(value.shape)}}
    store = ts.open({**spec, "kvstore": {"driver": "file", "path": os.path.join(step_dir, name)}},
                    create=True, open=True).result()
    store.write(value).result()
    return spec

  target = t5x_tree(params)
  contents = {"version": 3, "optimizer": {
      "target": write("target", target, dtype),
      "state": {"step": np.int32(step)}}}
  if optimizer:
    contents["optimizer"]["state"]["param_states"] = write(
        "state/param_states", adafactor_state(target), np.float32)
  with open(os.path.join(step_dir, "checkpoint"), "wb") as f:
    f.write(serialization.msgpack_serialize(contents))  # lists stay msgpack arrays, as T5X's
  return step_dir


def write_orbax_standin(model_dir, params, step=3, dtype=np.float32):
  """checkpoint_{step}/state as T5X's Orbax manager writes it (OCDBT PyTree, save_dtype)."""
  import orbax.checkpoint as ocp
  target = t5x_tree(params)
  tree = {"target": target, "state": {"step": np.int32(step),
                                      "param_states": adafactor_state(target)}}
  save_args = jax.tree_util.tree_map(lambda _: ocp.SaveArgs(), tree)
  save_args["target"] = jax.tree_util.tree_map(lambda _: ocp.SaveArgs(dtype=np.dtype(dtype)),
                                               target)
  ocp.PyTreeCheckpointer(use_ocdbt=True).save(
      os.path.join(model_dir, f"checkpoint_{step}", "state"), tree, save_args=save_args)


def assert_trees_equal(a, b):
  assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# ------------------------------------------------------------------------------ import
@pytest.mark.parametrize("gated,tied,dtype", [(True, False, BF16), (False, True, np.float32)])
def test_msgpack_checkpoint_loads_with_inferred_config(tmp_path, gated, tied, dtype):
  config = tiny_config(gated, tied)
  params = random_params(config)
  step_dir = write_msgpack_standin(str(tmp_path), params, dtype=dtype, optimizer=True)
  assert os.path.isdir(os.path.join(step_dir, "target.encoder.layers_0.attention.key.kernel"))
  assert t5x_checkpoints.is_t5x_checkpoint(str(tmp_path))
  for where in (str(tmp_path), step_dir, os.path.join(step_dir, "checkpoint")):
    loaded_config, loaded, info = t5x_checkpoints.load_t5x_t5(where)
    assert loaded_config.replace(dropout_rate=0.0) == config
  expected = jax.tree_util.tree_map(lambda x: np.asarray(x.astype(dtype), np.float32), params)
  assert_trees_equal(loaded, expected)
  assert info["step"] == 7 and info["dtypes"] == {np.dtype(dtype).name: len(
      jax.tree_util.tree_leaves(params))}
  assert info["optimizer_arrays"] > 0 and info["config"] == "inferred from shapes"


def test_orbax_checkpoint_loads(tmp_path):
  config = tiny_config()
  params = random_params(config, seed=2)
  write_orbax_standin(str(tmp_path), params, dtype=BF16)
  loaded_config, loaded, info = t5x_checkpoints.load_t5x_t5(str(tmp_path))
  assert loaded_config == config and info["step"] == 3 and "Orbax" in info["layout"]
  assert info["dtypes"] == {"bfloat16": len(jax.tree_util.tree_leaves(params))}
  assert info["optimizer_arrays"] > 0
  assert_trees_equal(loaded, jax.tree_util.tree_map(
      lambda x: np.asarray(x.astype(BF16), np.float32), params))


def test_mismatched_shape_is_named(tmp_path):
  params = random_params(tiny_config())
  write_msgpack_standin(str(tmp_path), params, reshape={
      "target/decoder/layers_1/mlp/wo/kernel": (24, 64)})
  with pytest.raises(checkpoints.CheckpointMismatchError,
                     match=r"target/decoder/layers_1/mlp/wo/kernel: checkpoint has shape "
                           r"\(24, 64\), config expects \(48, 32\)"):
    t5x_checkpoints.load_t5x_t5(str(tmp_path))


def test_preset_mismatch_is_named(tmp_path):
  write_msgpack_standin(str(tmp_path), random_params(tiny_config()))
  with pytest.raises(checkpoints.CheckpointMismatchError, match=r"not a t5_1_1_small: emb_dim: "
                                                                r"preset 512, checkpoint 32"):
    t5x_checkpoints.load_t5x_t5(str(tmp_path), preset="t5_1_1_small")


def test_missing_arrays_are_named(tmp_path):
  params = random_params(tiny_config())
  # Left out of the msgpack tree:
  write_msgpack_standin(str(tmp_path / "a"), params,
                        drop=("target/decoder/layers_2/mlp/wi_1",))
  with pytest.raises(checkpoints.CheckpointMismatchError,
                     match=r"target/decoder/layers_2/mlp/wi_1/kernel: missing from the "
                           r"checkpoint \(config expects \(32, 48\)\)"):
    t5x_checkpoints.load_t5x_t5(str(tmp_path / "a"))
  # Named by the msgpack file but its array folder is gone:
  step_dir = write_msgpack_standin(str(tmp_path / "b"), params)
  shutil.rmtree(os.path.join(step_dir, "target.encoder.layers_1.mlp.wo.kernel"))
  with pytest.raises(checkpoints.CheckpointFormatError,
                     match=r"target\.encoder\.layers_1\.mlp\.wo\.kernel: array folder of "
                           r"target/encoder/layers_1/mlp/wo/kernel is missing"):
    t5x_checkpoints.load_t5x_t5(str(tmp_path / "b"))
  # Not a T5 at all:
  params["encoder"].pop("relpos_bias")
  write_msgpack_standin(str(tmp_path / "c"), params)
  with pytest.raises(checkpoints.CheckpointFormatError,
                     match="target/encoder/relpos_bias/rel_embedding is missing"):
    t5x_checkpoints.load_t5x_t5(str(tmp_path / "c"))


def test_array_paths_stay_inside_the_checkpoint(tmp_path):
  from flax import serialization
  step_dir = write_msgpack_standin(str(tmp_path), random_params(tiny_config()))
  path = os.path.join(step_dir, "checkpoint")
  with open(path, "rb") as f:
    contents = serialization.msgpack_restore(f.read())
  contents["optimizer"]["target"]["token_embedder"]["embedding"]["kvstore"]["path"] = "../../x"
  with open(path, "wb") as f:
    f.write(serialization.msgpack_serialize(contents))
  with pytest.raises(checkpoints.CheckpointFormatError, match="must be a folder inside"):
    t5x_checkpoints.load_t5x_t5(str(tmp_path))


class _Vocab:  # what initial_model reads of a MotionTextVocabulary
  def __init__(self, text_size, codes):
    self.text_size, self.num_motion_codes = text_size, codes
    self.vocab_size = text_size + codes + 3


def test_training_starts_from_a_t5x_checkpoint(tmp_path):
  config = tiny_config()
  write_msgpack_standin(str(tmp_path), random_params(config))
  init = type("C", (), {"init_from": str(tmp_path)})()
  report = silent()
  model_config, params = lm_pipeline.initial_model(init, _Vocab(100, 40), config, report)
  # 100 text ids + 43 motion ids: the 128-row table grows to 256 rows, 143 in use.
  assert model_config.vocab_size == 256 and model_config.real_vocab_size == 143
  assert params["token_embedder"]["embedding"].shape == (256, 32)
  assert any("optimizer-state arrays ignored" in line for line in report.lines)


# ------------------------------------------------------------------------------ export
@pytest.mark.parametrize("layout,dtype,gated", [("msgpack", "float32", True),
                                                ("orbax", "float32", False),
                                                ("msgpack", "bfloat16", True)])
def test_t5x_export_round_trip(tmp_path, layout, dtype, gated):
  config = tiny_config(gated, not gated, real_vocab_size=120)
  params = random_params(config, seed=4)
  t5x_checkpoints.write_t5x_checkpoint(str(tmp_path), config, params, step=11, layout=layout,
                                       dtype=dtype)
  loaded_config, loaded, info = t5x_checkpoints.load_t5x_t5(str(tmp_path))
  assert loaded_config == config and info["step"] == 11
  assert info["config"].endswith("motiongpt_t5.json")
  if dtype == "float32":
    assert_trees_equal(loaded, params)
    np.testing.assert_array_equal(logits(loaded_config, loaded)[0], logits(config, params)[0])
  else:
    assert_trees_equal(loaded, jax.tree_util.tree_map(
        lambda x: np.asarray(x.astype(BF16), np.float32), params))


@pytest.mark.parametrize("gated,tied", [(True, False), (False, True)])
def test_hf_export_matches_ours_and_transformers(tmp_path, gated, tied):
  torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[test]')")
  transformers = pytest.importorskip("transformers", reason="transformers is not installed")
  config = tiny_config(gated, tied, real_vocab_size=120)
  params = random_params(config, seed=5)
  folder = str(tmp_path / "hf")
  checkpoints.export_hf_t5(folder, config, params)
  ours, enc, dec = logits(config, params)
  loaded_config, loaded = checkpoints.load_hf_t5(folder)
  assert loaded_config == config
  np.testing.assert_array_equal(logits(loaded_config, loaded)[0], ours)
  model = transformers.T5ForConditionalGeneration.from_pretrained(folder).eval()
  assert (model.lm_head.weight.data_ptr() == model.shared.weight.data_ptr()) == tied
  with torch.no_grad():
    theirs = model(input_ids=torch.from_numpy(enc), attention_mask=torch.from_numpy(enc > 0),
                   decoder_input_ids=torch.from_numpy(dec)).logits.numpy()
  real = config.real_vocab_size  # rows past it are padding, masked only on our side
  assert ours[..., :real].std() > 0.02
  np.testing.assert_allclose(theirs[..., :real], ours[..., :real], atol=1e-4, rtol=0)
  with open(os.path.join(folder, "generation_config.json")) as f:
    assert json.load(f)["suppress_tokens"] == list(range(120, 128))


def fake_run(workdir, config, params, step=5, spm=None):
  import ml_collections
  from motiongpt_jax.train.checkpoints import Checkpointer
  run_config = ml_collections.ConfigDict(
      {"data": {"spm": spm or "", "tokens": ""}, "model": {"preset": "tiny"}})
  runs.write_config(workdir, run_config)
  runs.write_t5_config(workdir, config)
  checkpointer = Checkpointer(workdir)
  checkpointer.save(step, {"params": jax.tree_util.tree_map(jnp.asarray, params)})
  checkpointer.close()


def test_export_command_and_restart_from_the_export(tmp_path, capsys):
  # 60 text ids + 512 motion codes + start/end/mask = 575 ids in 640 rows.
  config = tiny_config(vocab_size=640, real_vocab_size=575)
  params = random_params(config, seed=6)
  run = str(tmp_path / "run")
  import sentencepiece
  sentencepiece.SentencePieceTrainer.train(
      sentence_iterator=iter(["a person walks forward", "someone jumps twice"] * 20),
      model_prefix=str(tmp_path / "spiece"), vocab_size=24, pad_id=0, eos_id=1, unk_id=2,
      bos_id=-1, minloglevel=2)
  fake_run(run, config, params, spm=str(tmp_path / "spiece.model"))
  for fmt in ("t5x", "hf"):
    out = str(tmp_path / fmt)
    assert cli.main(["export-t5", "--workdir", run, "--format", fmt, "--out", out]) == 0
    with open(os.path.join(out, "motiongpt_vocab.json")) as f:
      layout = json.load(f)
    assert layout["motion_offset"] == 60 and layout["motion_start_id"] == 572
    assert layout["padding_rows"] == [575, 640] and layout["source"]["step"] == 5
    assert layout["eos_id"] == 1 and os.path.exists(os.path.join(out, "spiece.model"))
    vocab = _Vocab(60, 512)
    init = type("C", (), {"init_from": out})()
    model_config, loaded = lm_pipeline.initial_model(init, vocab, config, silent())
    assert model_config == config  # the motion rows are kept, not re-initialised
    assert_trees_equal(loaded, params)
  assert os.path.isdir(os.path.join(str(tmp_path / "t5x"), "checkpoint_5"))
  assert cli.main(["export-t5", "--workdir", run, "--format", "hf",
                   "--out", str(tmp_path / "hf")]) == 2
  assert "not an empty folder" in capsys.readouterr().err
