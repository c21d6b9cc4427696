"""Faults while training: Ctrl-C, a second writer, a resume that would not fit, and (slow)
hard kills at random instants, saves included, each followed by an exact resume."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from motiongpt_jax import cli
from test_cli_vqvae import REPO, env, final_params

ON_PROJECT = pytest.mark.xdist_group("tiny_project")  # the worker that built it

SMALL = ["--config", "configs/vqvae.py:tiny", "--config.model.width=16",
         "--config.model.code_dim=8", "--config.train.batch_size=8", "--config.train.log_every=5",
         "--config.train.eval_every=0", "--config.data.window=32"]


def start(workdir, data, *extra):
  return subprocess.Popen(
      [sys.executable, "-m", "motiongpt_jax.cli", "train-vqvae", "--workdir", workdir,
       "--data", data, *SMALL, *extra], cwd=REPO, env=env(), stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True)


def wait_for(proc, prefix):
  lines = []
  for line in proc.stdout:
    lines.append(line)
    if line.startswith(prefix):
      return lines
  raise AssertionError("".join(lines))


def test_ctrl_c_saves_and_exits_130_without_traceback(synth_dir, tmp_path):
  workdir = str(tmp_path / "run")
  proc = start(workdir, synth_dir, "--config.train.steps=2000",
               "--config.train.checkpoint_every=1000")
  lines = wait_for(proc, "step 10/")
  proc.send_signal(signal.SIGINT)
  rest = proc.communicate(timeout=300)[0]
  log = "".join(lines) + rest
  assert proc.returncode == 130, log
  assert "SIGINT: saved a checkpoint at step" in log and "Traceback" not in log
  saved = int(log.split("saved a checkpoint at step ")[1].split()[0])
  assert os.path.isdir(os.path.join(workdir, "checkpoints", str(saved)))


def test_a_second_writer_is_refused_and_a_dead_one_leaves_no_lock(synth_dir, tmp_path, capsys):
  workdir = str(tmp_path / "run")
  proc = start(workdir, synth_dir, "--config.train.steps=5000",
               "--config.train.checkpoint_every=5000")
  wait_for(proc, "step 5/")
  os.kill(proc.pid, signal.SIGSTOP)  # alive and holding the lock, but off the CPU
  config_before = open(os.path.join(workdir, "config.json")).read()
  code = cli.main(["train-vqvae", "--workdir", workdir, "--data", synth_dir, *SMALL,
                   "--config.train.steps=10"])
  err = capsys.readouterr().err
  assert code == 2 and f"pid {proc.pid}" in err and "being written" in err, err
  assert open(os.path.join(workdir, "config.json")).read() == config_before
  proc.kill()  # SIGKILL: no clean-up at all
  proc.communicate(timeout=60)
  code = cli.main(["train-vqvae", "--workdir", workdir, "--data", synth_dir, *SMALL,
                   "--config.train.steps=10", "--config.train.checkpoint_every=10"])
  assert code == 0, capsys.readouterr().err


@ON_PROJECT
def test_a_resume_that_cannot_fit_changes_nothing(tiny_project, tmp_path, capsys):
  workdir = str(tmp_path / "vq")
  shutil.copytree(tiny_project / "runs" / "vq", workdir)
  before = {name: open(os.path.join(workdir, name), "rb").read()
            for name in ("config.json", "metrics.jsonl")}
  steps_before = sorted(os.listdir(os.path.join(workdir, "checkpoints")))
  code = cli.main(["train-vqvae", "--workdir", workdir, "--data",
                   str(tiny_project / "data"), "--config.model.width=32",
                   "--config.model.code_dim=8", "--config.data.window=32",
                   "--config.train.steps=8"])
  err = capsys.readouterr().err
  assert code == 2 and "model.width: 16 -> 32" in err and "Nothing was changed" in err, err
  for name, content in before.items():
    assert open(os.path.join(workdir, name), "rb").read() == content
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == steps_before


@ON_PROJECT
def test_stale_save_temporaries_are_removed_at_start(tiny_project, tmp_path, capsys):
  workdir = str(tmp_path / "vq")
  shutil.copytree(tiny_project / "runs" / "vq", workdir)
  stale = os.path.join(workdir, "checkpoints", "8.orbax-checkpoint-tmp-1234")
  os.makedirs(os.path.join(stale, "default"))
  code = cli.main(["train-vqvae", "--workdir", workdir, "--data", str(tiny_project / "data"),
                   "--config.model.width=16", "--config.model.code_dim=8",
                   "--config.data.window=32", "--config.train.batch_size=8",
                   "--config.train.eval_every=0", "--config.train.steps=6"])
  assert code == 0, capsys.readouterr().err
  assert not os.path.exists(stale)
  assert "6" in os.listdir(os.path.join(workdir, "checkpoints"))


@pytest.mark.slow
def test_hard_kills_at_random_instants_resume_bit_identical(synth_dir, tmp_path):
  """SIGKILL at random moments of a run that checkpoints every 3 steps (so many kills land
  inside a save); after each kill the same command resumes; the end equals a run never
  killed, bit for bit."""
  steps = ["--config.train.steps=120", "--config.train.checkpoint_every=3",
           "--config.train.log_every=1"]
  full = str(tmp_path / "full")
  done = start(full, synth_dir, *steps)
  assert done.wait(timeout=600) == 0
  killed = str(tmp_path / "killed")
  rng = np.random.default_rng(0)
  kills = 0
  for _ in range(40):
    proc = start(killed, synth_dir, *steps)
    wait_for(proc, "training ")  # compiled and running
    time.sleep(float(rng.uniform(0.0, 1.5)))
    if proc.poll() is not None:
      break
    proc.kill()
    proc.communicate(timeout=60)
    kills += 1
  final = start(killed, synth_dir, *steps)
  log = final.communicate(timeout=600)[0]
  assert final.returncode == 0, log
  assert kills >= 5
  step_a, a = final_params(full)
  step_b, b = final_params(killed)
  assert step_a == step_b == 120
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)
  rows = [json.loads(line)["step"] for line in open(os.path.join(killed, "metrics.jsonl"))]
  assert rows == sorted(set(rows))  # no duplicated metric rows after all the resumes
