"""Each paper metric against a case worked out by hand (FID against scipy's sqrtm)."""

import math

import numpy as np
import pytest
import scipy.linalg

from motiongpt_jax.evaluation import metrics as M
from motiongpt_jax.evaluation import text_metrics as TM


def test_distance_matrix_matches_pairwise_norms():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
  expected = np.array([[np.linalg.norm(x - y) for y in b] for x in a])
  np.testing.assert_allclose(M.distance_matrix(a, b), expected, atol=1e-9)


def test_r_precision_by_hand():
  # 32 texts on a line at 0, 10, 20, ...; motion i sits at text i except motion 0 and 1,
  # which swap places: texts 0 and 1 then find their motion second, everything else first.
  text = np.arange(32, dtype=float)[:, None] * 10
  motion = text.copy()
  motion[[0, 1]] = motion[[1, 0]]
  top, matching = M.r_precision(text, motion)
  np.testing.assert_allclose(top, [30 / 32, 1.0, 1.0])
  assert matching == pytest.approx(2 * 10 / 32)  # two pairs 10 apart, the rest 0
  # a trailing partial batch is dropped, as the reference's drop_last loader does
  top2, _ = M.r_precision(np.concatenate([text, text[:5]]), np.concatenate([motion, text[:5]]))
  np.testing.assert_allclose(top2, top)
  with pytest.raises(ValueError, match="at least 32"):
    M.r_precision(text[:10], motion[:10])


def test_fid_matches_scipy_sqrtm():
  rng = np.random.default_rng(1)
  real = rng.normal(size=(400, 16))
  generated = rng.normal(size=(300, 16)) @ rng.normal(size=(16, 16)) * 0.5 + 0.3
  mu1, s1 = real.mean(0), np.cov(real, rowvar=False)
  mu2, s2 = generated.mean(0), np.cov(generated, rowvar=False)
  root = scipy.linalg.sqrtm(s1 @ s2).real
  expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * root)
  assert M.fid(real, generated) == pytest.approx(expected, rel=1e-6)
  assert M.fid(real, real) == pytest.approx(0.0, abs=1e-7)


def test_fid_of_two_known_gaussians():
  # N(0, I) vs N(m, 4I) in d dims: |m|^2 + d (1 + 4 - 2 * 2) = |m|^2 + d
  d = 3
  assert M.frechet_distance(np.zeros(d), np.eye(d), np.ones(d) * 2, 4 * np.eye(d)) == \
      pytest.approx(12 + 3)


def test_diversity_and_multimodality():
  # two points 4 apart: a random pair (with replacement) differs half of the time
  points = np.array([[0.0, 0.0], [4.0, 0.0]])
  assert M.diversity(points, times=20000, rng=0) == pytest.approx(2.0, abs=0.1)
  # every caption's repeats identical: no multimodality
  same = np.repeat(np.random.default_rng(0).normal(size=(5, 1, 8)), 6, axis=1)
  assert M.multimodality(same, 10, rng=0) == pytest.approx(0.0)
  # repeats alternating between two points 3 apart
  split = np.zeros((50, 2, 1))
  split[:, 1, 0] = 3.0
  assert M.multimodality(split, times=2000, rng=0) == pytest.approx(1.5, abs=0.1)
  with pytest.raises(ValueError, match="repeats >= 2"):
    M.multimodality(np.zeros((4, 1, 3)))


def test_confidence_interval():
  mean, half = M.mean_and_interval([1.0, 2.0, 3.0, 4.0])
  assert mean == 2.5
  assert half == pytest.approx(1.96 * math.sqrt(1.25) / 2)


def test_ade_fde_by_hand():
  target = np.zeros((3, 2, 3))
  predicted = np.zeros((3, 2, 3))
  predicted[1, :, 0] = 1.0          # frame 1: both joints 1 m off
  predicted[2, 0, 1] = 2.0          # frame 2: one joint 2 m off -> mean 1 m
  ade, fde = M.displacement_errors(predicted, target)
  assert ade == pytest.approx((0 + 1 + 1) / 3)
  assert fde == pytest.approx(1.0)
  # a longer prediction is cut to the target's frames
  assert M.displacement_errors(np.concatenate([predicted, predicted]), target) == (ade, fde)


def test_bleu_by_hand():
  # p1..p4 = 6/7, 5/6, 4/5, 3/4, no brevity penalty (7 words against 6)
  assert TM.bleu(["the cat sat on the mat today"], [["the cat sat on the mat"]]) == \
      pytest.approx(100 * (3 / 7) ** 0.25)
  # clipped unigrams 5/6, no 4-gram match -> BLEU@4 is 0
  assert TM.bleu(["the cat sat on the mat"], [["the cat is on the mat"]], 1) == \
      pytest.approx(100 * 5 / 6)
  assert TM.bleu(["the cat sat on the mat"], [["the cat is on the mat"]]) == 0.0
  # brevity: 2 words against 4 -> exp(1 - 4 / 2)
  assert TM.bleu(["The cat."], [["the cat sat on"]], 1) == pytest.approx(100 * math.exp(-1))
  # the closest reference length counts, and clipping uses the best reference
  assert TM.bleu(["a a a"], [["a b c d e f g", "a a x"]], 1) == pytest.approx(100 * 2 / 3)


