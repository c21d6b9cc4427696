"""The motion-text vocabulary: layout, exact round trips, Python and TensorFlow agree."""

import os

import numpy as np
import pytest
import tensorflow as tf

from motiongpt_jax import cli, vocab
from motiongpt_jax.data import humanml3d


@pytest.fixture(scope="module")
def captions(synth_dir):
  out = []
  for name in humanml3d.read_split_names(synth_dir, "train"):
    out += [c.text for c in humanml3d.read_captions(
        os.path.join(synth_dir, "texts", name + ".txt"))]
  return out


@pytest.fixture(scope="module")
def v(captions, tmp_path_factory):
  path = vocab.train_sentencepiece(captions, str(tmp_path_factory.mktemp("spm") / "spm"), 500)
  return vocab.MotionTextVocabulary(path, num_motion_codes=512)


def test_layout_and_special_ids(v):
  pieces = v.text.tokenizer.GetPieceSize()
  assert v.text_size == pieces  # includes the 100 sentinels
  assert v.text.tokenizer.IdToPiece(pieces - 1).endswith("<extra_id_0>")  # seqio sentinel
  assert (v.pad_id, v.eos_id, v.unk_id) == (0, 1, 2)
  assert v.motion_offset == v.text_size
  assert v.motion_start_id == v.text_size + 512
  assert (v.motion_end_id, v.motion_mask_id) == (v.text_size + 513, v.text_size + 514)
  assert v.vocab_size == v.text_size + 515
  assert v.encode("<motion_id_0><motion_id_511>") == [v.text_size, v.text_size + 511]
  assert v.encode("<motion_id_512><motion_id_513><motion_id_514>") == [
      v.motion_start_id, v.motion_end_id, v.motion_mask_id]


def random_strings(captions, n, seed=0):
  rng = np.random.default_rng(seed)
  words = sorted({w for c in captions for w in c.split()})
  out = []
  for _ in range(n):
    parts = []
    text_first = rng.random() < 0.5
    for j in range(rng.integers(1, 6)):  # text and motion runs alternate (canonical form)
      if (j % 2 == 0) == text_first:
        parts.append(" ".join(rng.choice(words, rng.integers(1, 8))))
      else:
        codes = rng.integers(0, 515, rng.integers(1, 12))
        parts.append("".join(f"<motion_id_{c}>" for c in codes))
    out.append(" ".join(parts))
  return out


def test_random_mixes_round_trip_exactly_and_tf_agrees(v, captions):
  strings = random_strings(captions, 200)
  for s in strings:
    ids = v.encode(s)
    assert v.decode(ids) == s
    assert v.encode_tf(tf.constant(s)).numpy().tolist() == list(ids)
    assert v.decode_tf(tf.constant(ids, tf.int32)).numpy().decode() == s
  # Batched TF decoding of padded rows gives the same strings.
  batch = [v.encode(s) + [v.eos_id] for s in strings[:5]]
  width = max(map(len, batch))
  padded = tf.constant([b + [0] * (width - len(b)) for b in batch], tf.int32)
  assert [x.decode() for x in v.decode_tf(padded).numpy()] == strings[:5]


def test_canonical_form_spacing(v):
  messy = "a person   walks<motion_id_4> <motion_id_5>forward "
  assert v.canonical(messy) == "a person walks <motion_id_4><motion_id_5> forward"
  assert v.motion_string([1, 2]) == "<motion_id_512><motion_id_1><motion_id_2><motion_id_513>"


def test_bad_input_is_an_error_not_a_wrong_token(v):
  with pytest.raises(ValueError, match=r"<motion_id_515> .* out of range: this vocabulary "
                                       r"has motion ids 0..514"):
    v.encode("walk <motion_id_515>")
  with pytest.raises(tf.errors.InvalidArgumentError, match="out of range"):
    v.encode_tf(tf.constant("walk <motion_id_9999>"))
  # Ids past the vocabulary decode as UNK, and decoding stops at EOS (seqio's rules).
  assert v.decode([v.vocab_size + 5]) == v.decode([v.unk_id])
  ids = v.encode("a person walks") + [v.eos_id] + v.encode("<motion_id_3>")
  assert v.decode(ids) == "a person walks"
  assert v.decode_tf(tf.constant(ids, tf.int32)).numpy().decode() == "a person walks"


def test_vocab_train_command(synth_dir, tmp_path, capsys):
  out = str(tmp_path / "text.model")
  assert cli.main(["vocab", "train", "--data", synth_dir, "--out", out, "--size", "300"]) == 0
  assert os.path.exists(out)
  assert "motion tokens the vocabulary has" in capsys.readouterr().out
  v = vocab.MotionTextVocabulary(out)
  assert v.decode(v.encode("a person walks forward")) == "a person walks forward"
