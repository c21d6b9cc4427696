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


def test_demo_runs_what_exists(tmp_path, capsys):
  workdir = str(tmp_path / "demo")
  small_vqvae = ["--config.model.width=32", "--config.model.code_dim=16",
                 "--config.train.steps=20", "--config.train.batch_size=8",
                 "--config.train.log_every=10", "--config.data.window=32"]
  args = ["demo", "--workdir", workdir, "--num", "40", "--pictures", "1", *small_vqvae]
  assert cli.main(args) == 0
  out = capsys.readouterr().out
  assert "demo done" in out and "synthesised 40 motions" in out
  assert "trained the VQ-VAE to step 20" in out and "test reconstruction: MPJPE" in out
  gifs = [f for f in os.listdir(os.path.join(workdir, "pictures")) if f.endswith(".gif")]
  assert len(gifs) == 1
  assert len(os.listdir(os.path.join(workdir, "pictures", "reconstructions"))) == 1
  tokens = os.path.join(workdir, "data", "synth", "tokens")
  assert os.path.exists(os.path.join(tokens, "tokens.json"))
  assert os.path.exists(os.path.join(workdir, "data", "synth", "spiece.model"))
  assert "--- motiongpt_instruct_m2m_prediction_eval [validation] example 0" in out
  # Resumable: a second run reuses the data set and the trained VQ-VAE.
  assert cli.main(args) == 0
  out = capsys.readouterr().out
  assert "already at" in out and "resumed from" in out


def test_missing_file_is_one_line(tmp_path, capsys):
  assert cli.main(["render", str(tmp_path / "nope.npy"), "--out", "x.gif"]) == 2
  assert "nope.npy: no such file" in capsys.readouterr().err
