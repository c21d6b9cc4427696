"""The procedural data set: layout, determinism, physical plausibility, learnability."""

import hashlib
import os
import re

import numpy as np

from conftest import family_motion
from motiongpt_jax.data import humanml3d
from motiongpt_jax.data.synth import actions, captions, generator
from motiongpt_jax.motion import rig


def test_there_are_at_least_twenty_families_and_each_names_its_parameters():
  assert len(actions.FAMILIES) >= 20
  rng = np.random.default_rng(0)
  for name, fam in actions.FAMILIES.items():
    for _ in range(10):
      params = fam.sample(rng)
      phrases = fam.phrases(params)
      assert len(set(phrases)) >= 3, name
      for key, value in params.items():
        if isinstance(value, int) and key != "angle":
          # Counts are said in words: "three", "three times", "twice", "once".
          words = (actions.NUMBER_WORDS[value], actions.TIMES_WORDS.get(value, "@"))
          assert all(any(w in p for w in words) for p in phrases), (name, params, phrases)
        elif value in ("left", "right"):
          # Every phrasing names a side (some name the standing leg rather than the lifted).
          assert all("left" in p or "right" in p for p in phrases), (name, params, phrases)
          assert any(value in p for p in phrases), (name, params, phrases)
      for p in phrases:
        captions.pos_tokens(p)  # every word is in the lexicon


def test_every_family_builds_and_is_on_the_floor():
  rng = np.random.default_rng(1)
  for name, fam in actions.FAMILIES.items():
    params = fam.sample(rng)
    joints, _ = generator.animate(fam.build(params, rng), rng)
    assert joints[..., 1].min() > -1e-6, f"{name} sinks below the floor"
    assert joints[..., 1].min() < 1e-3, f"{name} never touches the floor"
    parents = rig.PARENTS
    lengths = np.linalg.norm(joints[:, 1:] - joints[:, parents[1:]], axis=-1)
    assert np.ptp(lengths, axis=0).max() < 1e-6, f"{name} changes bone lengths"


def _planted_foot_slides(joints, threshold=0.005):
  """Horizontal motion (m/frame) of each foot while it rests on the floor in both frames."""
  slides = []
  for ankle, toe in ((rig.L_ANKLE, rig.L_FOOT), (rig.R_ANKLE, rig.R_FOOT)):
    mid = 0.5 * (joints[:, ankle] + joints[:, toe])
    low = np.minimum(joints[:, ankle, 1], joints[:, toe, 1])
    planted = (low[1:] < threshold) & (low[:-1] < threshold)
    slides.append(np.linalg.norm(np.diff(mid, axis=0)[:, [0, 2]], axis=-1)[planted])
  return np.concatenate(slides)


def test_planted_feet_do_not_slide():
  rng = np.random.default_rng(2)
  worst = {}
  for name, fam in actions.FAMILIES.items():
    slides = []
    for _ in range(4):
      joints, _ = generator.animate(fam.build(fam.sample(rng), rng), rng)
      slides.append(_planted_foot_slides(joints))
    slides = np.concatenate(slides)
    assert len(slides) > 20, name
    worst[name] = slides.max()
  bad = {k: round(v * 100, 2) for k, v in worst.items() if v > 0.005}
  assert not bad, f"planted feet slide more than 0.5 cm/frame (cm): {bad}"


def test_the_supporting_foot_stays_exactly_still():
  joints, anchor = family_motion("walk", dict(direction="forward", speed="fast", steps=8,
                                              curve="right"), seed=3)
  for foot, (ankle, toe) in enumerate(((rig.L_ANKLE, rig.L_FOOT), (rig.R_ANKLE, rig.R_FOOT))):
    mid = 0.5 * (joints[:, ankle] + joints[:, toe])
    held = (anchor[1:] == foot) & (anchor[:-1] == foot)
    assert np.abs(np.diff(mid, axis=0)[held][:, [0, 2]]).max() < 1e-9
  # And the walker gets somewhere: about 0.5-0.8 m per step.
  travelled = np.linalg.norm(joints[-1, 0, [0, 2]] - joints[0, 0, [0, 2]])
  assert 2.5 < travelled < 7.0


