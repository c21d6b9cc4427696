"""Two CPU processes joined by jax.distributed over loopback (2 simulated devices each) train
exactly as one process with 4 devices: same losses, same checkpoint."""

import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np

from motiongpt_jax import config_utils
from motiongpt_jax.train import trainer


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _env(devices: int) -> dict:
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
  env.pop("PYTEST_XDIST_WORKER", None)
  return env


def _losses(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line)["loss"] for line in f if '"loss"' in line]


def _params(workdir):
  from motiongpt_jax.evaluation.evaluator import Evaluator
  return jax.tree_util.tree_leaves(Evaluator.load(workdir).params)


def test_two_processes_train_like_one(synth_dir, tmp_path):
  command = [sys.executable, "-m", "motiongpt_jax.cli"]
  # The evaluator: a model with dropout, GRUs and a global-batch data loader. (The VQ-VAE
  # would do too, but its dead-code reset turns last-bit differences of the cross-process
  # reductions into different codebooks.)
  train = ["train-evaluator", "--data", synth_dir, "--config.model.word_size=8",
           "--config.model.text_hidden=8", "--config.model.motion_hidden=8",
           "--config.model.movement_hidden=8", "--config.model.movement_latent=8",
           "--config.model.embedding=8", "--config.train.steps=4",
           "--config.train.batch_size=8", "--config.train.eval_every=0",
           "--config.train.log_every=1", "--config.train.checkpoint_every=4"]
  single, multi = str(tmp_path / "single"), str(tmp_path / "multi")
  port = _free_port()
  workers = [subprocess.Popen(command + ["--coordinator", f"localhost:{port}",
                                         "--num-processes", "2", "--process-id", str(i)]
                              + train + ["--workdir", multi], env=_env(2),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
  outputs = [w.communicate(timeout=300)[0] for w in workers]
  for w, out in zip(workers, outputs):
    assert w.returncode == 0, out[-3000:]
  assert "on 4 device(s)" in outputs[0]
  one = subprocess.run(command + train + ["--workdir", single], env=_env(4),
                       capture_output=True, text=True, timeout=300)
  assert one.returncode == 0, one.stdout[-2000:] + one.stderr[-2000:]

  assert len(_losses(multi)) == 4  # process 0 alone wrote the metrics
  np.testing.assert_allclose(_losses(multi), _losses(single), rtol=1e-5)
  for a, b in zip(_params(multi), _params(single)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
  config = config_utils.read_config(os.path.join(multi, "config.json"))
  assert config.train.steps == 4
  assert trainer.Checkpointer(multi, read_only=True).latest_step() == 4
