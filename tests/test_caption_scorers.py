"""Caption scorers as the papers' tables computed them: CIDEr-D (coco-caption's ``Cider``) and
tensorflow/nmt's corpus BLEU (MotionGPT's m2t table, through nlgmetricverse).

Each is checked by hand on small cases, against a transcription of the reference formula
written here, and, when pycocoevalcap is installed, against pycocoevalcap itself."""

import collections
import math

import numpy as np
import pytest

from motiongpt_jax.evaluation import text_metrics as TM

VOCAB = "a person walk walks forward turn left right and then slowly jump".split()


def _corpus(seed, size=12):
  """Captions with 1 to 4 references each, from a small vocabulary (many shared n-grams)."""
  rng = np.random.default_rng(seed)
  sentence = lambda: " ".join(rng.choice(VOCAB, rng.integers(1, 13)))  # noqa: E731
  predictions = [sentence() for _ in range(size)]
  references = [[sentence() for _ in range(rng.integers(1, 5))] for _ in range(size)]
  # a few candidates copied from, or sharing a prefix with, one of their references
  for i in range(0, size, 3):
    predictions[i] = references[i][-1]
  for i in range(1, size, 4):
    predictions[i] = " ".join(references[i][0].split()[:3] + predictions[i].split()[:2])
  return predictions, references


# ------------------------------------------------------------ transcriptions of the references

def _coco_cider_d(predictions, references, n=4, sigma=6.0):
  """coco-caption's CiderScorer (cider/cider_scorer.py), restated with dense vectors:
  white-space tokens, df over each image's reference set, log(N) - log(max(1, df)) weights,
  min(hyp, ref) * ref clipped dot products, Gaussian penalty on the bigram-count difference,
  mean over orders, mean over references, x 10, mean over images."""
  def grams(text):
    t = text.split()
    return {k: collections.Counter(tuple(t[i:i + k]) for i in range(len(t) - k + 1))
            for k in range(1, n + 1)}

  hyps = [grams(p) for p in predictions]
  refs = [[grams(r) for r in rs] for rs in references]
  df = collections.Counter()
  for rs in refs:
    df.update(set(g for r in rs for k in r for g in r[k]))
  vocab = sorted({g for h in hyps for k in h for g in h[k]} | set(df), key=repr)
  index = {g: i for i, g in enumerate(vocab)}
  idf = np.array([math.log(len(refs)) - math.log(max(1.0, df[g])) for g in vocab])

  def dense(counts, k):
    v = np.zeros(len(vocab))
    for g, c in counts[k].items():
      v[index[g]] = c
    return v * idf

  scores = []
  for h, rs in zip(hyps, refs):
    per_order = np.zeros(n)
    for r in rs:
      delta = sum(h[2].values()) - sum(r[2].values())
      for k in range(1, n + 1):
        vh, vr = dense(h, k), dense(r, k)
        val = np.sum(np.minimum(vh, vr) * vr)
        nh, nr = np.linalg.norm(vh), np.linalg.norm(vr)
        if nh and nr:
          val /= nh * nr
        per_order[k - 1] += val * math.exp(-delta ** 2 / (2 * sigma ** 2))
    scores.append(10 * per_order.mean() / len(rs))
  return 100 * float(np.mean(scores))


def _nmt_bleu(reference_corpus, translation_corpus, max_order=4, smooth=False):
  """tensorflow/nmt scripts/bleu.py ``compute_bleu`` on token lists, restated."""
  matches, possible = [0] * max_order, [0] * max_order
  r_len = t_len = 0
  for refs, hyp in zip(reference_corpus, translation_corpus):
    r_len += min(len(r) for r in refs)
    t_len += len(hyp)
    for order in range(1, max_order + 1):
      hyp_grams = collections.Counter(tuple(hyp[i:i + order])
                                      for i in range(len(hyp) - order + 1))
      best = collections.Counter()
      for r in refs:
        for g, c in collections.Counter(tuple(r[i:i + order])
                                        for i in range(len(r) - order + 1)).items():
          best[g] = max(best[g], c)
      matches[order - 1] += sum(min(c, best[g]) for g, c in hyp_grams.items())
      if len(hyp) - order + 1 > 0:
        possible[order - 1] += len(hyp) - order + 1
  if smooth:
    p = [(m + 1.0) / (q + 1.0) for m, q in zip(matches, possible)]
  else:
    p = [m / q if q > 0 else 0.0 for m, q in zip(matches, possible)]
  geo = math.exp(sum(math.log(x) / max_order for x in p)) if min(p) > 0 else 0.0
  ratio = t_len / r_len
  bp = 1.0 if ratio > 1.0 else math.exp(1 - 1.0 / ratio)
  return 100 * geo * bp


# ------------------------------------------------------------------------------- CIDEr-D