def test_rouge_l_by_hand():
  assert TM.rouge_l(["a b c d"], [["a c d e"]]) == pytest.approx(75.0)  # LCS a c d
  assert TM.rouge_l(["a b"], [["x y", "a b"]]) == pytest.approx(100.0)  # best reference
  assert TM.rouge_l(["a b", "q"], [["a b"], ["r"]]) == pytest.approx(50.0)


def test_cider_by_hand():
  # two motions; with 2 documents idf = log 2 for n-grams of one document's references
  refs = [["a b"], ["c d"]]
  # a perfect caption: cosine 1 for unigrams and bigrams, no 3-/4-grams -> 10 * 2/4 = 5
  assert TM.cider(["a b", "c d"], refs) == pytest.approx(100 * 5.0)
  # "a x" shares one of two unigrams (cosine 1/2) and no bigram -> 10 * 0.5 / 4 = 1.25
  assert TM.cider(["a x", "c d"], refs) == pytest.approx(100 * (1.25 + 5.0) / 2)
  # n-grams in every document's references carry no weight
  assert TM.cider(["z", "z"], [["z"], ["z"]]) == pytest.approx(0.0)


def test_text_metric_input_errors():
  with pytest.raises(ValueError, match="2 predictions but 1 reference"):
    TM.bleu(["a", "b"], [["a"]])
  with pytest.raises(ValueError, match="non-empty list"):
    TM.rouge_l(["a"], ["a"])


def test_nan_embeddings_are_refused_not_counted_as_hits():
  # An evaluator whose Std is all zero embeds every motion as NaN; NaN distances compare
  # false, so they used to rank first and give R@1 = R@2 = R@3 = 1.000.
  rng = np.random.default_rng(0)
  text, motion = rng.normal(size=(64, 8)), rng.normal(size=(64, 8))
  text[rng.choice(64, 12, replace=False)] = np.nan
  with pytest.raises(M.NonFiniteError, match=r"^R-precision: 12 of 64 text embeddings are not "
                                             r"finite \(NaN or inf\)$"):
    M.r_precision(text, motion)
  text[:] = 0.0
  motion[5, 3] = np.inf
  with pytest.raises(M.NonFiniteError, match="R-precision: 1 of 64 motion embeddings is not"):
    M.r_precision(text, motion)
  assert issubclass(M.NonFiniteError, ValueError)


def test_every_metric_refuses_non_finite_input():
  rng = np.random.default_rng(1)
  good, bad = rng.normal(size=(40, 4)), rng.normal(size=(40, 4))
  bad[[3, 7]] = np.nan
  with pytest.raises(M.NonFiniteError, match="FID: 2 of 40 generated motion embeddings"):
    M.fid(good, bad)
  with pytest.raises(M.NonFiniteError, match="FID: 2 of 40 real motion embeddings"):
    M.fid(bad, good)
  sigma = np.eye(4)
  sigma[1, 2] = np.inf
  with pytest.raises(M.NonFiniteError, match="FID: 1 of 4 rows of the second covariance"):
    M.frechet_distance(np.zeros(4), np.eye(4), np.zeros(4), sigma)
  with pytest.raises(M.NonFiniteError, match="Diversity: 2 of 40 motion embeddings"):
    M.diversity(bad, rng=0)
  mm = rng.normal(size=(5, 3, 4))
  mm[2, 1, 0] = -np.inf
  with pytest.raises(M.NonFiniteError,
                     match=r"MultiModality: 1 of 15 generation embeddings \(captions x repeats\)"):
    M.multimodality(mm, rng=0)
  joints = np.zeros((6, 2, 3))
  broken = joints.copy()
  broken[4, 1, 2] = np.nan
  with pytest.raises(M.NonFiniteError, match="ADE/FDE: 1 of 6 predicted frames"):
    M.displacement_errors(broken, joints)
  with pytest.raises(M.NonFiniteError, match="ADE/FDE: 1 of 6 target frames"):
    M.displacement_errors(joints, broken)
  with pytest.raises(M.NonFiniteError, match="mean and interval: 1 of 3 replications"):
    M.mean_and_interval([1.0, float("nan"), 2.0])


def test_overflowing_distances_are_refused():
  # finite embeddings whose squared distances overflow: the distances themselves are checked
  text = np.full((32, 2), 1e200)
  motion = -text
  with pytest.raises(M.NonFiniteError, match="R-precision: 32 of 32 rows of text-motion "
                                             "distances are not finite"):
    M.r_precision(text, motion)
  with pytest.raises(M.NonFiniteError, match="Diversity: .* pair distances"):
    M.diversity(np.array([[1e200, 0.0], [-1e200, 0.0]]), times=50, rng=0)
