"""The paper's rules in one place: numpy and TensorFlow paths agree, codes parse for any
codebook size, and the seqio tasks use the vocabulary's codebook."""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from motiongpt_jax import preprocessors, protocol
from motiongpt_jax.evaluation import task_metrics


@pytest.mark.parametrize("n", list(range(1, 50)))
def test_tf_preprocessors_follow_the_protocol(n):
  codes = np.arange(100, 100 + n, dtype=np.int32)
  first, rest = preprocessors.prediction_split(tf.constant(codes))
  keep = protocol.prediction_keep(n)
  assert keep == max(int(n * 0.2), 1)
  np.testing.assert_array_equal(first.numpy(), codes[:keep])
  np.testing.assert_array_equal(rest.numpy(), codes[keep:])
  masked = preprocessors.inbetween_mask(tf.constant(codes), protocol.mask_code(512)).numpy()
  np.testing.assert_array_equal(masked, protocol.inbetween_masked(codes, 512))
  lo, hi = protocol.inbetween_bounds(n)
  assert lo == n // 4 and hi == n - n // 4
  assert (masked[lo:hi] == 514).all() and (masked[:lo] == codes[:lo]).all()


@pytest.mark.parametrize("k", [512, 1024, 8])
def test_codes_from_text_for_any_codebook(k):
  text = protocol.motion_string([0, k - 1, 3], k)
  assert text.startswith(f"<motion_id_{k}>") and text.endswith(f"<motion_id_{k + 1}>")
  assert protocol.codes_from_text(text, k) == [0, k - 1, 3]
  # text around, and codes after the end token, are ignored; the mask id is not a code
  noisy = f"a person <motion_id_5>{text}<motion_id_{k + 2}><motion_id_2>"
  assert protocol.codes_from_text(noisy, k) == [0, k - 1, 3]


def test_eval_crop_is_a_multiple_of_four_inside_the_motion():
  rng = np.random.default_rng(0)
  motion = np.arange(103)[:, None]
  lengths = set()
  for _ in range(60):
    crop = protocol.eval_crop(motion, rng)
    assert len(crop) % 4 == 0 and crop[0, 0] + len(crop) <= 103
    np.testing.assert_array_equal(np.diff(crop[:, 0]), 1)
    lengths.add(len(crop))
  assert lengths == {100, 96}  # one unit shorter one time in three
  assert len(protocol.eval_crop(np.zeros((300, 1)), rng, max_frames=196)) in (196, 192)


def test_seqio_motion_metrics_use_the_vocabularys_codebook(token_data, tmp_path):
  """A 1024-code tokenizer: the postprocessor must parse codes 512..1023 and the start/end
  ids 1024/1025 (a 512-code assumption would read <motion_id_512> as the start)."""
  import seqio
  import tasks
  tokens = tmp_path / "tokens"
  shutil.copytree(token_data["tokens"], tokens)
  rng = np.random.default_rng(1)
  for name in os.listdir(tokens):
    if name.endswith(".npy"):
      codes = np.load(tokens / name)
      np.save(tokens / name, rng.integers(0, 1024, codes.shape).astype(np.int16))
  meta = json.loads((tokens / "tokens.json").read_text())
  (tokens / "tokens.json").write_text(json.dumps(dict(meta, num_codes=1024)))
  try:
    tasks.register(token_data["data"], str(tokens), token_data["spm"])
    task = seqio.get_mixture_or_task("motiongpt_instruct_t2m_caption_eval")
    vocab = task.output_features["targets"].vocabulary
    assert vocab.num_motion_codes == 1024
    text = "<motion_id_1024><motion_id_700><motion_id_512><motion_id_1023><motion_id_1025>"
    assert task.postprocess_fn(text) == [700, 512, 1023]
    ds = task.get_dataset({"inputs": 512, "targets": 512}, split="validation", shuffle=False)
    ex = next(iter(ds.take(1)))
    decoded = vocab.decode(ex["targets"].numpy().tolist())
    codes = task.postprocess_fn(decoded)
    assert codes and max(codes) < 1024
    scores = task_metrics.motion_token_metrics([codes], [codes])
    assert scores["motion_token_accuracy"] == 100.0
  finally:
    tasks.register(token_data["data"], token_data["tokens"], token_data["spm"])
