"""The VQ-VAE commands end to end, as a user runs them (subprocesses, one CPU device)."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.xdist_group("cli_vqvae")  # its module fixture is built once

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = ["--config", "configs/vqvae.py:tiny", "--config.model.width=32",
         "--config.model.code_dim=16", "--config.train.steps=300",
         "--config.train.batch_size=8", "--config.train.log_every=5",
         "--config.train.checkpoint_every=1000", "--config.train.eval_every=0",
         "--config.data.window=32"]


def env():
  e = dict(os.environ, PYTHONUNBUFFERED="1")
  e.pop("XLA_FLAGS", None)  # one device, as on a user's laptop
  return e


def motiongpt(*args):
  return subprocess.run([sys.executable, "-m", "motiongpt_jax.cli", *args], cwd=REPO, env=env(),
                        capture_output=True, text=True, timeout=600)


def final_params(workdir):
  from motiongpt_jax.vqvae.tokenizer import MotionTokenizer
  import jax
  tok = MotionTokenizer.load(workdir)
  return tok.step, [np.asarray(x) for x in jax.tree_util.tree_leaves(tok.params)] + [
      np.asarray(tok.codebook)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, synth_dir):
  """An uninterrupted run, and one stopped by SIGTERM and restarted."""
  root = tmp_path_factory.mktemp("vq")
  full = str(root / "full")
  done = motiongpt("train-vqvae", "--workdir", full, "--data", synth_dir, *SMALL)
  assert done.returncode == 0, done.stderr

  interrupted = str(root / "interrupted")
  proc = subprocess.Popen(
      [sys.executable, "-m", "motiongpt_jax.cli", "train-vqvae", "--workdir", interrupted,
       "--data", synth_dir, *SMALL], cwd=REPO, env=env(), stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True)
  lines = []
  for line in proc.stdout:
    lines.append(line)
    if line.startswith("step 20/"):
      proc.send_signal(signal.SIGTERM)
      break
  rest = proc.communicate(timeout=300)[0]
  first_rc = proc.returncode
  resumed = motiongpt("train-vqvae", "--workdir", interrupted, "--data", synth_dir, *SMALL)
  return dict(full=full, interrupted=interrupted, first_rc=first_rc,
              first_log="".join(lines) + rest, resumed=resumed, data=synth_dir, root=root)


def test_train_prints_progress_and_writes_metrics(trained):
  log = trained["first_log"]
  assert "steps/s" in log and "ETA" in log and "loss" in log
  rows = [json.loads(line) for line in open(os.path.join(trained["full"], "metrics.jsonl"))]
  assert rows[-1]["step"] == 300 and rows[-1]["loss"] < rows[0]["loss"]
  config = json.load(open(os.path.join(trained["full"], "config.json")))
  assert config["data"]["feature_dim"] == 263 and config["model"]["width"] == 32


def test_sigterm_saves_and_the_restart_ends_identical(trained):
  assert trained["first_rc"] == 143, trained["first_log"]
  assert "SIGTERM: saved a checkpoint at step" in trained["first_log"]
  stopped_at = int(trained["first_log"].split("saved a checkpoint at step ")[1].split()[0])
  assert 20 <= stopped_at < 300
  assert trained["resumed"].returncode == 0, trained["resumed"].stderr
  assert "resumed from" in trained["resumed"].stdout
  assert f"at step {stopped_at}" in trained["resumed"].stdout
  step_a, a = final_params(trained["full"])
  step_b, b = final_params(trained["interrupted"])
  assert step_a == step_b == 300
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)


def test_tokenize_writes_original_and_mirrored_codes(trained):
  out = str(trained["root"] / "tokens")
  result = motiongpt("tokenize", "--vqvae", trained["full"], "--data", trained["data"],
                     "--out", out)
  assert result.returncode == 0, result.stderr
  meta = json.load(open(os.path.join(out, "tokens.json")))
  assert meta["format"] == "motiongpt-tokens-v1" and meta["rows"] == ["original", "mirrored"]
  assert meta["num_codes"] == 512 and meta["frames_per_token"] == 4
  from motiongpt_jax.data import humanml3d
  from motiongpt_jax.vqvae import token_files as tokenize
  names = tokenize.all_motion_names(trained["data"])
  assert meta["count"] == len(names)
  name = names[0]
  frames = len(np.load(os.path.join(trained["data"], "new_joint_vecs", name + ".npy")))
  codes = np.load(os.path.join(out, name + ".npy"))
  assert codes.shape == (2, frames // 4) and codes.dtype == np.int16
  assert codes.min() >= 0 and codes.max() < 512
  np.testing.assert_array_equal(tokenize.read_tokens(out, name, mirrored=True), codes[1])
  with pytest.raises(humanml3d.DataError, match="no tokens for motion 'nope'"):
    tokenize.read_tokens(out, "nope")


def test_reconstruct_reports_error_and_draws_gifs(trained):
  out = str(trained["root"] / "gifs")
  result = motiongpt("reconstruct", "--vqvae", trained["full"], "--data", trained["data"],
                     "--gifs", "1", "--limit", "6", "--out", out)
  assert result.returncode == 0, result.stderr
  assert "MPJPE" in result.stdout and "codes used" in result.stdout
  mpjpe = float(result.stdout.split("MPJPE ")[1].split()[0])
  assert 0 < mpjpe < 1000
  assert len([f for f in os.listdir(out) if f.endswith(".gif")]) == 1


def test_clear_errors(tmp_path, synth_dir):
  bad_key = motiongpt("train-vqvae", "--workdir", str(tmp_path / "w"), "--data", synth_dir,
                      "--config.train.stepz=3")
  assert bad_key.returncode == 2
  assert "config has no key 'train.stepz'; did you mean train.steps" in bad_key.stderr
  broken = tmp_path / "broken"
  broken.mkdir()
  no_data = motiongpt("train-vqvae", "--workdir", str(tmp_path / "w"), "--data", str(broken))
  assert no_data.returncode == 2 and "new_joint_vecs: missing folder" in no_data.stderr
  no_ckpt = motiongpt("tokenize", "--vqvae", str(tmp_path / "none"), "--data", synth_dir,
                      "--out", str(tmp_path / "t"))
  assert no_ckpt.returncode == 2 and "config.json does not exist" in no_ckpt.stderr
