"""BVH out (joints -> BVH, read back by the independent reader bvhio) and BVH in (motion
capture -> a HumanML3D-format folder), on procedural motions, a real HumanML3D motion and
two real LAFAN1-like clips from the bvhtools 1.6.0 source archive (fetched at test time)."""

import json
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from conftest import family_motion
from motiongpt_jax import cli
from motiongpt_jax.data import from_bvh, humanml3d
from motiongpt_jax.motion import bvh as B
from motiongpt_jax.motion import features as F
from motiongpt_jax.motion import files, rig
from motiongpt_jax.motion.skeleton import SMPL_JOINT_NAMES

pytestmark = pytest.mark.xdist_group("bvh")  # its module fixtures are built once

bvhio = pytest.importorskip("bvhio", reason="the independent BVH reader (test extra)")


def bvhio_read(path: str) -> tuple[np.ndarray, int, float]:
  """(joint positions [T, 22, 3] in SMPL order, Frames, Frame Time) as bvhio reads them."""
  container = bvhio.readAsBvh(path, loadKeyFrames=False)
  root = bvhio.readAsHierarchy(path)
  joints = {j.Name: j for j, _, _ in root.layout()}
  out = []
  for t in range(container.FrameCount):
    root.loadPose(t)
    out.append([list(joints[name].PositionWorld) for name in SMPL_JOINT_NAMES])
  return np.asarray(out, dtype=np.float64), container.FrameCount, container.FrameTime


# --------------------------------------------------------------------- motions to export
def _posed(angles: np.ndarray, heading: np.ndarray, forward: np.ndarray) -> np.ndarray:
  """Rig poses with the lowest joint on the floor, moved by ``forward`` [T, 3]."""
  joints = rig.pose_joints(angles, heading) + forward[:, None]
  return joints - np.array([0.0, 1.0, 0.0]) * joints[..., 1].min(axis=1)[:, None, None]


def crawl_motion(frames: int = 80) -> np.ndarray:
  """On hands and knees, crawling forward: pelvis pitched 90 degrees."""
  t = np.arange(frames) / 20.0
  phase = 2 * np.pi * 0.8 * t
  angles = np.zeros((frames, 22, 3))
  angles[:, rig.PELVIS, 0] = np.pi / 2
  for side, (hip, knee, shoulder, elbow) in enumerate(
      ((rig.L_HIP, rig.L_KNEE, rig.L_SHOULDER, rig.L_ELBOW),
       (rig.R_HIP, rig.R_KNEE, rig.R_SHOULDER, rig.R_ELBOW))):
    swing = 0.35 * np.sin(phase + np.pi * side)
    angles[:, hip, 0] = -np.pi / 2 + swing
    angles[:, knee, 0] = np.pi / 2 - 0.1
    angles[:, shoulder, 0] = -np.pi / 2 - swing
    angles[:, elbow, 0] = -0.1 * (1 + np.sin(phase + np.pi * side))
  angles[:, rig.NECK, 0] = -0.6
  forward = np.stack([np.zeros(frames), np.zeros(frames), 0.25 * t], axis=-1)
  return _posed(angles, np.full(frames, 0.4), forward)


def lie_down_motion(frames: int = 100) -> np.ndarray:
  """Lies down on the back, rolls onto the side and turns: the pelvis passes 90 degrees of
  pitch and rolls."""
  s = np.clip(np.arange(frames) / (frames * 0.45), 0, 1)
  roll = np.clip((np.arange(frames) - frames * 0.55) / (frames * 0.35), 0, 1)
  angles = np.zeros((frames, 22, 3))
  angles[:, rig.PELVIS, 0] = -np.pi / 2 * (3 * s**2 - 2 * s**3)
  angles[:, rig.PELVIS, 2] = np.pi / 2 * (3 * roll**2 - 2 * roll**3)
  angles[:, rig.L_KNEE, 0] = 0.8 * np.sin(np.pi * s)
  angles[:, rig.R_KNEE, 0] = 0.8 * np.sin(np.pi * s)
  angles[:, rig.L_SHOULDER, 2] = 1.2 * s
  angles[:, rig.R_SHOULDER, 2] = -1.4 * roll
  heading = 0.6 * roll
  return _posed(angles, heading, np.zeros((frames, 3)))


