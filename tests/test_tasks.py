"""Span corruption and the pre-training SeqIO tasks on the built-in data set."""

import functools
import os

import numpy as np
import pytest
import seqio
import tensorflow as tf

from motiongpt_jax import cli, preprocessors
from motiongpt_jax.data import humanml3d

pytestmark = pytest.mark.xdist_group("tasks")  # its module fixtures are built once


def test_noise_mask_follows_t5_semantics():
  for length in (2, 10, 40, 101):
    mask = preprocessors.random_spans_noise_mask(length, 0.15, [(1, 2), (3, 4)]).numpy()
    noise = min(max(round(max(length, 2) * 0.15), 1), max(length, 2) - 1)
    assert mask.shape == (length,) and mask.sum() == noise
    assert not mask[0]  # spans interleave starting with non-noise
    spans = np.sum(mask[1:] & ~mask[:-1])
    assert spans == max(round(noise / 3.0), 1)
  a = preprocessors.random_spans_noise_mask(60, 0.15, [(1, 2), (3, 4)]).numpy()
  b = preprocessors.random_spans_noise_mask(60, 0.15, [(1, 2), (3, 4)]).numpy()
  c = preprocessors.random_spans_noise_mask(60, 0.15, [(5, 6), (7, 8)]).numpy()
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)


def test_span_corruption_inputs_and_targets_rebuild_the_sequence():
  tokens = tf.range(100, 160)
  inputs, targets = preprocessors.span_corruption(tokens, [(9, 9), (4, 2)], first_sentinel=99)
  inputs, targets = inputs.numpy().tolist(), targets.numpy().tolist()
  # Sentinels 99, 98, ... in order in both; filling them back gives the original.
  spans, current = {}, None
  for t in targets:
    if t < 100:
      current = t
      spans[current] = []
    else:
      spans[current].append(t)
  rebuilt = [x for t in inputs for x in (spans[t] if t < 100 else [t])]
  assert rebuilt == list(range(100, 160))
  assert [t for t in inputs if t < 100] == sorted(spans, reverse=True)
  assert len(rebuilt) - len([t for t in inputs if t >= 100]) == 9  # 15% of 60


@pytest.fixture(scope="module")
def registered(token_data):
  import tasks
  tasks.register(token_data["data"], token_data["tokens"], token_data["spm"])
  return token_data


LENGTHS = {"inputs": 256, "targets": 256}


@pytest.mark.parametrize("name", ["motiongpt_pretrain_motion_span",
                                  "motiongpt_pretrain_text_span", "motiongpt_pretrain_t2m",
                                  "motiongpt_pretrain_m2t", "motiongpt_pretrain_prediction",
                                  "motiongpt_pretrain"])
def test_tasks_yield_well_formed_examples(registered, name):
  task = seqio.get_mixture_or_task(name)
  v = task.output_features["targets"].vocabulary
  examples = list(task.get_dataset(LENGTHS, split="validation", shuffle=False).take(20))
  assert examples
  for ex in examples:
    inputs, targets = ex["inputs"].numpy(), ex["targets"].numpy()
    assert 1 < len(inputs) <= 256 and 1 < len(targets) <= 256
    assert inputs[-1] == v.eos_id and targets[-1] == v.eos_id
    assert inputs.max() < v.vocab_size and targets.max() < v.vocab_size
    text = v.decode(inputs.tolist()) + v.decode(targets.tolist())
    assert "Placeholder" not in text and text.strip()


def test_translation_pairs_caption_with_its_motion(registered):
  task = seqio.get_mixture_or_task("motiongpt_pretrain_t2m")
  v = task.output_features["targets"].vocabulary
  ex = next(iter(task.get_dataset(LENGTHS, split="validation", shuffle=False)))
  name = humanml3d.read_split_names(registered["data"], "val")[0]
  codes = np.load(os.path.join(registered["tokens"], name + ".npy"))[0]
  caption = humanml3d.read_captions(os.path.join(registered["data"], "texts", name + ".txt"))[0]
  assert v.decode(ex["inputs"].numpy().tolist()) == v.canonical(caption.text)
  assert v.decode(ex["targets"].numpy().tolist()) == v.motion_string(codes)


