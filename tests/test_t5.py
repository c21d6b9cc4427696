"""The T5: T5X module tree and axes, loss, sharding on simulated meshes, decoding."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from motiongpt_jax import partitioning, reductions
from motiongpt_jax.t5 import config as t5_config
from motiongpt_jax.t5 import decoding, lm_task, losses
from motiongpt_jax.t5.network import Transformer


def tiny(**kw):
  return t5_config.get_preset("tiny", dropout_rate=0.0, **kw)


def init(cfg, seed=0):
  model = Transformer(cfg)
  return model, nn.unbox(lm_task.init_variables(model, jax.random.PRNGKey(seed))["params"])


def random_batch(cfg, batch=8, enc_len=12, dec_len=10, seed=0):
  rng = np.random.default_rng(seed)
  enc = rng.integers(2, cfg.vocab_size, (batch, enc_len)).astype(np.int32)
  tgt = rng.integers(2, cfg.vocab_size, (batch, dec_len)).astype(np.int32)
  enc[0, 9:] = 0   # some padding
  tgt[1, 7:] = 0
  dec_in = np.concatenate([np.zeros((batch, 1), np.int32), tgt[:, :-1]], axis=1)
  return {"encoder_input_tokens": enc, "decoder_input_tokens": dec_in,
          "decoder_target_tokens": tgt}


def count(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


def test_module_tree_matches_t5x_names():
  _, params = init(tiny())
  assert set(params) == {"token_embedder", "encoder", "decoder"}
  assert set(params["encoder"]) == {"relpos_bias", "layers_0", "layers_1", "encoder_norm"}
  assert set(params["encoder"]["layers_0"]) == {
      "pre_attention_layer_norm", "attention", "pre_mlp_layer_norm", "mlp"}
  assert set(params["decoder"]) == {"relpos_bias", "layers_0", "layers_1", "decoder_norm",
                                    "logits_dense"}
  assert set(params["decoder"]["layers_0"]) == {
      "pre_self_attention_layer_norm", "self_attention", "pre_cross_attention_layer_norm",
      "encoder_decoder_attention", "pre_mlp_layer_norm", "mlp"}
  attn = params["decoder"]["layers_0"]["self_attention"]
  assert attn["query"]["kernel"].shape == (128, 4, 32)
  assert attn["out"]["kernel"].shape == (4, 32, 128)
  assert set(params["encoder"]["layers_0"]["mlp"]) == {"wi_0", "wi_1", "wo"}
  assert params["encoder"]["relpos_bias"]["rel_embedding"].shape == (4, 32)
  # The original T5: one ReLU 'wi' and tied embeddings (no logits_dense).
  _, original = init(tiny(mlp_activations=("relu",), logits_via_embedding=True))
  assert set(original["encoder"]["layers_0"]["mlp"]) == {"wi", "wo"}
  assert "logits_dense" not in original["decoder"]


def test_logical_axis_names_are_t5x():
  specs = lm_task.param_logical_specs(Transformer(tiny()))
  assert specs["token_embedder"]["embedding"] == P("vocab", "embed")
  layer = specs["encoder"]["layers_0"]
  assert layer["attention"]["query"]["kernel"] == P("embed", "heads", "kv")
  assert layer["attention"]["out"]["kernel"] == P("heads", "kv", "embed")
  assert layer["mlp"]["wi_0"]["kernel"] == P("embed", "mlp")
  assert layer["mlp"]["wo"]["kernel"] == P("mlp", "embed")
  assert layer["pre_mlp_layer_norm"]["scale"] == P("embed")
  assert specs["encoder"]["relpos_bias"]["rel_embedding"] == P("heads", "relpos_buckets")
  assert specs["decoder"]["logits_dense"]["kernel"] == P("embed", "vocab")


@pytest.mark.parametrize("name,expected", [
    ("t5_small", 60_506_624), ("t5_base", 222_903_552), ("flan_t5_small", 76_961_152),
    ("flan_t5_base", 247_577_856), ("t5_large", 737_668_096), ("flan_t5_large", 783_150_080)])
def test_presets_have_the_published_parameter_counts(name, expected):
  model = Transformer(t5_config.get_preset(name))
  shapes = jax.eval_shape(lambda: lm_task.init_variables(model, jax.random.PRNGKey(0)))
  assert count(nn.unbox(shapes["params"])) == expected


def test_cross_entropy_z_loss_and_label_smoothing_by_hand():
  logits = jnp.array([[[2.0, 0.5, -1.0, 0.0]]])
  target = jnp.array([[1]])
  log_z = np.log(np.exp([2.0, 0.5, -1.0, 0.0]).sum())
  loss, z = losses.cross_entropy_with_z_loss(logits, target, z_loss=1e-2)
  np.testing.assert_allclose(loss[0, 0], -(0.5 - log_z) + 1e-2 * log_z ** 2, rtol=1e-6)
  np.testing.assert_allclose(z[0, 0], 1e-2 * log_z ** 2, rtol=1e-6)
  ls = 0.1
  q = np.array([ls / 3, 1 - ls, ls / 3, ls / 3])
  expected = -(q * (np.array([2.0, 0.5, -1.0, 0.0]) - log_z)).sum() + (q * np.log(q)).sum()
  loss, _ = losses.cross_entropy_with_z_loss(logits, target, z_loss=0.0, label_smoothing=ls)
  np.testing.assert_allclose(loss[0, 0], expected, rtol=1e-5)
  # Normalised by real target tokens: padding (0) does not count.
  logits2 = jnp.zeros((1, 3, 4))
  mean_loss, metrics = losses.weighted_loss(logits2, jnp.array([[1, 2, 0]]), z_loss=0.0)
  np.testing.assert_allclose(mean_loss, np.log(4.0), rtol=1e-6)
  assert float(metrics["target_tokens"]) == 2.0


def test_padding_rows_of_the_vocabulary_are_never_predicted():
  cfg = tiny(real_vocab_size=1000)  # 1024 rows, 24 of them padding
  model, params = init(cfg)
  b = random_batch(cfg)
  logits = model.apply({"params": params}, b["encoder_input_tokens"],
                       b["decoder_input_tokens"], b["decoder_target_tokens"],
                       enable_dropout=False)
  assert logits.shape[-1] == 1024
  assert float(jnp.max(logits[..., 1000:])) <= -1e9
  probs = jax.nn.softmax(logits)
  assert float(jnp.max(probs[..., 1000:])) == 0.0


def test_dropout_only_when_enabled():
  cfg = t5_config.get_preset("tiny", dropout_rate=0.3)
  model, params = init(cfg)
  b = random_batch(cfg)
  args = (b["encoder_input_tokens"], b["decoder_input_tokens"], b["decoder_target_tokens"])
  a = model.apply({"params": params}, *args, enable_dropout=False)
  np.testing.assert_array_equal(a, model.apply({"params": params}, *args, enable_dropout=False))
  d = model.apply({"params": params}, *args, enable_dropout=True,
                  rngs={"dropout": jax.random.PRNGKey(1)})
  assert not np.allclose(a, d)


def _converted(examples, lengths, pack):
  """seqio's EncDecFeatureConverter on in-memory examples, as numpy rows."""
  import seqio
  import tensorflow as tf
  ds = tf.data.Dataset.from_generator(
      lambda: iter(examples), output_signature={
          "inputs": tf.TensorSpec([None], tf.int32), "targets": tf.TensorSpec([None], tf.int32)})
  ds = seqio.EncDecFeatureConverter(pack=pack)(ds, lengths)
  return list(ds.as_numpy_iterator())