def test_a_jump_flies_under_gravity():
  joints, anchor = family_motion("jump", dict(count=1, direction="in place", height="high"))
  air = anchor == -1
  assert 8 <= air.sum() <= 14
  feet = joints[:, list(rig.FEET), 1].min(axis=1)
  assert 0.25 < feet[air].max() < 0.45


def test_motions_are_deterministic_for_a_seed():
  a = generator.build_motion("000007", seed=11, index=7)
  b = generator.build_motion("000007", seed=11, index=7)
  np.testing.assert_array_equal(a.features, b.features)
  assert a.captions == b.captions
  c = generator.build_motion("000007", seed=12, index=7)
  assert c.captions != a.captions or c.features.shape != a.features.shape or not np.array_equal(
      c.features, a.features)


def _digest(folder):
  h = hashlib.sha256()
  for root, _, files in sorted(os.walk(folder)):
    for name in sorted(files):
      with open(os.path.join(root, name), "rb") as f:
        h.update(name.encode() + f.read())
  return h.hexdigest()


def test_synthesize_writes_identical_folders_for_a_seed(tmp_path):
  generator.synthesize(str(tmp_path / "a"), num=12, seed=5, workers=1)
  generator.synthesize(str(tmp_path / "b"), num=12, seed=5, workers=2)
  assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


def test_folder_has_humanml3d_layout(synth_dir):
  for name in ("Mean.npy", "Std.npy", "train.txt", "val.txt", "test.txt", "README.md"):
    assert os.path.exists(os.path.join(synth_dir, name)), name
  assert np.load(os.path.join(synth_dir, "Mean.npy")).shape == (263,)
  names = sum((humanml3d.read_split_names(synth_dir, s) for s in humanml3d.SPLITS), [])
  assert sorted(names) == [f"{i:06d}" for i in range(80)]
  for name in names:
    vecs = np.load(os.path.join(synth_dir, "new_joint_vecs", name + ".npy"))
    joints = np.load(os.path.join(synth_dir, "new_joints", name + ".npy"))
    assert vecs.dtype == np.float32 and vecs.shape[1] == 263
    assert 40 <= len(vecs) <= 196 and joints.shape == (len(vecs), 22, 3)
    assert joints[..., 1].min() > -1e-3  # on the floor after the HumanML3D canonicalisation
    lines = open(os.path.join(synth_dir, "texts", name + ".txt")).read().splitlines()
    whole = [l for l in lines if l.endswith("#0.0#0.0")]
    assert len(whole) == 3 and len({l.split("#")[0] for l in whole}) == 3
    for line in lines:
      caption, tokens, start, end = line.split("#")
      assert re.fullmatch(r"([a-z]+/[A-Z]+ ?)+", tokens)
      assert len(tokens.split()) == len(re.findall(r"[a-z]+", caption))
      assert float(end) >= float(start)


def test_test_split_holds_out_parameter_combinations():
  motions = [generator.build_motion(f"{i:06d}", 0, i) for i in range(300)]
  by_split = {}
  for m in motions:
    by_split.setdefault(m.split, set()).add(m.signature)
  assert by_split["test"] and by_split["train"]
  assert not by_split["test"] & by_split["train"]
  assert not by_split.get("val", set()) & by_split["train"]


def _summary(features):
  """A fixed-length description of a motion: per-dimension mean and std over time."""
  return np.concatenate([features.mean(0), features.std(0)])


