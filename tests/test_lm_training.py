"""The language model trained on the SeqIO mixtures with the shared trainer."""

import json
import os

import jax
import numpy as np

from motiongpt_jax import cli, partitioning
from motiongpt_jax.t5 import config as t5_config
from motiongpt_jax.t5.seqio_batches import SeqioBatches
from motiongpt_jax.t5.lm_task import T5Task
from motiongpt_jax.train import trainer

SMALL = ["--config.train.batch_size=8", "--config.data.inputs_length=96",
         "--config.data.targets_length=64", "--config.train.log_every=10",
         "--config.train.warmup_steps=5", "--config.train.eval_batches=2"]


def paths(token_data):
  return ["--data", token_data["data"], "--tokens", token_data["tokens"], "--spm",
          token_data["spm"]]


def test_pretraining_learns_and_instruction_tuning_starts_from_it(token_data, tmp_path, capsys):
  pre = str(tmp_path / "pre")
  assert cli.main(["train", "--config", "configs/t5_pretrain.py:tiny", "--workdir", pre,
                   *paths(token_data), *SMALL, "--config.train.steps=60",
                   "--config.train.learning_rate=3e-3", "--config.train.eval_every=60",
                   "--config.train.seqio_eval_examples=8",
                   "--config.model.num_decoder_layers=3"]) == 0
  rows = [json.loads(line) for line in open(os.path.join(pre, "metrics.jsonl"))]
  losses = [r["loss"] for r in rows if "loss" in r]
  # (the fixture's motion tokens are random, so only the text side can be learnt)
  assert losses[-1] < 0.75 * losses[0], losses
  assert any("eval/validation_loss" in r for r in rows)
  # the seqio.Evaluator ran the configured _eval tasks through their metric functions
  evaluated = [r for r in rows if "eval/t2m_caption_eval/motion_token_accuracy" in r]
  assert evaluated and 0 <= evaluated[-1]["eval/m2t_caption_eval/caption_unigram_f1"] <= 100
  assert "eval/t2t_caption_to_frames_eval/length_abs_error" in evaluated[-1]
  t5 = json.load(open(os.path.join(pre, "t5_config.json")))
  assert t5["vocab_size"] % 128 == 0 and t5["real_vocab_size"] <= t5["vocab_size"]
  # the preset's shape, changed by the config; other fields stay the preset's
  tiny = t5_config.get_preset("tiny")
  assert (t5["num_decoder_layers"], t5["num_encoder_layers"], t5["emb_dim"]) == (
      3, tiny.num_encoder_layers, tiny.emb_dim)
  inst = str(tmp_path / "inst")
  # (one instruction task: building the 18-task mixture's pipelines is tested elsewhere)
  assert cli.main(["train", "--config", "configs/t5_instruct.py:tiny", "--workdir", inst,
                   *paths(token_data), *SMALL, "--config.train.steps=4",
                   "--config.mixture=motiongpt_instruct_t2m_caption",
                   "--config.train.eval_every=0", f"--config.init_from={pre}"]) == 0
  out = capsys.readouterr().out
  assert f"starting from {pre} at step 60" in out and "motiongpt_instruct" in out
  # the instruction stage keeps the shape of the run it starts from
  assert json.load(open(os.path.join(inst, "t5_config.json")))["num_decoder_layers"] == 3


def test_lm_training_resumes_exactly(token_data, tmp_path):
  import tasks
  from tasks import pretraining
  from motiongpt_jax import config_utils
  tasks.register(token_data["data"], token_data["tokens"], token_data["spm"])
  vocab = pretraining.make_vocabulary(token_data["tokens"], token_data["spm"])
  config = config_utils.load_config("configs/t5_pretrain.py:tiny",
                                    [a for a in SMALL] + ["--config.train.steps=6",
                                                          "--config.train.checkpoint_every=2",
                                                          "--config.train.eval_every=0"])
  model = t5_config.get_preset("tiny", vocab_size=1152, real_vocab_size=vocab.vocab_size,
                               num_encoder_layers=1, num_decoder_layers=1)
  mesh = partitioning.make_mesh(devices=jax.devices()[:1])

  def run(workdir, stop_after=None):
    batches = SeqioBatches("motiongpt_pretrain", 96, 64, 8, seed=0)
    return trainer.train(T5Task(model, batches.batch), config.train, workdir, mesh=mesh,
                         log=lambda s: None, stop_after=stop_after)

  full = run(str(tmp_path / "full"))
  run(str(tmp_path / "cut"), stop_after=3)  # killed after step 3; last checkpoint at 2
  resumed = run(str(tmp_path / "cut"))
  assert resumed.resumed_from == 2
  for a, b in zip(jax.tree_util.tree_leaves(full.state.params),
                  jax.tree_util.tree_leaves(resumed.state.params)):
    np.testing.assert_array_equal(a, b)


def test_training_batches_fuse_maps_and_keep_every_value(token_data):
  """SeqioBatches runs tf.data's map fusion (``pipeline_options``); its batches are those of
  seqio's plain pipeline, value for value and in the same order."""
  import itertools
  import seqio
  import tasks
  tasks.register(token_data["data"], token_data["tokens"], token_data["spm"])
  batches = SeqioBatches("motiongpt_pretrain", 96, 64, 4, seed=3, pack=True)
  assert batches.dataset().options().experimental_optimization.map_fusion
  plain = seqio.get_dataset(
      "motiongpt_pretrain", task_feature_lengths={"inputs": 96, "targets": 64},
      dataset_split="train", shuffle=True, num_epochs=None, seed=3,
      shard_info=seqio.ShardInfo(0, 1),
      feature_converter=seqio.EncDecFeatureConverter(pack=True)).batch(4, drop_remainder=True)
  assert not plain.options().experimental_optimization.map_fusion
  want = list(itertools.islice(plain.as_numpy_iterator(), 12))
  got = [batches.batch(i) for i in range(12)]
  assert sorted(got[0]) == sorted(want[0])
  for g, w in zip(got, want):
    for key in w:
      np.testing.assert_array_equal(g[key], w[key], err_msg=key)
  assert any((g["decoder_segment_ids"] > 1).any() for g in got)  # rows really packed