def test_packed_rows_give_each_example_its_own_logits_and_loss():
  """seqio packs several examples per row; attention must stay inside each one, so every
  target token's logits equal those of its example alone, and the packed batch's loss is
  the unpacked batch's (both average over the same real target tokens)."""
  cfg = tiny()
  model, params = init(cfg)
  rng = np.random.default_rng(3)
  examples = [{"inputs": rng.integers(2, cfg.vocab_size, n_in).astype(np.int32),
               "targets": rng.integers(2, cfg.vocab_size, n_tgt).astype(np.int32)}
              for n_in, n_tgt in [(5, 4), (7, 3), (3, 6), (9, 5), (4, 2), (6, 7)]]
  lengths = {"inputs": 24, "targets": 16}
  packed = _converted(examples, lengths, pack=True)
  single = _converted(examples, lengths, pack=False)
  assert len(packed) < len(examples)  # several examples share a row
  stack = lambda rows: {k: np.stack([r[k] for r in rows]) for k in rows[0]}
  pb, sb = stack(packed), stack(single)
  assert pb["decoder_segment_ids"].max() >= 2

  def logits(b):
    return np.asarray(model.apply(
        {"params": params}, b["encoder_input_tokens"], b["decoder_input_tokens"],
        b["decoder_target_tokens"], encoder_segment_ids=b.get("encoder_segment_ids"),
        decoder_segment_ids=b.get("decoder_segment_ids"), enable_dropout=False))

  lp, ls = logits(pb), logits(sb)
  k = 0
  for row in range(len(packed)):
    for segment in range(1, pb["decoder_segment_ids"][row].max() + 1):
      where = pb["decoder_segment_ids"][row] == segment
      n = int(where.sum())
      np.testing.assert_array_equal(pb["decoder_target_tokens"][row][where],
                                    sb["decoder_target_tokens"][k][:n])
      np.testing.assert_allclose(lp[row][where], ls[k][:n], atol=2e-5, rtol=1e-5)
      k += 1
  assert k == len(examples)
  key = jax.random.PRNGKey(0)
  loss_p = lm_task.loss_fn(model, params, pb, key, enable_dropout=False)[0]
  loss_s = lm_task.loss_fn(model, params, sb, key, enable_dropout=False)[0]
  np.testing.assert_allclose(loss_p, loss_s, rtol=1e-5)
  # without the segment ids the examples of a row would see each other
  mixed = dict(pb)
  del mixed["encoder_segment_ids"], mixed["decoder_segment_ids"]
  assert abs(float(lm_task.loss_fn(model, params, mixed, key, enable_dropout=False)[0])
             - float(loss_s)) > 1e-4