def test_families_are_discriminable_from_features():
  """A nearest-centroid classifier on simple statistics tells single actions apart."""
  rng = np.random.default_rng(7)
  names = sorted(actions.FAMILIES)
  x_train, y_train, x_test, y_test = [], [], [], []
  for label, name in enumerate(names):
    fam = actions.FAMILIES[name]
    for k in range(14):
      params = fam.sample(rng)
      joints, _ = generator.animate(fam.build(params, rng), rng)
      feats = generator.joints_to_features(joints)
      (x_test if k >= 10 else x_train).append(_summary(feats))
      (y_test if k >= 10 else y_train).append(label)
  x_train, x_test = np.array(x_train), np.array(x_test)
  mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
  x_train, x_test = (x_train - mu) / sd, (x_test - mu) / sd
  centroids = np.stack([x_train[np.array(y_train) == c].mean(0) for c in range(len(names))])
  pred = np.argmin(((x_test[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
  accuracy = (pred == np.array(y_test)).mean()
  assert accuracy > 0.75, f"nearest-centroid accuracy {accuracy:.2f}"


def test_swap_sides_swaps_whole_words_only():
  line = "a man waves the left hand, then the Right.#a/DET left/ADJ right/ADJ#0.0#0.0"
  assert generator.swap_sides(line) == (
      "a man waves the right hand, then the Left.#a/DET right/ADJ left/ADJ#0.0#0.0")
  assert generator.swap_sides("leftover rightly") == "leftover rightly"


def test_mirrored_folder_has_humanml3d_m_files(tmp_path):
  from motiongpt_jax.motion.features import joints_to_features, mirror_joints
  out = str(tmp_path / "m")
  summary = generator.synthesize(out, num=6, seed=2, workers=1, mirror=True)
  assert summary["motions"] == 12 and sum(summary["splits"].values()) == 12
  by_split = {s: humanml3d.read_split_names(out, s) for s in humanml3d.SPLITS}
  names = sorted(sum(by_split.values(), []))
  assert names == sorted([f"{i:06d}" for i in range(6)] + [f"M{i:06d}" for i in range(6)])
  for split, listed in by_split.items():  # a pair shares its split
    assert all(("M" + n if not n.startswith("M") else n[1:]) in listed for n in listed)
  m = generator.build_motion("000004", 2, 4)
  expected = joints_to_features(mirror_joints(m.raw_joints.astype(np.float64)))
  np.testing.assert_array_equal(
      np.load(os.path.join(out, "new_joint_vecs", "M000004.npy")), expected)
  assert np.load(os.path.join(out, "new_joints", "M000004.npy")).shape == (len(expected), 22, 3)
  for i in range(6):
    original = open(os.path.join(out, "texts", f"{i:06d}.txt")).read().splitlines()
    mirrored = open(os.path.join(out, "texts", f"M{i:06d}.txt")).read().splitlines()
    assert mirrored == [generator.swap_sides(line) for line in original]
  report = humanml3d.check_folder(out, strict=True)
  assert sum(report.split_sizes.values()) == 12
  assert open(os.path.join(out, "all.txt")).read().split() == names


def test_mirrored_folders_are_identical_for_any_worker_count(tmp_path):
  generator.synthesize(str(tmp_path / "a"), num=8, seed=4, workers=1, mirror=True)
  generator.synthesize(str(tmp_path / "b"), num=8, seed=4, workers=2, mirror=True)
  assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


class _FakeTokenizer:
  """Codes as a deterministic function of each 4-frame window (no VQ-VAE needed)."""
  unit, num_codes, feature_dim, step = 4, 512, 263, 0

  def encode(self, x):
    b, t, d = x.shape
    return (np.abs(x.reshape(b, t // 4, 4 * d)).sum(-1) * 997).astype(np.int64) % 512


def test_tokenizing_m_files_never_mirrors_a_second_time(tmp_path, monkeypatch):
  from motiongpt_jax.vqvae import token_files
  mirrored_dir, plain_dir = str(tmp_path / "m"), str(tmp_path / "p")
  generator.synthesize(mirrored_dir, num=5, seed=6, workers=1, mirror=True)
  generator.synthesize(plain_dir, num=4, seed=6, workers=1)
  calls = []
  original = token_files.mirror_features
  monkeypatch.setattr(token_files, "mirror_features",
                      lambda *a: calls.append(1) or original(*a))
  meta = token_files.tokenize_folder(_FakeTokenizer(), mirrored_dir, str(tmp_path / "mt"))
  assert not calls and meta["count"] == 10 and meta["mirrored_from_files"] == 10
  for i in range(5):
    x = token_files.read_token_rows(str(tmp_path / "mt"), f"{i:06d}")
    mx = token_files.read_token_rows(str(tmp_path / "mt"), f"M{i:06d}")
    np.testing.assert_array_equal(x[1], mx[0])
    np.testing.assert_array_equal(x[0], mx[1])
  meta = token_files.tokenize_folder(_FakeTokenizer(), plain_dir, str(tmp_path / "pt"))
  assert len(calls) == 4 and meta["mirrored_from_files"] == 0  # no partner: mirrored here
