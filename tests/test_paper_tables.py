"""The evaluation harness on a model whose answers are known, and the eval/use commands'
argument errors."""

import json

import numpy as np
import pytest

from motiongpt_jax import cli
from motiongpt_jax.data import humanml3d
from motiongpt_jax.evaluation import paper_tables as P
from motiongpt_jax.motion import features as F

pytestmark = pytest.mark.xdist_group("paper_tables")  # its module fixture is built once


class Vocab:
  num_motion_codes = 512


class OracleModel:
  """'Generates' the real motion of a caption and answers a motion with its own caption.

  Codes are indices into the sample list, so decoding a code gives back a real motion.
  """

  def __init__(self, samples):
    self.samples = samples
    self.by_text = {c.text: i for i, s in enumerate(samples) for c in s.captions}
    self.vocab = Vocab()

  def t2m_prompt(self, text):
    return text

  def motion_codes(self, prompts, seed=0, top_k=50, temperature=1.0):
    return [np.array([self.by_text[p]]) for p in prompts]

  def features(self, codes):
    return self.samples[int(codes[0]) % len(self.samples)].motion

  def features_many(self, code_lists):
    return [self.features(c) for c in code_lists]

  def codes_of(self, motion):
    return np.array([next(i for i, s in enumerate(self.samples) if s.motion is motion)])

  def caption_codes(self, codes_list):
    return [self.samples[int(c[0])].captions[0].text for c in codes_list]


class FixedEvaluator:
  """Embeds a motion by its length and mean, and a caption by the motion it belongs to."""

  def __init__(self, samples):
    self.samples = samples
    self.caption_owner = {tuple(c.tokens): i for i, s in enumerate(samples) for c in s.captions}

  def _motion_vector(self, m):
    return np.array([len(m) / 10.0, float(np.mean(m)) * 10])

  def embed_motions(self, motions):
    return np.stack([self._motion_vector(m) for m in motions])

  def embed_texts(self, token_lists):
    far = np.array([1e3, 1e3])  # an unknown caption matches nothing
    return np.stack([self._motion_vector(self.samples[self.caption_owner[tuple(t)]].motion)
                     if tuple(t) in self.caption_owner else far for t in token_lists])

  def tag(self, text):
    for s in self.samples:
      for c in s.captions:
        if c.text == text:
          return list(c.tokens)
    return ["unknown/X"]


@pytest.fixture(scope="module")
def samples(synth_dir):
  whole = humanml3d.read_split(synth_dir, "train", normalize=False, include_spans=False)
  # captions that name one motion only, so the oracle's lookups are unambiguous
  counts = {}
  for s in whole:
    for c in s.captions:
      counts[c.text] = counts.get(c.text, 0) + 1
  unique = [s for s in whole if all(counts[c.text] == 1 for c in s.captions)]
  assert len(unique) >= 32
  return unique[:32]


def test_text_to_motion_oracle_matches_real(samples):
  model, evaluator = OracleModel(samples), FixedEvaluator(samples)
  table = P.text_to_motion(model, evaluator, samples, replications=2, mm_captions=4,
                           mm_repeats=3, log=lambda _: None, protocol_name="raw")
  ours = table["MotionGPT"]
  # generated = real motion, text embedding = its motion's: every pair is a perfect match
  assert ours["R@1"] == (1.0, 0.0) and ours["MM-Dist"][0] == pytest.approx(0.0)
  assert ours["FID"][0] == pytest.approx(0.0, abs=1e-6)
  assert ours["MModality"][0] == pytest.approx(0.0)  # the oracle always answers the same
  assert table["Random tokens"]["FID"][0] > 0
  assert table["_info"]["replications"] == 2
  # The paper's protocol compares with real motions cropped anew each replication: the
  # oracle's whole motions are then close to, not equal to, the references.
  paper = P.text_to_motion(model, evaluator, samples, replications=2, mm_captions=0,
                           mm_repeats=0, log=lambda _: None)
  assert paper["_info"]["protocol"] == "motiongpt"
  assert 0 < paper["MotionGPT"]["FID"][0] < 0.2 * paper["Random tokens"]["FID"][0]


def test_motion_to_text_oracle_scores_perfectly(samples):
  model, evaluator = OracleModel(samples), FixedEvaluator(samples)
  train_captions = ["a person does something else entirely"]
  table = P.motion_to_text(model, evaluator, samples, train_captions, log=lambda _: None,
                           protocol_name="raw")
  assert table["_info"]["protocol"] == "raw"
  assert table["MotionGPT"]["BLEU@1"][0] == pytest.approx(100.0)
  assert table["MotionGPT"]["ROUGE-L"][0] == pytest.approx(100.0)
  assert table["MotionGPT"]["R@1"][0] == 1.0
  assert table["Random caption"]["BLEU@4"][0] < table["MotionGPT"]["BLEU@4"][0]