def _ids(task, **kw):
  ds = task.get_dataset(LENGTHS, split="validation", **kw)
  return [tuple(ex["inputs"].numpy()) + (-1,) + tuple(ex["targets"].numpy()) for ex in ds]


def test_pipelines_are_deterministic_and_shard_disjointly(registered):
  span = seqio.get_mixture_or_task("motiongpt_pretrain_motion_span")
  assert _ids(span, shuffle=True, seed=3) == _ids(span, shuffle=True, seed=3)
  assert _ids(span, shuffle=True, seed=3) != _ids(span, shuffle=True, seed=4)
  # Hosts read disjoint parts that together are the split (t2m: no random corruption).
  t2m = seqio.get_mixture_or_task("motiongpt_pretrain_t2m")
  full = _ids(t2m, shuffle=False, seed=0)
  shards = [_ids(t2m, shuffle=False, seed=0, shard_info=seqio.ShardInfo(i, 2))
            for i in range(2)]
  assert len(shards[0]) + len(shards[1]) == len(full) and shards[0] and shards[1]
  assert sorted(shards[0] + shards[1]) == sorted(full)


def test_feature_converter_output_feeds_the_t5_loss(registered):
  import jax
  import flax.linen as nn
  from motiongpt_jax.t5 import config as t5_config, lm_task
  from motiongpt_jax.t5.checkpoints import round_up
  task = seqio.get_mixture_or_task("motiongpt_pretrain")
  v = task.output_features["targets"].vocabulary
  ds = seqio.EncDecFeatureConverter(pack=False)(
      task.get_dataset(LENGTHS, split="validation", shuffle=False), LENGTHS)
  batch = next(iter(ds.batch(4).as_numpy_iterator()))
  cfg = t5_config.get_preset("tiny", vocab_size=round_up(v.vocab_size, 128),
                             real_vocab_size=v.vocab_size)
  model = lm_task.Transformer(cfg)
  params = nn.unbox(lm_task.init_variables(model, jax.random.PRNGKey(0))["params"])
  loss, metrics = lm_task.loss_fn(model, params, batch, jax.random.PRNGKey(0),
                                   enable_dropout=False)
  assert np.isfinite(float(loss))
  np.testing.assert_allclose(float(loss), np.log(v.vocab_size), rtol=0.3)  # untrained
  assert float(metrics["target_tokens"]) == float((batch["decoder_target_tokens"] > 0).sum())


def test_tasks_commands(registered, capsys):
  paths = ["--data", registered["data"], "--tokens", registered["tokens"], "--spm",
           registered["spm"]]
  assert cli.main(["tasks", "list", *paths]) == 0
  out = capsys.readouterr().out
  assert "motiongpt_pretrain_t2m" in out and "mixture motiongpt_pretrain " in out
  assert "mixture motiongpt_instruct" in out and "rates:" in out
  assert cli.main(["tasks", "show", "motiongpt_pretrain_m2t", "-n", "2", *paths]) == 0
  out = capsys.readouterr().out
  assert out.count("--- motiongpt_pretrain_m2t") == 2 and "<motion_id_512>" in out
  assert cli.main(["tasks", "show", "nope", *paths]) == 2
  assert "no task or mixture 'nope'" in capsys.readouterr().err


def instruct_names():
  from tasks.instructions import load_templates
  return [f"motiongpt_instruct_{t}{s}" for t in load_templates() for s in ("", "_eval")]


