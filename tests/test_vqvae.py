"""VQ-VAE: shapes, the EMA quantiser on hand-made cases, learning, the tokenizer."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from motiongpt_jax import config_utils, partitioning
from motiongpt_jax.vqvae import model as vq_model
from motiongpt_jax.vqvae import quantizer
from motiongpt_jax.vqvae.tokenizer import MotionTokenizer


def small_config(**train):
  config = config_utils.load_config("configs/vqvae.py:tiny")
  with config.unlocked():
    config.model.width = 32
    config.model.code_dim = 16
    config.model.num_codes = 64
    config.data.window = 32
    config.train.update(dict(batch_size=8, steps=20, warmup_steps=2, log_every=10,
                             checkpoint_every=10, eval_every=0), **train)
  return config


def test_base_config_is_the_papers():
  c = config_utils.load_config("configs/vqvae.py:base")
  assert (c.model.width, c.model.code_dim, c.model.num_codes) == (512, 512, 512)
  assert (c.model.down_t, c.model.depth, c.model.dilation_growth) == (2, 3, 3)
  assert c.model.ema_decay == 0.99
  assert (c.loss.velocity_weight, c.loss.commit_weight) == (0.5, 0.02)
  assert (c.train.learning_rate, c.train.b2, c.train.batch_size) == (2e-4, 0.99, 256)


def test_encode_decode_shapes_and_parameter_tree():
  model = vq_model.MotionVQVAE(feature_dim=263, width=32, code_dim=16)
  x = jnp.zeros((3, 64, 263))
  params = model.init(jax.random.PRNGKey(0), x)["params"]
  assert set(params) == {"encoder", "decoder"}
  enc = params["encoder"]
  assert enc["conv_in"]["kernel"].shape == (3, 263, 32)
  assert enc["down_0"]["kernel"].shape == (4, 32, 32)  # kernel 4, stride 2
  assert enc["res_0"]["block_0_conv_dilated"]["kernel"].shape == (3, 32, 32)
  assert enc["conv_out"]["kernel"].shape == (3, 32, 16)
  assert params["decoder"]["conv_out"]["kernel"].shape == (3, 32, 263)
  z = model.apply({"params": params}, x, method=vq_model.MotionVQVAE.encode)
  assert z.shape == (3, 16, 16)
  assert model.apply({"params": params}, z, method=vq_model.MotionVQVAE.decode).shape == x.shape


def test_residual_stack_uses_reversed_dilations():
  stack = vq_model.ResidualStack(width=4, depth=3, growth=3)
  x = jnp.zeros((1, 40, 4))
  params = stack.init(jax.random.PRNGKey(0), x)["params"]
  jaxpr = jax.make_jaxpr(lambda p, x: stack.apply({"params": p}, x))(params, x)
  dilations = [tuple(e.params["rhs_dilation"]) for e in jaxpr.jaxpr.eqns
               if e.primitive.name == "conv_general_dilated"]
  # Each block: dilated kernel-3 conv then a 1x1 conv; dilations 9, 3, 1 in that order.
  assert dilations == [(9,), (1,), (3,), (1,), (1,), (1,)]


def test_lengths_that_are_not_a_multiple_of_4_are_cropped():
  model = vq_model.MotionVQVAE(feature_dim=263, width=16, code_dim=8)
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 8, 263)))["params"]
  codebook = jax.random.normal(jax.random.PRNGKey(1), (32, 8))
  tok = MotionTokenizer(model, params, codebook)
  x = np.random.default_rng(0).normal(size=(2, 47, 263)).astype(np.float32)
  codes = tok.encode(x)
  assert codes.shape == (2, 11) and codes.dtype == np.int32
  assert tok.encode(x[0]).shape == (11,)
  np.testing.assert_array_equal(tok.encode(x[0]), codes[0])
  assert tok.decode(codes).shape == (2, 44, 263)
  # Many sequences of mixed lengths decode as one by one: padded to 8 or 16 tokens in one
  # batch, each row's frames equal its own decoding (the decoder reads zeros past its end).
  rng = np.random.default_rng(1)
  many = [rng.integers(0, 32, n) for n in (5, 3, 5, 5, 1, 3, 0, 8, 11, 16, 9)]
  for batch_size in (2, 3, 64):
    got = tok.decode_many(many, batch_size=batch_size)
    for g, c in zip(got, many):
      want = tok.decode(c) if len(c) else np.zeros((0, 263))
      assert g.shape == want.shape
      np.testing.assert_allclose(g, want, atol=1e-5)
  # Many motions of mixed lengths encode as one by one (grouped by token length).
  motions = [rng.normal(size=(n, 263)).astype(np.float32) for n in (47, 8, 44, 13, 47, 9)]
  for batch_size in (1, 2, 64):
    for got, m in zip(tok.encode_many(motions, batch_size=batch_size), motions):
      np.testing.assert_array_equal(got, tok.encode(m))
  # Padding changes the frames near the end unless it is masked (the test above is not void).
  padded = tok.decode(np.concatenate([many[0], np.zeros(3, np.int64)]))[:20]
  assert np.abs(padded[-1] - tok.decode(many[0])[-1]).max() > 1e-3
  with pytest.raises(ValueError, match=r"expected features \[T, 263\]"):
    tok.encode(np.zeros((40, 251), np.float32))
  with pytest.raises(ValueError, match=r"codes must lie in \[0, 32\)"):
    tok.decode(np.array([0, 32]))
  with pytest.raises(ValueError, match="shorter than one token"):
    tok.encode(np.zeros((3, 263), np.float32))


def test_nearest_codes_is_the_brute_force_argmin():
  rng = np.random.default_rng(0)
  vectors = rng.normal(size=(5, 7, 6)).astype(np.float32)
  codebook = rng.normal(size=(11, 6)).astype(np.float32)
  expected = np.argmin(((vectors[..., None, :] - codebook) ** 2).sum(-1), axis=-1)
  np.testing.assert_array_equal(quantizer.nearest_codes(jnp.asarray(vectors), codebook),
                                expected)


def test_ema_update_and_dead_code_reset_on_a_hand_made_case():
  # Three codes in 2-D. Code 0 receives two vectors, code 1 one, code 2 none.
  codebook = jnp.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
  state = quantizer.CodebookState(codebook, codebook, jnp.ones(3))
  x = jnp.array([[1.0, 0.0], [-1.0, 2.0], [12.0, 0.0]])
  codes = quantizer.nearest_codes(x, state.codebook)
  np.testing.assert_array_equal(codes, [0, 0, 1])
  decay = 0.5
  new, stats = quantizer.ema_update(state, x, codes, decay, jax.random.PRNGKey(0))
  # code_sum = 0.5 * old + 0.5 * batch sums; code_count = 0.5 * 1 + 0.5 * batch counts.
  np.testing.assert_allclose(new.code_sum, [[0.0, 1.0], [11.0, 0.0], [0.0, 5.0]])
  np.testing.assert_allclose(new.code_count, [1.5, 1.0, 0.5])
  # Live codes move to sum / count; code 2 (count 0.5 < 1) is reset to one of the inputs.
  np.testing.assert_allclose(new.codebook[0], [0.0, 1.0 / 1.5], rtol=1e-6)
  np.testing.assert_allclose(new.codebook[1], [11.0, 0.0])
  assert any(np.allclose(new.codebook[2], row) for row in np.asarray(x))
  assert int(stats["codes_reset"]) == 1 and int(stats["codes_used"]) == 2
  # Perplexity of the batch histogram (2, 1, 0): exp(entropy of (2/3, 1/3)).
  p = np.array([2 / 3, 1 / 3])
  np.testing.assert_allclose(stats["perplexity"], np.exp(-(p * np.log(p)).sum()), rtol=1e-5)
  # With decay 1.0 nothing moves and nothing is reset (counts stay at 1).
  same, stats = quantizer.ema_update(state, x, codes, 1.0, jax.random.PRNGKey(0))
  np.testing.assert_allclose(same.codebook, codebook)
  assert int(stats["codes_reset"]) == 0


def test_straight_through_gradient_reaches_the_encoder():
  model = vq_model.MotionVQVAE(feature_dim=263, width=16, code_dim=8)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, 16, 263))
  params = model.init(jax.random.PRNGKey(1), x)["params"]
  z = model.apply({"params": params}, x, method=vq_model.MotionVQVAE.encode)
  state = quantizer.init_codebook(z, 16, jax.random.PRNGKey(2))
  loss_config = ml_collections.ConfigDict({"velocity_weight": 0.5, "commit_weight": 0.02})

  def loss(p):
    return vq_model.vqvae_loss(model, p, state, x, jax.random.PRNGKey(3), loss_config, 0.99)[0]

  grads = jax.jit(jax.grad(loss))(params)  # one compilation, not one per operation
  assert float(jnp.abs(grads["encoder"]["conv_in"]["kernel"]).sum()) > 0
  assert float(jnp.abs(grads["decoder"]["conv_out"]["kernel"]).sum()) > 0


def test_velocity_term_uses_joint_position_dims():
  assert vq_model.joint_position_dims(263) == slice(4, 67)
  assert vq_model.joint_position_dims(251) == slice(4, 64)


def test_vqvae_overfits_a_small_batch(tmp_path):
  from motiongpt_jax.train import trainer
  from motiongpt_jax.vqvae.vq_task import VQVAETask
  config = small_config(steps=600, learning_rate=2e-3, warmup_steps=10, log_every=25,
                        final_lr_fraction=1.0,
                        checkpoint_every=1000, batch_size=8)
  rng = np.random.default_rng(0)
  # Eight smooth random motions of exactly one window: the same batch every step.
  t = np.linspace(0, 1, 32)[:, None]
  motions = [np.sin(2 * np.pi * (rng.uniform(0.5, 2, 263) * t + rng.uniform(0, 1, 263)))
             .astype(np.float32) for _ in range(8)]
  task = VQVAETask(config, motions)
  first_loss = float(task.loss_fn(*task.init(jax.random.PRNGKey(0)),
                                  {"motion": jnp.asarray(task.batch(0)["motion"])},
                                  jax.random.PRNGKey(0))[0])
  one_device = partitioning.make_mesh(devices=jax.devices()[:1])
  result = trainer.train(task, config.train, str(tmp_path), mesh=one_device, log=print)
  assert result.last_metrics["loss"] < first_loss / 10, (first_loss, result.last_metrics)


def test_mirrored_features_are_an_exact_involution(synth_dir):
  from motiongpt_jax.data import humanml3d
  from motiongpt_jax.vqvae.token_files import mirror_features
  spec = humanml3d.SPECS["humanml3d"]
  mean, std = humanml3d.load_mean_std(synth_dir, spec)
  name = humanml3d.read_split_names(synth_dir, "train")[0]
  motion = (humanml3d.load_motion(synth_dir, name, spec) - mean) / std
  mirrored = mirror_features(motion, mean, std)
  assert mirrored.shape == motion.shape
  raw, raw_m = motion * std + mean, mirrored * std + mean
  np.testing.assert_allclose(raw_m[:, 3], raw[:, 3], atol=1e-4)     # root height unchanged
  np.testing.assert_allclose(raw_m[:, 0], -raw[:, 0], atol=1e-4)    # turning reversed
  assert not np.allclose(mirrored, motion, atol=1e-2)
  np.testing.assert_allclose(mirror_features(mirrored, mean, std), motion, atol=2e-3)