def test_cider_d_by_hand():
  # two motions, one reference each: every n-gram of a motion's references has idf log 2
  refs = [["a b"], ["c d"]]
  # perfect captions: cosine 1 for unigrams and bigrams, no 3-/4-grams, equal lengths -> 5
  assert TM.cider_d(["a b", "c d"], refs) == pytest.approx(500.0)
  # "a a b" against "a b": the candidate's weight of "a" (2 log 2) is clipped to the
  # reference's (log 2): unigrams (1 + 1) / (sqrt 5 sqrt 2); bigrams {aa, ab} vs {ab}:
  # 1 / sqrt 2; trigram "a a b" unmatched. One bigram longer: penalty exp(-1 / 72).
  unigram = 2 / math.sqrt(10)
  bigram = 1 / math.sqrt(2)
  first = 10 * (unigram + bigram) / 4 * math.exp(-1 / 72)
  assert TM.cider_d(["a a b", "c d"], refs) == pytest.approx(100 * (first + 5.0) / 2)
  # plain CIDEr has neither: unigram cosine 3 / sqrt 10, no penalty
  plain = 10 * (3 / math.sqrt(10) + bigram) / 4
  assert TM.cider_plain(["a a b", "c d"], refs) == pytest.approx(100 * (plain + 5.0) / 2)
  # references are averaged: a perfect match and an unrelated one score half
  assert TM.cider_d(["a b", "c d"], [["a b", "x y"], ["c d"]]) == \
      pytest.approx(100 * (2.5 + 5.0) / 2)
  # the Gaussian length penalty alone: identical unigrams, 6 bigrams apart
  # ("p q" vs "p q p q p q p q": clipping keeps the common weight, lengths 1 and 7 bigrams)
  score = TM.cider_d(["p q", "c d"], [["p q p q p q p q"], ["c d"]], max_order=1)
  # max_order 1: coco counts no bigrams, hence no penalty; unigram cosine of the clipped
  # vectors (1, 1) . (4, 4) / (sqrt 2 * sqrt 32) = 8 / 8 = 1
  assert score == pytest.approx(100 * (10 * 1.0 + 10 * 1.0) / 2)
  score = TM.cider_d(["p q", "c d"], [["p q p q p q p q"], ["c d"]], max_order=2)
  # unigrams: 1 as above; bigrams: "p q" once vs {pq: 4, qp: 3}: min(1, 4) * 4 /
  # (1 * 5) = 0.8; penalty exp(-36 / 72) on both orders
  first = 10 * (1.0 + 0.8) / 2 * math.exp(-0.5)
  assert score == pytest.approx(100 * (first + 10.0) / 2)
  # n-grams in every motion's references carry no weight
  assert TM.cider_d(["z", "z"], [["z"], ["z"]]) == pytest.approx(0.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cider_d_matches_the_coco_formula(seed):
  predictions, references = _corpus(seed)
  expected = _coco_cider_d(predictions, references)
  assert TM.cider_d(predictions, references, tokenize=str.split) == pytest.approx(expected,
                                                                                 rel=1e-9)
  # and, on these already clean captions, with the default tokeniser
  assert TM.cider_d(predictions, references) == pytest.approx(expected, rel=1e-9)
  # plain CIDEr is a different number on the same corpus
  assert TM.cider_plain(predictions, references) != pytest.approx(expected, rel=1e-3)


def test_cider_d_matches_pycocoevalcap():
  pytest.importorskip("pycocoevalcap")
  from pycocoevalcap.cider.cider import Cider
  for seed in range(4):
    predictions, references = _corpus(seed, size=20)
    # mixed case and punctuation: our tokeniser first, then coco's white-space split
    predictions = [p.capitalize() + "." for p in predictions]
    clean = lambda t: " ".join(TM.words(t))  # noqa: E731
    res = {i: [clean(p)] for i, p in enumerate(predictions)}
    gts = {i: [clean(r) for r in refs] for i, refs in enumerate(references)}
    expected, _ = Cider().compute_score(gts, res)
    assert TM.cider_d(predictions, references) == pytest.approx(100 * expected, rel=1e-9)
    # MotionGPT's nlgmetricverse CIDEr splits the raw text: case and punctuation count
    raw_res = {i: [p] for i, p in enumerate(predictions)}
    raw_gts = {i: list(refs) for i, refs in enumerate(references)}
    expected, _ = Cider().compute_score(raw_gts, raw_res)
    assert TM.cider_d(predictions, references, tokenize=str.split) == \
        pytest.approx(100 * expected, rel=1e-9)


# ---------------------------------------------------------------------------------- BLEU

def test_bleu_nmt_by_hand():
  # 5 words; references of 3 and 6 words: nmt's length is the shortest (3) -> no penalty,
  # the closest (6) gives exp(1 - 6 / 5)
  prediction, refs = ["a b c d e"], [["a b c", "a b c d e f"]]
  assert TM.bleu_nmt(prediction, refs, 1) == pytest.approx(100.0)
  assert TM.bleu_closest(prediction, refs, 1) == pytest.approx(100 * math.exp(-0.2))
  # corpus-level brevity: 2 + 3 words against shortest references 4 + 3 -> exp(1 - 7 / 5)
  assert TM.bleu_nmt(["a b", "c d e"], [["a b x y", "a b x y z"], ["c d e", "c d e f g h"]],
                     1) == pytest.approx(100 * math.exp(1 - 7 / 5))
  # p1..p4 = 6/7, 5/6, 4/5, 3/4 against one reference, 7 words against 6: no penalty
  assert TM.bleu_nmt(["the cat sat on the mat today"], [["the cat sat on the mat"]]) == \
      pytest.approx(100 * (3 / 7) ** 0.25)
  # equal lengths: ratio 1 -> exp(0) = 1
  assert TM.bleu_nmt(["a b"], [["a b"]], 2) == pytest.approx(100.0)
  # clipping against the best reference count: "a a a" -> "a" at most twice
  assert TM.bleu_nmt(["a a a"], [["a b c", "a a x"]], 1) == pytest.approx(100 * 2 / 3)
  # no 3-gram in the corpus: 0 unless smoothed ((0+1)/(0+1) for the empty orders)
  assert TM.bleu_nmt(["a b"], [["a b"]]) == 0.0
  assert TM.bleu_nmt(["a b"], [["a b"]], smooth=True) == pytest.approx(100.0)
  # nothing predicted scores 0 (nmt itself divides by zero here)
  assert TM.bleu_nmt(["", "..."], [["a b"], ["c"]]) == 0.0
  # the default tokeniser lower-cases and drops punctuation
  assert TM.bleu_nmt(["A b, c."], [["a b c"]], 3) == pytest.approx(100.0)


def test_punctuation_split_is_nlgmetricverses_tokeniser():
  assert TM.punctuation_split("The man's left-hand, RAISED!") == \
      ["the", "man", "s", "left", "hand", "raised"]
  assert TM.punctuation_split(" a\tperson  walks\n") == ["a", "person", "walks"]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("max_order", [1, 4])
def test_bleu_nmt_matches_the_nmt_formula(seed, max_order):
  predictions, references = _corpus(seed)
  for smooth in (False, True):
    expected = _nmt_bleu([[r.split() for r in refs] for refs in references],
                         [p.split() for p in predictions], max_order, smooth)
    assert TM.bleu_nmt(predictions, references, max_order, smooth=smooth) == \
        pytest.approx(expected, rel=1e-9)
  # with the punctuation tokeniser on noisy text, as nlgmetricverse feeds nmt
  noisy = [p.upper() + "!" for p in predictions]
  expected = _nmt_bleu([[TM.punctuation_split(r) for r in refs] for refs in references],
                       [TM.punctuation_split(p) for p in noisy], max_order)
  assert TM.bleu_nmt(noisy, references, max_order, tokenize=TM.punctuation_split) == \
      pytest.approx(expected, rel=1e-9)


def test_bleu_closest_matches_pycocoevalcap():
  """The closest-reference BLEU is coco-caption's (up to its 1e-9 / 1e-15 guards)."""
  pytest.importorskip("pycocoevalcap")
  from pycocoevalcap.bleu.bleu import Bleu
  for seed in range(3):
    predictions, references = _corpus(seed, size=20)
    res = {i: [p] for i, p in enumerate(predictions)}
    gts = {i: list(refs) for i, refs in enumerate(references)}
    expected, _ = Bleu(4).compute_score(gts, res, verbose=0)
    for order in (1, 4):
      assert TM.bleu_closest(predictions, references, order) == \
          pytest.approx(100 * expected[order - 1], rel=1e-6)


def test_rouge_l_matches_rouge_score_with_one_to_four_references():
  rouge_score = pytest.importorskip("rouge_score.rouge_scorer")
  predictions = ["a person walks forward slowly", "the man jumps up and down",
                 "someone waves the right hand", "a person squats"]
  references = [["a person walks forward"],
                ["a man jumps in place", "the person jumps up and down twice"],
                ["a person waves with the left hand", "someone is waving", "he waves"],
                ["a person does a squat", "squatting down", "a person squats down and up",
                 "the person crouches"]]
  scorer = rouge_score.RougeScorer(["rougeL"])
  expected = 100 * np.mean([scorer.score_multi(refs, pred)["rougeL"].fmeasure
                            for pred, refs in zip(predictions, references)])
  assert TM.rouge_l(predictions, references) == pytest.approx(expected, rel=1e-9)