@pytest.mark.parametrize("data,model_axis", [(8, 1), (2, 4), (1, 8)])
def test_sharded_loss_and_gradients_match_one_device(data, model_axis):
  assert jax.device_count() == 8
  cfg = tiny(num_heads=8, head_dim=16)  # 8 heads, so that 'model' can take all 8 devices
  model, params = init(cfg)
  batch = random_batch(cfg, batch=8)

  def loss_and_grad(params, batch):
    return jax.value_and_grad(
        lambda p: lm_task.loss_fn(model, p, batch, jax.random.PRNGKey(0),
                                   enable_dropout=False)[0])(params)

  ref_loss, ref_grads = jax.jit(loss_and_grad)(params, batch)
  mesh = partitioning.make_mesh(model_parallel=model_axis)
  shardings = partitioning.mesh_shardings(mesh, lm_task.param_logical_specs(model))
  with mesh, partitioning.axis_rules():
    sharded_params = jax.device_put(params, shardings)
    sharded_batch = partitioning.shard_batch(mesh, batch)
    step = jax.jit(loss_and_grad, in_shardings=(shardings, partitioning.batch_sharding(mesh)),
                   out_shardings=(partitioning.replicated(mesh), shardings))
    loss, grads = step(sharded_params, sharded_batch)
  np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
  for g, r in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(ref_grads)):
    np.testing.assert_allclose(g, r, rtol=2e-4, atol=2e-6)
  # Parameters really are split over 'model': vocabulary rows, MLP columns, heads.
  emb = sharded_params["token_embedder"]["embedding"]
  assert emb.addressable_shards[0].data.shape == (1024 // model_axis, 128)
  wi = sharded_params["encoder"]["layers_0"]["mlp"]["wi_0"]["kernel"]
  assert wi.addressable_shards[0].data.shape == (128, 256 // model_axis)
  q = sharded_params["encoder"]["layers_0"]["attention"]["query"]["kernel"]
  assert q.addressable_shards[0].data.shape == (128, 8 // model_axis, 16)
  assert grads["encoder"]["layers_0"]["mlp"]["wo"]["kernel"].sharding.spec == P("model", None)


def _full_greedy(model, params, enc, steps):
  # The whole decoder over a fixed-length sequence each step (causal: position t reads only
  # tokens <= t), so one compilation serves every step.
  full = jax.jit(lambda seq: model.apply({"params": params}, enc, seq, jnp.ones_like(seq),
                                         enable_dropout=False))
  seq = jnp.zeros((enc.shape[0], steps + 1), jnp.int32)
  for t in range(steps):
    seq = seq.at[:, t + 1].set(jnp.argmax(full(seq)[:, t], -1).astype(jnp.int32))
  return np.asarray(seq[:, 1:])


def test_cached_decoding_equals_full_recomputation():
  cfg = tiny()
  model, params = init(cfg)
  enc = jnp.asarray(random_batch(cfg, batch=3)["encoder_input_tokens"])
  tokens, _ = decoding.sample(model, params, enc, jax.random.PRNGKey(0), max_decode_length=10,
                              eos_id=-1)
  np.testing.assert_array_equal(tokens, _full_greedy(model, params, enc, 10))
  # top-k 1 sampling at any temperature is greedy.
  topk1, _ = decoding.sample(model, params, enc, jax.random.PRNGKey(5), max_decode_length=10,
                             temperature=1.5, top_k=1, eos_id=-1)
  np.testing.assert_array_equal(topk1, tokens)


def test_sampling_respects_top_k_top_p_and_the_mask_hook():
  cfg = tiny()
  model, params = init(cfg)
  enc = jnp.asarray(random_batch(cfg, batch=4)["encoder_input_tokens"])
  allowed = np.zeros(cfg.vocab_size, bool)
  allowed[500:520] = True
  tokens, _ = decoding.sample(model, params, enc, jax.random.PRNGKey(0), max_decode_length=16,
                              temperature=1.0, top_p=0.9, eos_id=-1,
                              logits_mask_fn=decoding.allow_only(allowed))
  assert np.all((tokens >= 500) & (tokens < 520))
  a, _ = decoding.sample(model, params, enc, jax.random.PRNGKey(0), max_decode_length=16,
                         temperature=1.0, top_k=5, eos_id=-1)
  b, _ = decoding.sample(model, params, enc, jax.random.PRNGKey(1), max_decode_length=16,
                         temperature=1.0, top_k=5, eos_id=-1)
  assert not np.array_equal(a, b)
  # Top-k keeps exactly the k best logits.
  logits = jnp.array([[0.0, 3.0, 1.0, 2.0, -1.0]])
  kept = decoding._filter_logits(logits, top_k=2, top_p=1.0)
  assert list(np.asarray(kept[0] > -1e6)) == [False, True, False, True, False]
  # Top-p keeps the smallest set whose mass reaches p.
  probs = jnp.log(jnp.array([[0.5, 0.3, 0.15, 0.05]]))
  kept = decoding._filter_logits(probs, top_k=0, top_p=0.7)
  assert list(np.asarray(kept[0] > -1e6)) == [True, True, False, False]


def test_kth_largest_equals_lax_top_k():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(6, 777)).astype(np.float32) * 30
  x[1, :500] = decoding.NEG_INF  # masked logits
  x[2] = np.round(x[2] / 10)  # many ties
  x[3, ::2] = -0.0
  x[4] = np.float32(np.inf) * np.sign(x[4])  # +-inf
  for k in (1, 2, 50, 333, 777):
    want = np.asarray(jax.lax.top_k(jnp.asarray(x), k)[0][:, -1])
    np.testing.assert_array_equal(np.asarray(decoding.kth_largest(jnp.asarray(x), k)), want)
  # k beyond the vocabulary keeps everything (the smallest value).
  np.testing.assert_array_equal(decoding.kth_largest(jnp.asarray(x), 10_000), x.min(-1))


def test_argmax_argmin_equal_jnp_ties_nan_inf_and_ints():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(11, 1152)).astype(np.float32)
  x[1, [5, 700]] = 50.0  # tied maximum: the first wins
  x[2, [3, 900]] = -50.0  # tied minimum
  x[3, [40, 41]] = np.nan  # a NaN row: its first NaN, as jnp
  x[4] = 1.0  # all equal
  x[5, 17] = np.inf
  x[6, 1000] = -np.inf
  x[7] = decoding.NEG_INF
  x[8] = -1.0
  x[8, [5, 10]] = [-0.0, 0.0]  # a signed-zero tie at the maximum: position 5
  x[9] = 1.0
  x[9, [2, 4]] = [0.0, -0.0]  # and at the minimum: position 2
  x[10] = np.nan  # all NaN: position 0
  for ours, theirs in ((reductions.argmax, jnp.argmax), (reductions.argmin, jnp.argmin)):
    got = jax.jit(ours)(jnp.asarray(x))
    assert got.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(got), np.asarray(theirs(jnp.asarray(x), -1)))
  # Leading axes; integers, booleans, bfloat16 (with ties from its rounding).
  ints = jnp.asarray(rng.integers(-3, 3, (4, 5, 33)), jnp.int32)
  flags = ints > 1
  halves = jnp.asarray(rng.normal(size=(4, 5, 33)), jnp.bfloat16)
  for y in (ints, flags, halves):
    np.testing.assert_array_equal(reductions.argmax(y), jnp.argmax(y, -1))
    np.testing.assert_array_equal(reductions.argmin(y), jnp.argmin(y, -1))
  # The training accuracy still counts the first maximum as the prediction.
  logits = jnp.zeros((1, 2, 6)).at[0, 0, 2].set(1.0)
  _, metrics = losses.weighted_loss(logits, jnp.array([[2, 1]]))
  assert float(metrics["accuracy"]) == 0.5  # row 1 is all ties: argmax 0, target 1


