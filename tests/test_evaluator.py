"""The Guo et al. evaluator: PyTorch parity of the converted official format, safe loading,
word handling, and a tiny evaluator that learns to match captions to motions."""

import os
import pickle

import numpy as np
import pytest

from motiongpt_jax import cli
from motiongpt_jax.evaluation import evaluator as E
from motiongpt_jax.evaluation import words as W

pytestmark = pytest.mark.xdist_group("evaluator")  # its module fixture is built once

torch = pytest.importorskip("torch")
from motiongpt_jax.testing.torch_modules import Movement as TorchMovement  # noqa: E402
from motiongpt_jax.testing.torch_modules import Sequence as TorchSequence  # noqa: E402


@pytest.fixture(scope="module")
def official(tmp_path_factory, synth_dir):
  """A fake official evaluator (random weights, small sizes) in the reference's file layout."""
  torch.manual_seed(0)
  root = tmp_path_factory.mktemp("official")
  d, word = 263, 12
  movement = TorchMovement(d - 4, 16, 20).eval()
  text = TorchSequence(word, 24, 8, pos_size=len(W.POS)).eval()
  motion = TorchSequence(20, 28, 8).eval()
  torch.save({"movement_encoder": movement.state_dict(), "text_encoder": text.state_dict(),
              "motion_encoder": motion.state_dict(), "epoch": 7}, root / "finest.tar")
  glove = root / "glove"
  glove.mkdir()
  words = ["unk", "sos", "eos", "a", "person", "walk", "forward", "jump", "left"]
  np.save(glove / "our_vab_data.npy", np.random.default_rng(0).normal(size=(len(words), word))
          .astype(np.float32))
  with open(glove / "our_vab_words.pkl", "wb") as f:
    pickle.dump(words, f)
  with open(glove / "our_vab_idx.pkl", "wb") as f:
    pickle.dump({w: i for i, w in enumerate(words)}, f)
  meta = root / "meta"
  meta.mkdir()
  rng = np.random.default_rng(1)
  np.save(meta / "mean.npy", rng.normal(size=d).astype(np.float32))
  np.save(meta / "std.npy", rng.uniform(0.5, 2, size=d).astype(np.float32))
  out = str(root / "converted")
  assert cli.main(["convert-evaluator", "--checkpoint", str(root / "finest.tar"), "--glove",
                   str(glove), "--meta", str(meta), "--data", synth_dir, "--out", out]) == 0
  return dict(root=root, out=out, movement=movement, text=text, motion=motion, meta=meta)