def export_motions() -> dict:
  walk = dict(direction="forward", speed="normal", steps=6, curve="straight")
  motions = {
      "walk": family_motion("walk", walk)[0],
      "turn 180": family_motion("turn", dict(side="left", angle=180))[0],
      "walk backwards": family_motion("walk", dict(walk, direction="backward"), seed=1)[0],
      "spin 360": family_motion("spin", dict(side="right"))[0],
      "crawl": crawl_motion(),
      "lie down and roll": lie_down_motion(),
      "jump": family_motion("jump", dict(count=2, direction="forward", height="high"))[0],
  }
  return motions


@pytest.fixture(scope="module")
def motions(sample_dir):
  out = export_motions()
  feats = np.load(os.path.join(sample_dir, "new_joint_vecs", "012314.npy"))
  out["HumanML3D 012314 (features)"] = F.features_to_joints(feats.astype(np.float64))
  return out


KINDS = ["walk", "turn 180", "walk backwards", "spin 360", "crawl", "lie down and roll",
         "jump", "HumanML3D 012314 (features)"]


@pytest.mark.parametrize("kind", KINDS)
def test_bvh_round_trip_through_bvhio(motions, kind, tmp_path):
  joints = motions[kind]
  path = str(tmp_path / "m.bvh")
  written = B.save_joints(path, joints)
  read, frames, frame_time = bvhio_read(path)
  assert frames == len(joints) and abs(frame_time - 0.05) < 1e-9
  error = np.linalg.norm(read - joints, axis=-1)
  assert error.max() < 1e-3, f"{kind}: max {1000 * error.max():.3f} mm"
  # Channels are continuous: no Euler angle moves much more than the rotation it encodes.
  rots, _ = written.local_transforms()
  rel = np.einsum("tjik,tjil->tjkl", rots[:-1], rots[1:])
  cos = (np.trace(rel, axis1=-2, axis2=-1) - 1) / 2
  geodesic = np.rad2deg(np.arccos(np.clip(cos, -1, 1)))
  euler = written.motion[:, 3:].reshape(len(joints), -1, 3)
  step = np.abs(np.diff(euler, axis=0)).sum(-1)
  assert (step <= 3 * geodesic + 1.0).all(), (
      f"{kind}: an Euler step of {step.max():.1f} degrees for a rotation of "
      f"{geodesic.reshape(-1)[step.argmax()]:.1f}")
  # The rest pose is the T-pose on the motion's own bone lengths.
  parents = written.parents
  names = written.names
  got = np.linalg.norm(written.offsets[1:], axis=-1)
  j_index = [SMPL_JOINT_NAMES.index(n) for n in names]
  want = np.median(np.linalg.norm(joints[:, j_index[1:]] - joints[:, [j_index[p] for p in
                                                                       parents[1:]]], axis=-1),
                   axis=0)
  np.testing.assert_allclose(got, want, atol=1e-6)


def test_spin_reads_as_one_continuous_turn(motions):
  joints = motions["spin 360"]
  written = B.joints_to_bvh(joints)
  rots, _ = written.local_transforms()
  forward = rots[:, 0, :, 2]  # the pelvis's forward axis in the world
  yaw = np.unwrap(np.arctan2(forward[:, 0], forward[:, 2]))
  assert np.rad2deg(abs(yaw[-1] - yaw[0])) > 300
  # The root's channels carry the whole turn without a jump of a whole turn.
  root = written.motion[:, 3:6]
  assert np.abs(np.diff(root, axis=0)).max() < 45
  assert np.ptp(root, axis=0).max() > 300


