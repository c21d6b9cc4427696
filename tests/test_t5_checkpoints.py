"""Importing Hugging Face T5 folders (parity with transformers), vocabulary enlargement,
Orbax save/restore with clear mismatch errors."""

import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from motiongpt_jax.t5 import checkpoints, decoding, lm_task
from motiongpt_jax.t5.network import Transformer

torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[test]')")
transformers = pytest.importorskip("transformers",
                                   reason="transformers is not installed "
                                          "(pip install -e '.[test]')")


def hf_model(folder, gated: bool, tied: bool, vocab=200, seed=0, decoder_layers=3):
  torch.manual_seed(seed)
  cfg = transformers.T5Config(
      vocab_size=vocab, d_model=64, d_kv=16, d_ff=96, num_layers=2, num_decoder_layers=decoder_layers,
      num_heads=4, relative_attention_num_buckets=32, relative_attention_max_distance=128,
      feed_forward_proj="gated-gelu" if gated else "relu", tie_word_embeddings=tied,
      dropout_rate=0.0, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
  model = transformers.T5ForConditionalGeneration(cfg).eval()
  with torch.no_grad():  # default init leaves some tensors tiny; make every weight matter
    for p in model.parameters():
      p.normal_(0.0, 0.2)
  model.save_pretrained(folder)
  return model


def inputs(vocab=200, seed=0):
  rng = np.random.default_rng(seed)
  enc = rng.integers(2, vocab, (3, 11)).astype(np.int64)
  enc[1, 7:] = 0  # padding
  dec = rng.integers(2, vocab, (3, 9)).astype(np.int64)
  dec[:, 0] = 0   # decoder start
  return enc, dec


@pytest.mark.parametrize("gated,tied", [(False, True), (True, False), (True, True)])
def test_logits_match_transformers(tmp_path, gated, tied):
  folder = str(tmp_path / "hf")
  model = hf_model(folder, gated, tied)
  assert os.path.exists(os.path.join(folder, "model.safetensors"))
  config, params = checkpoints.load_hf_t5(folder)
  assert config.gated == gated and config.logits_via_embedding == tied
  assert config.num_decoder_layers == 3
  enc, dec = inputs()
  with torch.no_grad():
    expected = model(input_ids=torch.from_numpy(enc), attention_mask=torch.from_numpy(enc > 0),
                     decoder_input_ids=torch.from_numpy(dec)).logits.numpy()
  ours = Transformer(config.replace(dropout_rate=0.0)).apply(
      {"params": params}, jnp.asarray(enc, jnp.int32), jnp.asarray(dec, jnp.int32),
      jnp.ones(dec.shape, jnp.int32), enable_dropout=False)
  assert expected.std() > 0.01  # logits that differ, not a degenerate model
  # 1e-4 absolute, or relative to the logits' range where that is larger than 1.
  scale = max(1.0, float(np.abs(expected).max()))
  np.testing.assert_allclose(np.asarray(ours), expected, atol=1e-4 * scale, rtol=0)


def test_greedy_generation_matches_transformers(tmp_path):
  folder = str(tmp_path / "hf")
  # (transformers' generate() cache breaks when encoder and decoder depths differ)
  model = hf_model(folder, gated=True, tied=False, decoder_layers=2)
  config, params = checkpoints.load_hf_t5(folder)
  enc, _ = inputs()
  with torch.no_grad():
    expected = model.generate(input_ids=torch.from_numpy(enc),
                              attention_mask=torch.from_numpy(enc > 0), max_new_tokens=8,
                              min_new_tokens=8, do_sample=False, num_beams=1).numpy()[:, 1:]
  ours, _ = decoding.sample(Transformer(config), params, jnp.asarray(enc, jnp.int32),
                            jax.random.PRNGKey(0), max_decode_length=8, eos_id=-1)
  np.testing.assert_array_equal(np.asarray(ours), expected)


def test_pytorch_bin_folders_load_too(tmp_path):
  folder = str(tmp_path / "hf")
  model = hf_model(folder, gated=False, tied=True)
  os.remove(os.path.join(folder, "model.safetensors"))
  torch.save(model.state_dict(), os.path.join(folder, "pytorch_model.bin"))
  config, params = checkpoints.load_hf_t5(folder)
  np.testing.assert_array_equal(params["token_embedder"]["embedding"],
                                model.shared.weight.detach().numpy())


def test_clear_errors_for_bad_folders(tmp_path):
  with pytest.raises(checkpoints.CheckpointFormatError, match="no config.json"):
    checkpoints.load_hf_t5(str(tmp_path))
  folder = str(tmp_path / "hf")
  hf_model(folder, gated=False, tied=True)
  os.remove(os.path.join(folder, "model.safetensors"))
  with pytest.raises(checkpoints.CheckpointFormatError, match="no model.safetensors"):
    checkpoints.load_hf_t5(folder)


@pytest.mark.parametrize("shard,words", [("../outside.safetensors", "inside"),
                                         ("/etc/passwd", "inside"),
                                         ("missing.safetensors", "not in")])
def test_sharded_index_entries_stay_inside_the_folder(tmp_path, shard, words):
  import json
  folder = str(tmp_path / "hf")
  hf_model(folder, gated=False, tied=True)
  os.rename(os.path.join(folder, "model.safetensors"),
            os.path.join(folder, "model-00001-of-00001.safetensors"))
  (tmp_path / "outside.safetensors").write_bytes(b"")
  with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
    json.dump({"weight_map": {"shared.weight": "model-00001-of-00001.safetensors",
                              "lm_head.weight": shard}}, f)
  with pytest.raises(checkpoints.CheckpointFormatError, match=words):
    checkpoints.load_hf_t5(folder)


@pytest.mark.parametrize("tied", [True, False])
def test_enlarged_vocabulary(tmp_path, tied):
  folder = str(tmp_path / "hf")
  hf_model(folder, gated=not tied, tied=tied, vocab=200)
  config, params = checkpoints.load_hf_t5(folder)
  # 190 ids in use (10 unused rows reused first), 515 motion tokens: 705 -> 768 rows.
  big_config, big = checkpoints.enlarge_vocab(config, params, 515, used_vocab=190)
  assert big_config.vocab_size == 768 and big_config.real_vocab_size == 705
  emb = big["token_embedder"]["embedding"]
  old = params["token_embedder"]["embedding"]
  assert emb.shape == (768, 64)
  np.testing.assert_array_equal(emb[:190], old[:190])
  new = emb[190:705]
  np.testing.assert_allclose(new.mean(0), old[:190].mean(0), atol=0.15)
  np.testing.assert_allclose(new.std(0), old[:190].std(0), rtol=0.25)
  if not tied:
    assert big["decoder"]["logits_dense"]["kernel"].shape == (64, 768)
  # The old ids behave as before; the padding rows can never be produced.
  enc, dec = inputs(vocab=190)
  args = (jnp.asarray(enc, jnp.int32), jnp.asarray(dec, jnp.int32), jnp.ones(dec.shape, jnp.int32))
  logits = Transformer(big_config).apply({"params": big}, *args, enable_dropout=False)
  before = Transformer(config).apply({"params": params}, *args, enable_dropout=False)
  assert float(jnp.max(logits[..., 705:])) <= -1e9
  if not tied:  # untied: the old rows' logits are unchanged
    np.testing.assert_allclose(logits[..., :190], before[..., :190], rtol=1e-5, atol=1e-4)


def test_save_restore_round_trip_and_mismatch(tmp_path):
  from motiongpt_jax.t5 import config as t5_config
  config = t5_config.get_preset("tiny")
  model = Transformer(config)
  params = nn.unbox(lm_task.init_variables(model, jax.random.PRNGKey(0))["params"])
  checkpoints.save_params(str(tmp_path / "ckpt"), config, params)
  restored_config, restored = checkpoints.restore_params(str(tmp_path / "ckpt"))
  assert restored_config == config
  for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(restored)):
    np.testing.assert_array_equal(a, b)
  with pytest.raises(checkpoints.CheckpointMismatchError,
                     match=r"params|token_embedder/embedding: checkpoint has shape \(1024, 128\), "
                           r"config expects \(1024, 256\)"):
    checkpoints.restore_params(str(tmp_path / "ckpt"), config.replace(emb_dim=256))