class LemmaModel(OracleModel):
  """Answers with the lemmatised form of a motion's first caption."""

  def caption_codes(self, codes_list):
    return [" ".join(t.split("/")[0] for t in self.samples[int(c[0])].captions[0].tokens)
            for c in codes_list]


def test_motiongpt_protocol_scores_against_three_lemmatised_references(samples):
  sample = samples[0]
  refs = P.caption_references(sample, "motiongpt")
  assert len(refs) == 3
  lemmas = [" ".join(t.split("/")[0] for t in c.tokens) for c in sample.captions]
  assert refs == [lemmas[i % len(lemmas)] for i in range(3)]
  assert P.caption_references(sample, "raw") == [c.text for c in sample.captions]
  model, evaluator = LemmaModel(samples), FixedEvaluator(samples)
  table = P.motion_to_text(model, evaluator, samples, ["someone else entirely"],
                           log=lambda _: None)
  assert table["_info"]["protocol"] == "motiongpt"
  assert table["MotionGPT"]["BLEU@1"][0] == pytest.approx(100.0)
  assert table["MotionGPT"]["BLEU@4"][0] == pytest.approx(100.0)
  raw = P.motion_to_text(model, evaluator, samples, ["someone else entirely"],
                         log=lambda _: None, protocol_name="raw")
  assert raw["MotionGPT"]["BLEU@4"][0] < 100.0  # lemmas are not the raw captions
  with pytest.raises(ValueError, match="--protocol"):
    P.check_protocol("paper")


def test_span_errors_and_held_pose_baseline(samples):
  real = samples[0].motion
  # a perfect continuation has no error; the held pose has some (the motion moves)
  (ade, fde), (held_ade, _) = P.span_errors(real, real, 20, len(real))
  assert ade == pytest.approx(0.0, abs=1e-6) and fde == pytest.approx(0.0, abs=1e-6)
  assert held_ade > 0.01
  # a model motion that ends early holds its final pose for the rest of the span
  (short_ade, _), _ = P.span_errors(real, real[:24], 20, len(real))
  joints = F.features_to_joints(real)
  expected = np.linalg.norm(joints[20:] - joints[23], axis=-1).mean(-1)
  expected[:4] = 0.0
  assert short_ade == pytest.approx(expected.mean(), abs=1e-5)


def test_markdown_and_json(tmp_path):
  tables = {"text_to_motion": {"MotionGPT": {"R@1": (0.5, 0.01), "FID": (0.2, 0.0)},
                               "_info": {"motions": 10}}}
  P.write(tables, str(tmp_path / "r.json"), str(tmp_path / "r.md"))
  markdown = (tmp_path / "r.md").read_text()
  assert "| | R@1 | FID |" in markdown and "| MotionGPT | 0.500 ±0.010 | 0.200 |" in markdown
  assert json.loads((tmp_path / "r.json").read_text())["text_to_motion"]["MotionGPT"][
      "R@1"] == [0.5, 0.01]


@pytest.mark.parametrize("argv, message", [
    (["eval", "--workdir", "nowhere", "--evaluator", "e", "--tasks", "t2m,dance"],
     "--tasks: unknown ['dance']"),
    (["eval", "--workdir", "nowhere", "--evaluator", "e", "--replications", "0"],
     "at least 1"),
    (["eval", "--workdir", "nowhere", "--evaluator", "e", "--top-k", "-1"],
     "--top-k"),
    (["generate", "walk", "--workdir", "nowhere", "--out", "x.txt"], "expected a .gif"),
    (["generate", "walk", "--workdir", "nowhere", "--out", "x.gif", "-n", "0"],
     "-n 0: expected 1 to"),
    (["predict", "m.npy", "--workdir", "nowhere", "--out", "x.png"], "expected a .gif"),
    (["inbetween", "m.npy", "--workdir", "nowhere", "--out", "x.txt"], "expected a .gif"),
    (["chat", "hi", "--workdir", "nowhere", "--out", "x.doc"], "expected a .gif"),
    (["train-evaluator", "--workdir", "w", "--data", "d", "--config.model.widht=3"],
     "widht"),
    (["convert-evaluator", "--checkpoint", "missing.tar", "--glove", "g", "--meta", "m",
      "--data", "d", "--out", "o"], "missing.tar: no such file"),
])
def test_command_argument_errors(argv, message, capsys):
  assert cli.main(argv) == 2
  err = capsys.readouterr().err
  assert message in err and "Traceback" not in err


def test_eval_needs_a_trained_run(tmp_path, capsys):
  assert cli.main(["eval", "--workdir", str(tmp_path), "--evaluator", str(tmp_path)]) == 2
  assert "config.json" in capsys.readouterr().err
