"""The HumanML3D representation: exact parity with the real data set and round trips."""

import os

import numpy as np
import pytest

from conftest import family_motion
from motiongpt_jax.motion import features as F
from motiongpt_jax.motion.skeleton import HUMANML3D


def _sample(sample_dir):
  joints = np.load(os.path.join(sample_dir, "new_joints", "012314.npy"))
  vecs = np.load(os.path.join(sample_dir, "new_joint_vecs", "012314.npy"))
  return joints, vecs


def test_recover_from_ric_reproduces_real_joints(sample_dir):
  joints, vecs = _sample(sample_dir)
  recovered = F.features_to_joints(vecs.astype(np.float64))
  assert recovered.shape == joints.shape == (170, 22, 3)
  np.testing.assert_allclose(recovered, joints, atol=1e-5)


def test_joints_to_features_reproduces_real_features(sample_dir):
  joints, vecs = _sample(sample_dir)
  # new_joints lacks the last source frame; it follows from the features' velocities.
  all_joints = F.features_to_all_joints(vecs)
  np.testing.assert_allclose(all_joints[:-1], joints, atol=1e-5)
  features = F.joints_to_features(all_joints)
  assert features.shape == vecs.shape
  np.testing.assert_allclose(features, vecs, atol=5e-5)
  contacts = F.feature_slices(22)["foot_contact"]
  np.testing.assert_array_equal(features[:, contacts], vecs[:, contacts])


def test_without_the_last_frame_only_the_tail_differs(sample_dir):
  """The facing is smoothed over +-80 frames, so a shorter input changes only the tail."""
  joints, vecs = _sample(sample_dir)
  features = F.joints_to_features(joints)
  assert features.shape == (169, 263)
  np.testing.assert_allclose(features[:80], vecs[:80], atol=5e-5)


@pytest.mark.parametrize("name,params", [
    ("walk", dict(direction="forward", speed="normal", steps=6, curve="left")),
    ("turn", dict(side="right", angle=180)),
    ("jump", dict(count=2, direction="forward", height="high")),
    ("spin", dict(side="left")),
    ("run", dict(pace="run", steps=8, curve="right")),
])
def test_joints_features_joints_round_trip(name, params):
  raw, _ = family_motion(name, params, seed=1)
  # Start anywhere, facing anywhere: the representation canonicalises.
  expected = F.canonicalize(F.retarget(raw))
  recovered = F.features_to_joints(F.joints_to_features(raw).astype(np.float64))
  err = np.abs(recovered - expected[:-1]).max()
  assert err < 1e-4, f"{name}: max position error {err * 1000:.3f} mm"
  # The canonical frame: floor at 0, root of frame 0 at the xz origin, facing +z.
  assert abs(expected[..., 1].min()) < 1e-9
  np.testing.assert_allclose(expected[0, 0, [0, 2]], 0, atol=1e-9)


def test_features_joints_features_round_trip():
  raw, _ = family_motion("walk", dict(direction="backward", speed="fast", steps=5,
                                      curve="right"), seed=2)
  features = F.joints_to_features(raw)
  again = F.joints_to_features(F.features_to_all_joints(features))
  np.testing.assert_allclose(again, features, atol=1e-4)


def test_bone_lengths_are_those_of_the_target_skeleton(sample_dir):
  raw, _ = family_motion("jumping_jacks", dict(count=3), seed=3)
  for joints in (F.features_to_joints(F.joints_to_features(raw).astype(np.float64)),
                 np.load(os.path.join(sample_dir, "new_joints", "012314.npy"))):
    parents = HUMANML3D.parents
    lengths = np.linalg.norm(joints[:, 1:] - joints[:, parents[1:]], axis=-1)
    np.testing.assert_allclose(lengths, np.broadcast_to(HUMANML3D.bone_lengths[1:], lengths.shape),
                               atol=1e-4)