def test_categorical_draws_follow_the_softmax():
  logits = jnp.array([[decoding.NEG_INF, 0.0, 1.0, decoding.NEG_INF, 2.0, decoding.NEG_INF]])
  keys = jax.random.split(jax.random.PRNGKey(0), 20_000)
  draws = np.asarray(jax.vmap(lambda k: decoding.categorical(k, logits)[0])(keys))
  frequency = np.bincount(draws, minlength=6) / len(draws)
  expected = np.asarray(jax.nn.softmax(logits[0]))
  assert frequency[[0, 3, 5]].sum() == 0  # masked entries are never drawn
  np.testing.assert_allclose(frequency, expected, atol=0.015)
  # Across blocks of 128 entries, a masked tail, and several rows: the same law.
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(3, 700)).astype(np.float32) * 2
  logits[:, 600:] = decoding.NEG_INF
  logits[1, :500] = decoding.NEG_INF
  keys = jax.random.split(jax.random.PRNGKey(1), 20_000)
  draws = np.asarray(jax.vmap(lambda k: decoding.categorical(k, jnp.asarray(logits)))(keys))
  for row in range(3):
    frequency = np.bincount(draws[:, row], minlength=700) / len(draws)
    expected = np.asarray(jax.nn.softmax(logits[row]))
    assert frequency[expected == 0].sum() == 0
    np.testing.assert_allclose(frequency, expected, atol=0.01)


