"""The run folder: the library's stages on a shrunk config, params-only loads, and a trained
run that still works after ``runs/`` and ``data/`` are moved elsewhere."""

import json
import os
import shutil

import jax
import numpy as np
import pytest

from motiongpt_jax import cli, pipeline, runs
from motiongpt_jax.inference import MotionGPT
from motiongpt_jax.train.checkpoints import Checkpointer

pytestmark = pytest.mark.xdist_group("tiny_project")  # one worker builds the project


@pytest.fixture(scope="module")
def project(tiny_project):
  return tiny_project


def test_stages_report_through_the_reporter_only(project, capsys):
  report = pipeline.silent()
  out = pipeline.reconstruct(str(project / "runs" / "vq"), str(project / "data"), limit=8,
                             gifs=0, report=report)
  assert out["gifs"] == [] and np.isfinite(out["mpjpe_mm"])
  assert capsys.readouterr().out == ""
  assert any("MPJPE" in line for line in report.lines)


def test_run_files_refer_to_each_other_relatively(project):
  with open(project / "runs" / "lm" / "config.json") as f:
    data_config = json.load(f)["data"]
  for key in ("path", "tokens", "spm"):
    assert not os.path.isabs(data_config[key]), (key, data_config[key])
  with open(project / "data" / "tokens" / "tokens.json") as f:
    meta = json.load(f)
  assert meta["vqvae"] == os.path.join("..", "..", "runs", "vq")
  assert meta["vqvae_identity"]["step"] == 4 and len(meta["vqvae_identity"]["config_hash"]) == 16
  assert runs.read_config(str(project / "runs" / "lm")).data.path == str(project / "data")


def test_load_params_equals_the_full_restore_without_the_optimizer(project):
  vq = str(project / "runs" / "vq")
  config, model, step, params, codebook = runs.load_vqvae(vq)
  full = Checkpointer(vq, read_only=True)
  metadata = full.manager.item_metadata(step)
  restored = full.manager.restore(step)
  full.close()
  assert "opt_state" in metadata
  for a, b in zip(jax.tree_util.tree_leaves(params),
                  jax.tree_util.tree_leaves(restored["params"])):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  np.testing.assert_array_equal(np.asarray(codebook.codebook),
                                np.asarray(restored["extra"]["codebook"]))


def test_a_moved_project_still_generates(project, tmp_path, capsys):
  moved = tmp_path / "elsewhere" / "copy"
  shutil.copytree(project, moved)
  hidden = project.with_name("hidden")
  os.rename(project, hidden)  # the original place is gone while the copy is used
  try:
    model = MotionGPT.load(str(moved / "runs" / "lm"))
    assert model.config.data.path == str(moved / "data")
    joints = model.generate("a person walks forward", frames=40)[0]
    assert joints.shape[1:] == (22, 3) and np.isfinite(joints).all()
    out = str(tmp_path / "walk.npy")
    assert cli.main(["generate", "a person walks", "--workdir", str(moved / "runs" / "lm"),
                     "--out", out]) == 0
    assert np.load(out).shape[1:] == (22, 3)
  finally:
    os.rename(hidden, project)


def test_a_changed_vqvae_is_named_not_used(project, tmp_path, capsys):
  copy = tmp_path / "copy"
  shutil.copytree(project, copy)
  config_path = copy / "runs" / "vq" / "config.json"
  config = json.loads(config_path.read_text())
  config["model"]["num_codes"] = 256
  config_path.write_text(json.dumps(config))
  with pytest.raises(runs.RunError, match="tokenize again"):
    MotionGPT.load(str(copy / "runs" / "lm"))
  assert cli.main(["generate", "walk", "--workdir", str(copy / "runs" / "lm"),
                   "--out", str(tmp_path / "x.npy")]) == 2
  err = capsys.readouterr().err
  assert "tokenize again" in err and len(err.strip().splitlines()) == 1
  assert not (tmp_path / "x.npy").exists()