def test_files_write_bvh_and_export_command(sample_dir, tmp_path, capsys):
  joints = np.load(os.path.join(sample_dir, "new_joints", "012314.npy"))
  outs = files.write_motions([joints, joints[:50]], str(tmp_path / "g.bvh"), ["a", "b"])
  assert [os.path.basename(p) for p in outs] == ["g_0.bvh", "g_1.bvh"]
  assert B.read_bvh(outs[1]).num_frames == 50
  files.check_output("x.bvh")
  vecs = os.path.join(sample_dir, "new_joint_vecs", "012314.npy")
  out = str(tmp_path / "e.bvh")
  assert cli.main(["export", vecs, "--out", out]) == 0
  assert "170 frames at 20 fps" in capsys.readouterr().out
  read, frames, _ = bvhio_read(out)
  expected = F.features_to_joints(np.load(vecs).astype(np.float64))
  assert frames == 170 and np.abs(read - expected).max() < 1e-3
  bad = str(tmp_path / "bad.npy")
  np.save(bad, np.zeros((5, 7)))
  assert cli.main(["export", bad, "--out", out]) == 2
  assert "expected HumanML3D features [T, 263] or joints [T, 22, 3]" in capsys.readouterr().err
  assert cli.main(["export", vecs, "--out", str(tmp_path / "e.txt")]) == 2


def test_reader_errors_name_the_file_and_line(tmp_path):
  path = tmp_path / "broken.bvh"
  path.write_text("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 zero\n}\nMOTION\nFrames: 1\n"
                  "Frame Time: 0.1\n")
  with pytest.raises(B.BvhError, match=r"broken.bvh:4: OFFSET: expected a number"):
    B.read_bvh(str(path))
  path.write_text("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0 0\n  CHANNELS 3 Xposition Yposition "
                  "Zposition\n}\nMOTION\nFrames: 2\nFrame Time: 0.1\n1 2 3\n")
  with pytest.raises(B.BvhError, match=r"3 channel values, expected Frames 2 x 3 channels"):
    B.read_bvh(str(path))


# ------------------------------------------------------------------------- BVH to data
def _renamed(bvh: B.Bvh, mapping: dict) -> B.Bvh:
  """The SMPL BVH with its joints renamed by a from_bvh mapping (one name per joint)."""
  return B.Bvh([mapping[n] for n in bvh.names], bvh.parents, bvh.offsets, bvh.channels,
               bvh.frame_time, bvh.motion, bvh.end_sites)


def test_mixamo_names_resampling_units_and_up_axis(motions, tmp_path):
  joints = motions["walk"]
  smpl = B.joints_to_bvh(joints, fps=10.0)  # claims 10 fps: conversion doubles the frames
  mixamo = {k: "mixamorig:" + v for k, v in from_bvh.MAPPINGS["mixamo"].items()}
  path = str(tmp_path / "walk.bvh")
  B.write_bvh(path, _renamed(smpl, mixamo))
  got, info = from_bvh.bvh_to_joints(path)
  assert info["mapping"] == "mixamo" and info["unit"] == "m"
  assert len(got) == 2 * len(joints) - 1
  np.testing.assert_allclose(got[::2], joints, atol=1e-5)  # frames of the file, exactly
  halfway = (joints[1:] + joints[:-1]) / 2
  assert np.linalg.norm(got[1::2] - halfway, axis=-1).max() < 0.05  # slerp in between
  # Centimetres are detected; a z-up file is turned y-up: (x, y, z) -> (x, -z, y) for the
  # root's place, a quarter turn about x before the root's rotation.
  cm = _renamed(smpl, mixamo)
  cm.offsets = cm.offsets * 100
  cm.motion = cm.motion.copy()
  x, y, z = (cm.motion[:, k] * 100 for k in range(3))
  cm.motion[:, :3] = np.stack([x, -z, y], axis=-1)
  order = "".join(c[0] for c in cm.channels[0][3:])
  root = B.euler_to_matrix(np.deg2rad(cm.motion[:, 3:6]), order)
  root = B.axis_rotation("X", np.deg2rad(90.0)) @ root
  cm.motion[:, 3:6] = np.rad2deg(B.continuous_euler(root, order))
  B.write_bvh(path, cm)
  got, info = from_bvh.bvh_to_joints(path, up="z")
  assert info["unit"] == "cm"
  np.testing.assert_allclose(got[::2], joints, atol=1e-5)