def test_decoding_stops_at_eos_and_pads_after_it():
  cfg = tiny()
  model, params = init(cfg)
  enc = jnp.asarray(random_batch(cfg, batch=2)["encoder_input_tokens"])

  def eos_at_step_3(step, sequences, logits):
    forced = jnp.full_like(logits, decoding.NEG_INF).at[:, 1].set(0.0)
    return jnp.where(step == 3, forced, logits)

  tokens, _ = decoding.sample(model, params, enc, jax.random.PRNGKey(0), max_decode_length=12,
                              logits_mask_fn=eos_at_step_3)
  assert np.all(tokens[:, 3] == 1) and np.all(tokens[:, 4:] == 0)


def test_sampling_among_a_masks_candidates_is_the_same_draw():
  cfg = tiny()
  model, params = init(cfg)
  enc = jnp.asarray(random_batch(cfg, batch=16)["encoder_input_tokens"])
  allowed = np.zeros(cfg.vocab_size, bool)
  allowed[[1, 5, 7, 8, 20, 33, 40, 41, 42, 60]] = True
  restricted = decoding.allow_only(allowed)  # declares its candidates
  assert restricted.candidates == (1, 5, 7, 8, 20, 33, 40, 41, 42, 60)

  def plain(step, sequences, logits):  # the same mask without the declaration
    return restricted(step, sequences, logits)

  for top_k in (0, 3):
    key = jax.random.PRNGKey(top_k)
    got, got_logp = decoding.sample(model, params, enc, key, max_decode_length=10,
                                    temperature=1.0, top_k=top_k, logits_mask_fn=restricted)
    want, want_logp = decoding.sample(model, params, enc, key, max_decode_length=10,
                                      temperature=1.0, top_k=top_k, logits_mask_fn=plain)
    # One uniform number per row picks along the same cumulative distribution (the masked
    # entries add nothing to it), so the draws agree but for float round-off at a boundary.
    assert np.mean(np.asarray(got) == np.asarray(want)) > 0.97
    assert set(np.unique(got)) <= {0} | set(restricted.candidates)
    same = np.all(np.asarray(got) == np.asarray(want), axis=1)
    np.testing.assert_allclose(np.asarray(got_logp)[same], np.asarray(want_logp)[same],
                               atol=1e-4)


