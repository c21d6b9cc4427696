"""The motiongpt command end to end on small inputs."""

import os

from motiongpt_jax import cli


def test_synth_check_render(tmp_path, capsys):
  out = str(tmp_path / "synth")
  assert cli.main(["data", "synth", "--out", out, "--num", "10", "--seed", "1",
                   "--workers", "1"]) == 0
  assert "wrote 10 motions" in capsys.readouterr().out
  assert cli.main(["data", "check", out]) == 0
  gif = str(tmp_path / "m.gif")
  assert cli.main(["render", os.path.join(out, "new_joint_vecs", "000000.npy"),
                   os.path.join(out, "new_joints", "000000.npy"), "--out", gif,
                   "--stride", "8"]) == 0
  assert os.path.getsize(gif) > 1000


def test_missing_file_is_one_line(tmp_path, capsys):
  assert cli.main(["render", str(tmp_path / "nope.npy"), "--out", "x.gif"]) == 2
  assert "nope.npy: no such file" in capsys.readouterr().err
