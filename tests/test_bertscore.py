"""BERTScore through the bert-score package, on a tiny random RoBERTa built offline."""

import collections
import math
import os
import sys

import numpy as np
import pytest

bert_score = pytest.importorskip(
    "bert_score", reason="bert-score is not installed (pip install 'motiongpt-jax[test]')")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from motiongpt_jax.evaluation import bertscore as B  # noqa: E402

pytestmark = pytest.mark.xdist_group("bertscore")  # its module fixtures are built once

LAYER = 2
BASELINE_ROWS = [(0.1, 0.1, 0.1), (0.2, 0.21, 0.22), (0.3, 0.31, 0.32), (0.4, 0.41, 0.42)]
PREDICTIONS = ["a person walks forward and turns left",
               "someone jumps up",
               "the man waves his hand twice",
               "a figure kneels",
               "walks backwards slowly"]
REFERENCES = [["a person walks forward then turns to the left"],
              ["someone jumps up and down", "a man jumps twice"],
              ["the man waves his right hand", "a person waves", "someone waves twice"],
              ["a figure kneels then stands back up", "a person kneels down",
               "someone goes down on one knee", "a figure kneels"],
              ["a person walks backwards", "walks backwards slowly"]]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  """(model folder, baseline file): a 3-layer RoBERTa with random weights and a byte-level
  BPE tokenizer trained on the captions above."""
  from tokenizers import ByteLevelBPETokenizer
  folder = str(tmp_path_factory.mktemp("models") / "tiny-roberta")
  os.makedirs(folder)
  corpus = PREDICTIONS + [r for refs in REFERENCES for r in refs]
  bpe = ByteLevelBPETokenizer()
  bpe.train_from_iterator(corpus, vocab_size=400, min_frequency=1, show_progress=False,
                          special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
  bpe.save_model(folder)
  tokenizer = transformers.RobertaTokenizer(os.path.join(folder, "vocab.json"),
                                            os.path.join(folder, "merges.txt"),
                                            model_max_length=60)
  tokenizer.save_pretrained(folder)
  torch.manual_seed(0)
  config = transformers.RobertaConfig(
      vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
      intermediate_size=64, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
      bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id)
  transformers.RobertaModel(config).save_pretrained(folder)
  baseline = os.path.join(folder, "baseline.tsv")
  with open(baseline, "w") as f:
    f.write("LAYER,P,R,F\n" + "".join(f"{i},{p},{r},{b}\n"
                                        for i, (p, r, b) in enumerate(BASELINE_ROWS)))
  return folder, baseline


def package_score(folder, baseline, idf, monkeypatch):
  """MotionGPT's call of the package, with the model folder, layer and baseline named, and
  the leading space its tokenizer gets under transformers 4."""
  tokenizer = lambda model, use_fast=False: transformers.AutoTokenizer.from_pretrained(  # noqa
      model, use_fast=use_fast, add_prefix_space=True)
  monkeypatch.setattr(sys.modules["bert_score.score"], "get_tokenizer", tokenizer)
  _, _, f1 = bert_score.score(PREDICTIONS, REFERENCES, model_type=folder, num_layers=LAYER,
                              lang="en", rescale_with_baseline=True, baseline_path=baseline,
                              idf=idf, nthreads=0, device="cpu", verbose=False)
  return 100 * f1.mean().item()


def restated_score(folder, idf):
  """The module docstring's formula on the model's hidden states, one caption at a time."""
  tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
  model = transformers.AutoModel.from_pretrained(folder).eval()

  def encode(text):
    ids = tokenizer.encode(" " + text.strip())
    with torch.no_grad():
      states = model(torch.tensor([ids]), output_hidden_states=True).hidden_states[LAYER][0]
    states = states.numpy().astype(np.float64)
    return ids, states / np.linalg.norm(states, axis=1, keepdims=True)

  flat = [r for refs in REFERENCES for r in refs]
  counts = collections.Counter(t for r in flat for t in set(encode(r)[0]))

  def weights(ids):
    if idf:
      return np.array([math.log((len(flat) + 1) / (counts[t] + 1)) for t in ids])
    special = (tokenizer.cls_token_id, tokenizer.sep_token_id)
    return np.array([0.0 if t in special else 1.0 for t in ids])

  def f1(candidate, reference):
    (c_ids, c), (r_ids, r) = encode(candidate), encode(reference)
    similarity, wc, wr = c @ r.T, weights(c_ids), weights(r_ids)
    precision = (similarity.max(1) * wc).sum() / wc.sum()
    recall = (similarity.max(0) * wr).sum() / wr.sum()
    return 2 * precision * recall / (precision + recall)

  b = BASELINE_ROWS[LAYER][2]
  best = [max(f1(p, r) for r in refs) for p, refs in zip(PREDICTIONS, REFERENCES)]
  return 100 * np.mean([(f - b) / (1 - b) for f in best])


@pytest.mark.parametrize("idf", [True, False])
def test_bertscore_equals_the_package_and_the_formula(tiny, idf, monkeypatch):
  folder, baseline = tiny
  scorer = B.BertScore(folder, layer=LAYER, idf=idf, baseline=baseline, device="cpu")
  ours = scorer(PREDICTIONS, REFERENCES)
  package = package_score(folder, baseline, idf, monkeypatch)
  restated = restated_score(folder, idf)
  print(f"idf={idf}: ours {ours:.6f} package {package:.6f} restated {restated:.6f} "
        f"max abs diff {max(abs(ours - package), abs(ours - restated)):.2e}")
  assert ours == pytest.approx(package, abs=1e-4)
  assert ours == pytest.approx(restated, abs=1e-3)
  assert scorer(PREDICTIONS, REFERENCES) == ours  # idf counted anew, same corpus: same figure
  # idf counts the references of the scored corpus, as bert_score.score does
  if idf:
    assert scorer(PREDICTIONS[:2], REFERENCES[:2]) != pytest.approx(
        B.BertScore(folder, layer=LAYER, idf=False, baseline=baseline)(PREDICTIONS[:2],
                                                                        REFERENCES[:2]))


def test_bertscore_without_rescaling_and_settings_recorded(tiny):
  folder, baseline = tiny
  raw = B.BertScore(folder, layer=LAYER, baseline=False, device="cpu")
  rescaled = B.BertScore(folder, layer=LAYER, baseline=baseline, device="cpu")
  b = BASELINE_ROWS[LAYER][2]
  assert rescaled(PREDICTIONS, REFERENCES) == pytest.approx(
      (raw(PREDICTIONS, REFERENCES) - 100 * b) / (1 - b), abs=1e-4)
  assert raw.description.endswith("tiny-roberta layer 2, idf, not rescaled")
  assert rescaled.description.startswith(f"F1 of bert-score {bert_score.__version__}")
  assert rescaled.description.endswith(f"tiny-roberta layer 2, idf, rescaled by {baseline}")
  # a caption scored against itself: F1 1 before rescaling
  assert raw(["a figure kneels"], [["someone jumps", "a figure kneels"]]) == pytest.approx(100)


def test_captions_get_a_leading_space(tiny):
  folder, baseline = tiny
  tokenizer = B.BertScore(folder, layer=LAYER, baseline=baseline)._scorer._tokenizer
  from bert_score.utils import sent_encode
  assert sent_encode(tokenizer, "a person walks") == tokenizer.encode(" a person walks")


def test_paper_model_defaults(tmp_path):
  """A folder named roberta-large, or a Hugging Face cache snapshot of it: layer 17 and the
  package's baseline, as MotionGPT's bert_score.score(lang="en")."""
  shipped = os.path.join(os.path.dirname(bert_score.__file__), "rescale_baseline", "en",
                         "roberta-large.tsv")
  snapshot = tmp_path / "models--FacebookAI--roberta-large" / "snapshots" / "0123abc"
  for folder in (tmp_path / "roberta-large", snapshot):
    folder.mkdir(parents=True)
    assert B.resolve(str(folder)) == ("roberta-large", 17, shipped)
  assert B.resolve(str(tmp_path / "roberta-large"), baseline=False) == ("roberta-large", 17,
                                                                         None)


def test_bertscore_errors(tiny, tmp_path, monkeypatch):
  folder, baseline = tiny
  with pytest.raises(FileNotFoundError, match="nowhere: no such model folder"):
    B.BertScore(str(tmp_path / "nowhere"))
  with pytest.raises(ValueError, match="no layer for a model named 'tiny-roberta'"):
    B.BertScore(folder)
  with pytest.raises(ValueError, match="ships no rescaling baseline for a model named 'tiny"):
    B.BertScore(folder, layer=LAYER)
  with pytest.raises(FileNotFoundError, match="missing.tsv: no such BERTScore baseline"):
    B.BertScore(folder, layer=LAYER, baseline=str(tmp_path / "missing.tsv"))
  t5_path = tmp_path / "t5_models" / "roberta-large"
  t5_path.mkdir(parents=True)
  with pytest.raises(ValueError, match="contains 't5'"):
    B.BertScore(str(t5_path))
  scorer = B.BertScore(folder, layer=LAYER, baseline=baseline)
  with pytest.raises(ValueError, match="2 predictions and 1 reference sets"):
    scorer(["a", "b"], [["a"]])
  with pytest.raises(ValueError, match=r"references\[0\] must be a non-empty list"):
    scorer(["a"], ["a"])
  monkeypatch.setitem(sys.modules, "bert_score", None)
  with pytest.raises(ImportError, match=r"bert-score package .*motiongpt-jax\[bertscore\]"):
    B.BertScore(folder, layer=LAYER, baseline=baseline)
