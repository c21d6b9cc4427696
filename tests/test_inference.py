"""generate and caption on a whole (tiny, briefly trained) pipeline."""

import os

import numpy as np
import pytest

from motiongpt_jax import cli


pytestmark = pytest.mark.xdist_group("tiny_project")  # one worker builds the project


@pytest.fixture(scope="module")
def run(tiny_project, tmp_path_factory):
  """The tiny pipeline of conftest (trained by the library); outputs go to a folder of ours."""
  return dict(lm=str(tiny_project / "runs" / "lm"), data=str(tiny_project / "data"),
              root=tmp_path_factory.mktemp("inference_out"))


def test_generate_writes_decodable_motions(run, capsys):
  out = str(run["root"] / "walk.npy")
  assert cli.main(["generate", "a person walks forward", "--workdir", run["lm"], "--out", out,
                   "-n", "2", "--frames", "60"]) == 0
  for i in range(2):
    joints = np.load(str(run["root"] / f"walk_{i}.npy"))
    assert joints.ndim == 3 and joints.shape[1:] == (22, 3) and len(joints) % 4 == 0
    assert np.isfinite(joints).all()
  gif = str(run["root"] / "walk.gif")
  assert cli.main(["generate", "a person jumps", "--workdir", run["lm"], "--out", gif]) == 0
  assert os.path.getsize(gif) > 1000
  assert "generated 1 motion(s)" in capsys.readouterr().out


def test_caption_is_text(run, capsys):
  motion = os.path.join(run["data"], "new_joint_vecs", os.listdir(
      os.path.join(run["data"], "new_joint_vecs"))[0])
  assert cli.main(["caption", motion, "--workdir", run["lm"]]) == 0
  text = capsys.readouterr().out.strip()
  assert text and "<motion_id" not in text


def test_bad_inputs_are_clear_errors(run, tmp_path, capsys):
  assert cli.main(["generate", "  ", "--workdir", run["lm"], "--out", "x.gif"]) == 2
  assert "the prompt is empty" in capsys.readouterr().err
  assert cli.main(["generate", "walk " * 200, "--workdir", run["lm"], "--out", "x.gif"]) == 2
  assert "takes at most 96" in capsys.readouterr().err
  bad = str(tmp_path / "bad.npy")
  np.save(bad, np.zeros((30, 7), np.float32))
  assert cli.main(["caption", bad, "--workdir", run["lm"]]) == 2
  assert "expected features [T, 263] or joints [T, 22, 3]" in capsys.readouterr().err
  assert cli.main(["generate", "walk", "--workdir", run["lm"], "--out", "x.txt"]) == 2
  assert "expected a .gif, .mp4 or .npy" in capsys.readouterr().err


def test_data_parallel_decoding_equals_one_device(run):
  """Prompts split over 8 simulated devices decode to the same tokens as on one."""
  import jax
  from motiongpt_jax.inference import MotionGPT
  assert len(jax.local_devices()) == 8
  many = MotionGPT.load(run["lm"])
  one = MotionGPT.load(run["lm"], devices=jax.local_devices()[:1])
  # 8 prompts: the same batch shape on both (sampling noise depends on the batch shape)
  prompts = [many.t2m_prompt(f"a person walks {n} steps") for n in range(8)]
  for a, b in zip(many.motion_codes(prompts, seed=3), one.motion_codes(prompts, seed=3)):
    np.testing.assert_array_equal(a, b)
  assert many.texts(prompts) == one.texts(prompts)