def test_converted_official_evaluator_matches_pytorch(official):
  evaluator = E.Evaluator.load(official["out"])
  rng = np.random.default_rng(2)
  motions = [rng.normal(size=(n, 263)).astype(np.float32) for n in (40, 64, 17, 100)]
  ours = evaluator.embed_motions(motions)
  mean, std = (np.load(official["meta"] / n) for n in ("mean.npy", "std.npy"))
  with torch.no_grad():
    for m, got in zip(motions, ours):
      n = len(m) // 4 * 4
      x = torch.zeros(1, 196, 263)  # the reference pads every motion to 196 frames
      x[0, :n] = torch.tensor((m[:n] - mean) / std)
      movements = official["movement"](x[..., :-4])
      expected = official["motion"](movements, torch.tensor([n // 4]))[0].numpy()
      np.testing.assert_allclose(got, expected, atol=2e-5)

  captions = [["a/DET", "person/NOUN", "walk/VERB", "forward/ADV"],
              ["a/DET", "person/NOUN", "jump/VERB", "to/ADP", "the/DET", "left/NOUN"]]
  ours = evaluator.embed_texts(captions)
  with torch.no_grad():
    for tokens, got in zip(captions, ours):
      ids, pos, length = evaluator.vocab.encode(tokens)
      vectors = torch.tensor(evaluator.vocab.vectors[ids])[None]
      expected = official["text"](vectors, torch.tensor([length]),
                                  torch.tensor(pos)[None])[0].numpy()
      np.testing.assert_allclose(got, expected, atol=2e-5)


def _torch_motion_embeddings(official, motions, max_frames=196):
  """The reference's batch: each motion cut to a multiple of 4 frames (at most max_frames),
  normalised, zero-padded to max_frames; packed GRU over n // 4 movement vectors."""
  mean, std = (np.load(official["meta"] / n) for n in ("mean.npy", "std.npy"))
  x = torch.zeros(len(motions), max_frames, 263)
  lengths = []
  for i, m in enumerate(motions):
    n = min(len(m), max_frames) // 4 * 4
    x[i, :n] = torch.tensor((m[:n] - mean) / std)
    lengths.append(n // 4)
  with torch.no_grad():
    movements = official["movement"](x[..., :-4])
    return official["motion"](movements, torch.tensor(lengths)).numpy()


def test_full_length_motion_matches_pytorch(official):
  # a motion of exactly max_frames has no zero frame after it in the reference: the last
  # movement vector must not read a convolution of padding frames
  evaluator = E.Evaluator.load(official["out"])
  rng = np.random.default_rng(3)
  motions = [rng.normal(size=(n, 263)).astype(np.float32) for n in (196, 199)]
  np.testing.assert_allclose(evaluator.embed_motions(motions),
                             _torch_motion_embeddings(official, motions), atol=1e-5)
  # one at a time as well (a batch of one full motion)
  np.testing.assert_allclose(evaluator.embed_motions(motions[:1], batch_size=1),
                             _torch_motion_embeddings(official, motions[:1]), atol=1e-5)


def test_mixed_length_batch_matches_pytorch(official):
  evaluator = E.Evaluator.load(official["out"])
  rng = np.random.default_rng(4)
  lengths = (196, 40, 193, 100, 192, 64, 17, 198, 4, 150)
  motions = [rng.normal(size=(n, 263)).astype(np.float32) for n in lengths]
  expected = _torch_motion_embeddings(official, motions)
  np.testing.assert_allclose(evaluator.embed_motions(motions), expected, atol=1e-5)
  # chunks with and without a full-length motion (different padded widths) agree too
  np.testing.assert_allclose(evaluator.embed_motions(motions, batch_size=3), expected,
                             atol=1e-5)
  # The scanned GRU (training) and the unrolled one (``Evaluator``) are the same function.
  x = rng.normal(size=(3, 64, 263)).astype(np.float32)
  n = np.array([64, 20, 8], np.int32)
  embed = lambda m: m.apply({"params": evaluator.params}, x, n,
                            method=E.TextMotionEvaluator.embed_motion)
  np.testing.assert_allclose(embed(E.TextMotionEvaluator(evaluator.config)),
                             embed(E.TextMotionEvaluator(evaluator.config, unroll=True)),
                             atol=1e-5)


def test_word_encoding_follows_the_reference():
  vocab = W.WordVocabulary(["unk", "sos", "eos", "person", "walk", "left", "slowly"], None,
                           learned=True)
  ids, pos, length = vocab.encode(["person/NOUN", "walk/VERB", "left/ADV", "zebra/NOUN",
                                   "slowly/ADV"])
  assert length == 7 and ids.shape == (22,) and pos.shape == (22, 15)
  assert ids[:7].tolist() == [1, 3, 4, 5, 0, 6, 2]
  assert [W.POS[i] for i in pos[:7].argmax(1)] == [
      "OTHER", "NOUN", "Act_VIP", "Loc_VIP", "OTHER", "Desc_VIP", "OTHER"]
  assert ids[7:].tolist() == [0] * 15  # unk padding
  # captions longer than 20 tokens are cut to 20 (+ sos/eos)
  assert vocab.encode(["walk/VERB"] * 30)[2] == 22


def test_tagger_learns_surface_forms():
  tagger = W.Tagger.from_captions([("A person walks left.", ["a/DET", "person/NOUN",
                                                              "walk/VERB", "left/ADV"])])
  assert tagger.tag("the person walks LEFT") == ["the/OTHER", "person/NOUN", "walk/VERB",
                                                 "left/ADV"]


def test_glove_pickles_with_code_are_refused(tmp_path):
  class Evil:
    def __reduce__(self):
      return (os.system, ("echo pwned",))
  np.save(tmp_path / "our_vab_data.npy", np.zeros((3, 4), np.float32))
  with open(tmp_path / "our_vab_words.pkl", "wb") as f:
    pickle.dump([Evil()], f)
  with open(tmp_path / "our_vab_idx.pkl", "wb") as f:
    pickle.dump({"unk": 0, "sos": 1, "eos": 2}, f)
  with pytest.raises(W.WordError, match="refusing to load"):
    W.WordVocabulary.from_glove(str(tmp_path))
  os.remove(tmp_path / "our_vab_idx.pkl")
  with pytest.raises(W.WordError, match="our_vab_idx.pkl: missing"):
    W.WordVocabulary.from_glove(str(tmp_path))


def test_official_checkpoint_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="finest.tar"):
    E.read_official_checkpoint(str(tmp_path / "nope.tar"))
  torch.save({"text_encoder": {}}, tmp_path / "partial.tar")
  with pytest.raises(ValueError, match="missing \\['movement_encoder', 'motion_encoder'\\]"):
    E.read_official_checkpoint(str(tmp_path / "partial.tar"))


def test_contrastive_loss_by_hand():
  import jax.numpy as jnp
  text = jnp.array([[0.0, 0.0], [3.0, 4.0]])
  motion = jnp.array([[0.0, 1.0], [3.0, 4.0]])
  loss, (positive, negative) = E.contrastive_loss(text, motion, 1, margin=10.0)
  # positives: squared distances 1 and 0; negatives: distances 5 and sqrt(9 + 9) vs margin 10
  assert float(positive) == pytest.approx(0.5)
  assert float(negative) == pytest.approx(((10 - 5) ** 2 + (10 - np.sqrt(18)) ** 2) / 2)


def test_tiny_evaluator_learns_to_match(synth_dir, tmp_path):
  workdir = str(tmp_path / "evaluator")
  assert cli.main(["train-evaluator", "--workdir", workdir, "--data", synth_dir,
                   "--config.train.steps=150", "--config.train.eval_every=0",
                   "--config.train.log_every=50", "--config.train.batch_size=16"]) == 0
  evaluator = E.Evaluator.load(workdir)
  from motiongpt_jax.data import humanml3d
  from motiongpt_jax.evaluation.evaluator_task import validation_report
  samples = humanml3d.read_split(synth_dir, "train", normalize=False, include_spans=False)[:64]
  report = validation_report(evaluator, samples)
  # chance is 3/32 for top-3
  assert report["r_precision_top3"] > 0.4, report
  # resuming a finished run is a no-op that still loads
  assert cli.main(["train-evaluator", "--workdir", workdir, "--data", synth_dir,
                   "--config.train.steps=150", "--config.train.eval_every=0",
                   "--config.train.batch_size=16"]) == 0


def test_evaluator_mean_std_are_checked(official, tmp_path, capsys):
  import shutil
  from motiongpt_jax.data.humanml3d import DataError
  folder = tmp_path / "evaluator"
  shutil.copytree(official["out"], folder)
  np.save(folder / "std.npy", np.zeros(263, np.float32))  # would make every embedding NaN
  with pytest.raises(DataError, match=r"evaluator/std.npy: 263 values, 263 are <= 0 \(first at "
                                      r"index 0\); std must be positive"):
    E.Evaluator.load(str(folder))
  np.save(folder / "std.npy", np.ones(251, np.float32))
  with pytest.raises(DataError, match=r"std.npy: shape \(251,\), expected \(263,\)"):
    E.Evaluator.load(str(folder))
  # converting the official files checks the meta folder's statistics the same way
  meta = tmp_path / "meta"
  shutil.copytree(official["meta"], meta)
  mean = np.load(meta / "mean.npy")
  mean[7] = np.nan
  np.save(meta / "mean.npy", mean)
  assert cli.main(["convert-evaluator", "--checkpoint", str(official["root"] / "finest.tar"),
                   "--glove", str(official["root"] / "glove"), "--meta", str(meta), "--data",
                   "unused", "--out", str(tmp_path / "out")]) == 2
  assert "meta/mean.npy: 263 values, 1 is NaN or inf (first at index 7)" in \
      capsys.readouterr().err