def test_unknown_skeleton_names_the_missing_joints(motions, tmp_path):
  smpl = B.joints_to_bvh(motions["walk"])
  names = dict(from_bvh.MAPPINGS["lafan1"])
  names["left_foot"], names["right_foot"] = "LeftToeTip", "RightToeTip"
  path = str(tmp_path / "odd.bvh")
  B.write_bvh(path, _renamed(smpl, names))
  with pytest.raises(ValueError, match=r"odd.bvh: the joints match no known skeleton.*the "
                     r"closest, lafan1, lacks LeftToe, RightToe"):
    from_bvh.bvh_to_joints(path)
  mapping = tmp_path / "map.json"
  mapping.write_text(json.dumps(names))
  got, info = from_bvh.bvh_to_joints(path, mapping=str(mapping))
  assert info["mapping"] == "map.json" and np.abs(got - motions["walk"]).max() < 1e-5


def test_cmu_mappings_are_detected_by_name():
  cmu = ["hip", "lhipjoint", "lfemur", "ltibia", "lfoot", "ltoes", "rhipjoint", "rfemur",
         "rtibia", "rfoot", "rtoes", "lowerback", "upperback", "thorax", "lowerneck",
         "upperneck", "head", "lclavicle", "lhumerus", "lradius", "lwrist", "lhand",
         "rclavicle", "rhumerus", "rradius", "rwrist", "rhand"]
  assert from_bvh.detect_mapping(cmu, "x")[0] == "cmu"
  cgspeed = ["Hips", "LHipJoint", "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase",
             "RHipJoint", "RightUpLeg", "RightLeg", "RightFoot", "RightToeBase", "LowerBack",
             "Spine", "Spine1", "Neck", "Neck1", "Head", "LeftShoulder", "LeftArm",
             "LeftForeArm", "LeftHand", "RightShoulder", "RightArm", "RightForeArm",
             "RightHand"]
  assert from_bvh.detect_mapping(cgspeed, "x")[0] == "cmu-bvh"


def test_from_bvh_command_with_captions(motions, tmp_path, capsys):
  src = tmp_path / "mocap"
  src.mkdir()
  lafan = from_bvh.MAPPINGS["lafan1"]
  long_walk = np.concatenate([motions["walk"], motions["walk backwards"]])
  for name, joints in (("walk", motions["walk"]), ("crawl", motions["crawl"]),
                       ("spin", motions["spin 360"]), ("mixed", long_walk)):
    B.write_bvh(str(src / f"{name}.bvh"), _renamed(B.joints_to_bvh(joints), lafan))
  (src / "walk.txt").write_text("a person walks forward\n")
  captions = tmp_path / "captions.json"
  captions.write_text(json.dumps({"crawl": ["a person crawls on all fours", "crawling"],
                                  "mixed_001": "walks backwards"}))
  out = str(tmp_path / "data")
  assert cli.main(["data", "from-bvh", str(src), "--out", out, "--captions", str(captions),
                   "--clip-seconds", "6"]) == 0
  printed = capsys.readouterr().out
  assert "skeleton lafan1, unit m" in printed
  report = humanml3d.check_folder(out)
  names = sorted(os.listdir(os.path.join(out, "new_joint_vecs")))
  assert names == ["crawl_000.npy", "mixed_000.npy", "mixed_001.npy", "spin_000.npy",
                   "walk_000.npy"]
  assert report.captions == 6
  text = lambda n: open(os.path.join(out, "texts", n + ".txt")).read()  # noqa: E731
  assert text("walk_000").startswith("a person walks forward#")
  assert text("crawl_000").splitlines()[1].startswith("crawling#")
  assert text("mixed_001").startswith("walks backwards#") and "moves" in text("spin_000")
  # The features are the data set pipeline's own.
  vecs = np.load(os.path.join(out, "new_joint_vecs", "crawl_000.npy"))
  np.testing.assert_allclose(vecs, F.joints_to_features(motions["crawl"]), atol=1e-4)
  sources = json.load(open(os.path.join(out, "sources.json")))
  assert sources["mixed_001"]["clip_frames"][1] == len(long_walk)
  # Faults are named.
  assert cli.main(["data", "from-bvh", str(src / "none.bvh"), "--out", out]) == 2
  assert "none.bvh: no such file or folder" in capsys.readouterr().err
  captions.write_text(json.dumps({"run": "a person runs"}))
  assert cli.main(["data", "from-bvh", str(src), "--out", out, "--captions",
                   str(captions)]) == 2
  assert "captions.json: captions for names that are neither a file stem" in (
      capsys.readouterr().err)