def test_templates_cover_every_family_in_our_own_words():
  from tasks.instructions import load_templates
  templates = load_templates()
  assert len(templates) == 18
  needs = {"t2m_caption": ["<Caption_Placeholder>"],
           "t2m_caption_frames": ["<Caption_Placeholder>", "<Frame_Placeholder>"],
           "t2m_caption_seconds": ["<Caption_Placeholder>", "<Second_Placeholder>"],
           "m2m_prediction": ["<Motion_Placeholder_s1>"],
           "m2m_inbetween": ["<Motion_Placeholder_Masked>"]}
  allowed = {"<Caption_Placeholder>", "<Motion_Placeholder>", "<Frame_Placeholder>",
             "<Second_Placeholder>", "<Motion_Placeholder_s1>", "<Motion_Placeholder_s2>",
             "<Motion_Placeholder_Masked>"}
  import re
  for name, spec in templates.items():
    assert len(spec["inputs"]) >= 20, name
    assert len(set(spec["inputs"])) == len(spec["inputs"]), name
    for text in spec["inputs"] + spec["outputs"]:
      assert set(re.findall(r"<[A-Za-z_0-9]+>", text)) <= allowed, text
    for placeholder in needs.get(name, []):
      assert all(placeholder in t for t in spec["inputs"]), (name, placeholder)


@pytest.mark.parametrize("name", instruct_names() + ["motiongpt_instruct"])
def test_instruction_tasks_yield_filled_examples(registered, name):
  task = seqio.get_mixture_or_task(name)
  v = task.output_features["targets"].vocabulary
  for ex in task.get_dataset(LENGTHS, split="validation", shuffle=False).take(5):
    inputs, targets = ex["inputs"].numpy().tolist(), ex["targets"].numpy().tolist()
    assert len(targets) > 1 and targets[-1] == v.eos_id and len(inputs) <= 256
    text = v.decode(inputs) + " " + v.decode(targets)
    assert "Placeholder" not in text and "\u2047" not in text, text  # no UNK (⁇)


def test_core_mixture_rates_by_template(registered):
  import tasks
  from tasks.instructions import CORE_TASKS, parse_rates
  d = registered
  try:
    tasks.register(d["data"], d["tokens"], d["spm"], core_rate=12.0,
                   task_rates="m2m_prediction=24, motiongpt_instruct_t2t_random_caption=3")
    mixture = seqio.get_mixture_or_task("motiongpt_instruct_core")
    rates = {t.name.removeprefix("motiongpt_instruct_"): mixture.get_rate(t)
             for t in mixture.tasks}
    assert len(rates) == 18 and rates["m2m_prediction"] == 24.0
    assert rates["t2t_random_caption"] == 3.0
    assert all(rates[t] == 12.0 for t in CORE_TASKS if t != "m2m_prediction")
    assert sum(r == 1.0 for r in rates.values()) == 18 - 5
  finally:
    tasks.register(d["data"], d["tokens"], d["spm"])
  assert parse_rates("") == {}
  for bad, says in (("m2m_predict=2", "no instruction template 'm2m_predict'"),
                    ("m2m_prediction", "finite rate > 0"),
                    ("m2m_prediction=0", "finite rate > 0"),
                    ("m2m_prediction=x", "finite rate > 0")):
    with pytest.raises(ValueError, match=says):
      parse_rates(bad)


def test_prediction_and_inbetween_rules_token_by_token():
  from motiongpt_jax import preprocessors as instructions
  codes = tf.constant(list(range(10, 30)), tf.int32)  # 20 tokens
  first, rest = instructions.prediction_split(codes)
  assert first.numpy().tolist() == [10, 11, 12, 13]  # 20% of 20
  assert rest.numpy().tolist() == list(range(14, 30))
  assert instructions.prediction_split(tf.constant([7, 8, 9]))[0].numpy().tolist() == [7]
  masked = instructions.inbetween_mask(codes, 514).numpy().tolist()
  assert masked == [10, 11, 12, 13, 14] + [514] * 10 + [25, 26, 27, 28, 29]
  odd = instructions.inbetween_mask(tf.constant(list(range(7))), 514).numpy().tolist()
  assert odd == [0, 514, 514, 514, 514, 514, 6]