def test_retarget_rescales_to_target_bone_lengths():
  raw, _ = family_motion("walk", dict(direction="forward", speed="slow", steps=4,
                                      curve="straight"), seed=4)
  big = raw * 1.3
  retargeted = F.retarget(big)
  parents = HUMANML3D.parents
  lengths = np.linalg.norm(retargeted[:, 1:] - retargeted[:, parents[1:]], axis=-1)
  np.testing.assert_allclose(lengths, np.broadcast_to(HUMANML3D.bone_lengths[1:], lengths.shape),
                             atol=1e-6)
  np.testing.assert_allclose(F.joints_to_features(big), F.joints_to_features(raw), atol=1e-4)


def test_foot_contacts_follow_the_threshold():
  joints = np.zeros((6, 22, 3))
  # Left ankle: still, then moving 3 cm/frame (0.0009 m^2 < 0.002: contact), then 6 cm/frame.
  joints[:, 7, 2] = [0.0, 0.0, 0.03, 0.06, 0.12, 0.18]
  joints[:, 8, 1] = [0.0, 0.1, 0.2, 0.2, 0.2, 0.2]   # right ankle: lifts, then holds
  contacts = F.foot_contacts(joints)
  np.testing.assert_array_equal(contacts[:, 0], [1, 1, 1, 0, 0])
  np.testing.assert_array_equal(contacts[:, 2], [0, 0, 1, 1, 1])
  np.testing.assert_array_equal(contacts[:, [1, 3]], 1)


def test_foot_contacts_on_a_motion_with_known_support():
  """Walking: the supporting foot is in contact, the swinging foot (mid-swing) is not;
  balancing on the left leg: the left foot is in contact throughout."""
  raw, anchor = family_motion("walk", dict(direction="forward", speed="normal", steps=6,
                                           curve="straight"), seed=5)
  contacts = F.joints_to_features(raw)[:, F.feature_slices(22)["foot_contact"]]
  canon = F.canonicalize(F.retarget(raw))
  for foot, (ankle, cols) in enumerate(((7, [0, 1]), (8, [2, 3]))):
    supporting = (anchor[:-1] == foot) & (anchor[1:] == foot)
    assert supporting.sum() > 20
    assert contacts[supporting][:, cols].min() == 1.0
    speed = np.linalg.norm(np.diff(canon[:, ankle], axis=0), axis=-1)
    swinging = speed > 0.08
    assert swinging.sum() > 5
    assert contacts[swinging][:, cols[0]].max() == 0.0

  raw, anchor = family_motion("balance", dict(side="right"), seed=5)
  contacts = F.joints_to_features(raw)[:, F.feature_slices(22)["foot_contact"]]
  assert (anchor == 0).all()
  assert contacts[:, :2].min() == 1.0


def test_mirror_swaps_sides():
  raw, _ = family_motion("walk", dict(direction="forward", speed="normal", steps=6,
                                      curve="left"), seed=6)
  mirrored = F.mirror_joints(raw)
  np.testing.assert_allclose(F.mirror_joints(mirrored), raw)
  # Turning left is a negative root rotation velocity in HumanML3D; the mirror turns right.
  rot_vel = F.joints_to_features(raw)[:, 0].sum()
  mirrored_rot_vel = F.joints_to_features(mirrored)[:, 0].sum()
  assert rot_vel < -0.3 and mirrored_rot_vel == pytest.approx(-rot_vel, rel=0.05)


def test_jax_recover_matches_numpy(sample_dir):
  import jax
  import jax.numpy as jnp
  _, vecs = _sample(sample_dir)
  fn = jax.jit(lambda f: F.features_to_joints(f, 22, xp=jnp))
  np.testing.assert_allclose(np.asarray(fn(jnp.asarray(vecs))),
                             F.features_to_joints(vecs.astype(np.float64)), atol=1e-4)


@pytest.mark.parametrize("shape,match", [((10, 21, 3), r"\[T, 22, 3\]"), ((1, 22, 3), "2 frames")])
def test_bad_joint_input_is_rejected(shape, match):
  with pytest.raises(ValueError, match=match):
    F.joints_to_features(np.zeros(shape))


def test_nan_joints_are_rejected():
  joints = np.zeros((5, 22, 3))
  joints[2, 3, 1] = np.nan
  with pytest.raises(ValueError, match="NaN"):
    F.joints_to_features(joints)