# ------------------------------------------------------------------- real motion capture
ARCHIVE = "bvhtools-1.6.0.tar.gz"
CLIPS = ("bvhtools-1.6.0/testBvhFiles/test.bvh", "bvhtools-1.6.0/testBvhFiles/test2.bvh")


def _archive() -> str:
  """The bvhtools 1.6.0 source archive: $MOTIONGPT_BVHTOOLS_ARCHIVE, the cache, or pip."""
  given = os.environ.get("MOTIONGPT_BVHTOOLS_ARCHIVE")
  if given:
    return given
  cache = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
                       "motiongpt_jax")
  path = os.path.join(cache, ARCHIVE)
  if not os.path.exists(path):
    os.makedirs(cache, exist_ok=True)
    try:
      subprocess.run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:",
                      "--no-deps", "--quiet", "bvhtools==1.6.0", "-d", cache],
                     check=True, capture_output=True, timeout=300)
    except (subprocess.SubprocessError, OSError) as e:
      pytest.skip(f"the bvhtools 1.6.0 source archive (two real LAFAN1-like clips) could not "
                  f"be downloaded with pip: {str(e)[:200]}")
  return path


@pytest.fixture(scope="module")
def real_clips(tmp_path_factory):
  """The two real 30-fps clips (CC BY-NC-ND: read here, never committed)."""
  archive = _archive()
  out = tmp_path_factory.mktemp("lafan")
  try:
    with tarfile.open(archive) as tar:
      paths = []
      for member in CLIPS:
        data = tar.extractfile(member).read()
        path = out / os.path.basename(member)
        path.write_bytes(data)
        paths.append(str(path))
  except (tarfile.TarError, KeyError, AttributeError, OSError) as e:
    pytest.skip(f"{archive}: no readable test clips ({e})")
  return paths


def test_real_clips_convert_to_a_checked_folder(real_clips, tmp_path):
  first = B.read_bvh(real_clips[0])
  assert first.num_frames == 7184 and abs(first.fps - 30) < 1e-3
  # The reader's forward kinematics equals bvhio's on the real file (first 40 frames).
  head, body = open(real_clips[0]).read().split("MOTION\n")
  lines = body.splitlines()
  short = tmp_path / "short.bvh"
  short.write_text(head + "MOTION\nFrames: 40\n" + "\n".join(lines[1:42]) + "\n")
  root = bvhio.readAsHierarchy(str(short))
  layout = {j.Name: j for j, _, _ in root.layout()}
  theirs = []
  for t in range(40):
    root.loadPose(t)
    theirs.append([list(layout[n].PositionWorld) for n in first.names])
  np.testing.assert_allclose(B.read_bvh(str(short)).positions(), theirs, atol=1e-3)

  out = str(tmp_path / "lafan")
  s = from_bvh.convert(real_clips, out)
  assert s["mappings"] == ["lafan1"] and s["units"] == ["cm"]
  assert s["frames_in"] == 7184 + 3945
  assert s["frames_out"] == (4789 - 1) + (2630 - 1)  # 20 fps; neighbouring clips share a frame
  assert s["clips"] == 39 and s["splits"] == {"train": 31, "val": 2, "test": 6}
  report = humanml3d.check_folder(out, strict=True)
  assert report.samples["train"] == 31 and not report.warnings
  joints = np.load(os.path.join(out, "new_joints", "test_000.npy"))
  assert 1.5 < joints[:, 15, 1].max() < 1.9  # a standing adult's head height (m)
  # BVH out of the converted features reads back onto them.
  vecs = np.load(os.path.join(out, "new_joint_vecs", "test2_005.npy"))
  path = str(tmp_path / "back.bvh")
  B.save_joints(path, files.as_joints(vecs.astype(np.float64)))
  read, frames, _ = bvhio_read(path)
  assert frames == len(vecs)
  assert np.linalg.norm(read - F.features_to_joints(vecs.astype(np.float64)), axis=-1).max() < 1e-3