def test_eval_variants_use_the_first_phrasing_and_match_the_data(registered):
  from tasks.instructions import load_templates
  task = seqio.get_mixture_or_task("motiongpt_instruct_m2t_count_frames_eval")
  v = task.output_features["targets"].vocabulary
  name = humanml3d.read_split_names(registered["data"], "val")[0]
  codes = np.load(os.path.join(registered["tokens"], name + ".npy"))[0]
  ex = next(iter(task.get_dataset(LENGTHS, split="validation", shuffle=False)))
  spec = load_templates()["m2t_count_frames"]
  expected_in = spec["inputs"][0].replace("<Motion_Placeholder>", v.motion_string(codes))
  assert v.decode(ex["inputs"].numpy().tolist()) == v.canonical(expected_in)
  assert v.decode(ex["targets"].numpy().tolist()) == f"{4 * len(codes)} frames."
  # Postprocessing and metrics of the task.
  target = task.postprocess_fn(f"{4 * len(codes)} frames.", is_target=True)
  assert target == 4 * len(codes)
  scores = task.metric_fns[0]([target], [target + 8])
  assert scores["length_abs_error"] == 8.0


def test_task_metric_functions():
  from motiongpt_jax.evaluation import task_metrics as m
  parse = functools.partial(m.postprocess_motion, num_codes=512)
  assert parse("<motion_id_512><motion_id_3><motion_id_4><motion_id_513> x") == [3, 4]
  assert parse(b"<motion_id_5><motion_id_514><motion_id_6>") == [5, 6]
  scores = m.motion_token_metrics([[1, 2, 3, 4]], [[1, 2, 9]])
  assert scores == {"motion_token_accuracy": 50.0, "motion_length_error": 25.0}
  assert m.postprocess_number("about 6.5 seconds.") == 6.5
  c = m.caption_metrics(["a person walks"], ["a person runs"])
  assert c["caption_exact_match"] == 0.0 and abs(c["caption_unigram_f1"] - 200 / 3) < 1e-9


def test_batched_rules_equal_the_per_example_rules():
  rows = [list(range(100, 100 + n)) for n in (1, 2, 3, 4, 5, 7, 10, 20, 49, 0)]
  codes = tf.ragged.constant(rows, dtype=tf.int32, row_splits_dtype=tf.int64)
  first, rest = preprocessors.prediction_split_batch(codes)
  masked = preprocessors.inbetween_mask_batch(codes, 514)
  for i, row in enumerate(rows):
    if not row:
      assert first[i].numpy().tolist() == [] and rest[i].numpy().tolist() == []
      continue
    f, r = preprocessors.prediction_split(tf.constant(row, tf.int32))
    assert first[i].numpy().tolist() == f.numpy().tolist()
    assert rest[i].numpy().tolist() == r.numpy().tolist()
    m = preprocessors.inbetween_mask(tf.constant(row, tf.int32), 514)
    assert masked[i].numpy().tolist() == m.numpy().tolist()


def test_drop_one_token_drops_the_head_or_tail_code_one_time_in_three():
  """MotionGPT's augmentation: [start, codes..., end] loses its first or last code with
  probability 1/3 (even odds), never the start or end id, never its last code."""
  ids = tf.constant([7, 100, 101, 102, 103, 8], tf.int32)
  outcomes = {"whole": 0, "head": 0, "tail": 0}
  for k in range(1500):
    out = preprocessors.drop_one_code(ids, tf.constant([[k, 1], [k, 2]], tf.int32)).numpy()
    kind = {6: "whole"}.get(len(out)) or ("head" if out[1] == 101 else "tail")
    outcomes[kind] += 1
    assert out[0] == 7 and out[-1] == 8 and len(out) >= 5
    if kind == "tail":
      assert out.tolist() == [7, 100, 101, 102, 8]
  assert abs(outcomes["whole"] / 1500 - 2 / 3) < 0.04, outcomes
  assert abs(outcomes["head"] - outcomes["tail"]) < 0.2 * (1500 - outcomes["whole"]), outcomes
  one_code = tf.constant([7, 100, 8], tf.int32)
  for k in range(30):  # a motion of one token keeps it
    seeds = tf.constant([[k, 1], [k, 2]], tf.int32)
    assert preprocessors.drop_one_code(one_code, seeds).numpy().tolist() == [7, 100, 8]