def test_beam_search_finds_at_least_the_greedy_score():
  cfg = tiny()
  model, params = init(cfg)
  enc = jnp.asarray(random_batch(cfg, batch=2)["encoder_input_tokens"])
  greedy, greedy_logp = decoding.sample(model, params, enc, jax.random.PRNGKey(0),
                                        max_decode_length=8, eos_id=-1)
  beams, scores = decoding.beam_search(model, params, enc, max_decode_length=8, num_beams=4,
                                       eos_id=-1)
  assert beams.shape == (2, 4, 8)
  penalty = ((5.0 + 8) / 6.0) ** 0.6
  assert np.all(scores[:, 0] >= greedy_logp / penalty - 1e-4)
  assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
  one, _ = decoding.beam_search(model, params, enc, max_decode_length=8, num_beams=1,
                                eos_id=-1)
  np.testing.assert_array_equal(one[:, 0], greedy)


def test_indivisible_sharding_names_the_parameter():
  model = Transformer(tiny())  # 4 heads
  abstract = nn.unbox(jax.eval_shape(
      lambda: lm_task.init_variables(model, jax.random.PRNGKey(0)))["params"])
  with pytest.raises(partitioning.MeshError, match=r"attention/key/kernel dimension 1 "
                     r"\('heads', size 4\) cannot be split over the 8 devices"):
    partitioning.check_divisible(partitioning.make_mesh(model_parallel=8), abstract,
                                 lm_task.param_logical_specs(model))


def test_code_noise_replaces_only_motion_codes_of_the_decoder_inputs_at_its_rate():
  from motiongpt_jax.t5.lm_task import corrupt_codes
  first, count = 100, 50
  rng = np.random.default_rng(0)
  # text ids below, codes inside, boundary/special ids above the codes' range
  tokens = jnp.asarray(rng.integers(0, 200, (64, 128)), jnp.int32)
  out = np.asarray(corrupt_codes(tokens, jax.random.PRNGKey(0), 0.3, first, count))
  tokens = np.asarray(tokens)
  is_code = (tokens >= first) & (tokens < first + count)
  np.testing.assert_array_equal(out[~is_code], tokens[~is_code])
  assert np.all((out[is_code] >= first) & (out[is_code] < first + count))
  changed = (out != tokens)[is_code].mean()
  # a swapped code stays the same one time in 50
  np.testing.assert_allclose(changed, 0.3 * (1 - 1 / count), atol=0.02)
  assert np.array_equal(np.asarray(corrupt_codes(jnp.asarray(tokens), jax.random.PRNGKey(0),
                                                 0.0, first, count)), tokens)
  # drawn uniformly: every code appears among the replacements
  assert len(np.unique(out[is_code & (out != tokens)])) == count


def test_task_corrupts_decoder_inputs_only_when_code_noise_is_set():
  """T5Task with ``code_noise`` trains on corrupted decoder inputs (another loss on a batch
  of codes), and is the plain task when the rate is 0 or no id of the batch is a code."""
  cfg = tiny()
  model, params = init(cfg)
  rng = np.random.default_rng(0)
  targets = rng.integers(10, 60, (4, 12)).astype(np.int32)
  batch = {"encoder_input_tokens": rng.integers(2, 60, (4, 10)).astype(np.int32),
           "decoder_target_tokens": targets,
           "decoder_input_tokens": np.concatenate([np.zeros((4, 1), np.int32),
                                                   targets[:, :-1]], 1)}
  key = jax.random.PRNGKey(1)

  def loss(noise):
    task = lm_task.T5Task(cfg, lambda step: batch, code_noise=noise)
    return float(task.loss_fn(params, {}, batch, key)[0])

  plain = loss(None)
  assert loss((0.0, 10, 50)) == plain
  assert loss((0.5, 100, 50)) == plain  # no id of the batch is one of these codes
  assert abs(loss((0.5, 10, 50)) - plain) > 1e-3
