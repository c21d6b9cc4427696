"""The whole pipeline at a very small scale: `motiongpt demo --quick` (slow: several minutes)."""

import json
import os

import pytest

from motiongpt_jax import cli


@pytest.mark.slow
def test_demo_quick_runs_every_stage_and_resumes(tmp_path, capsys):
  workdir = str(tmp_path / "demo")
  assert cli.main(["demo", "--quick", "--num", "300", "--workdir", workdir,
                   "--pictures", "1"]) == 0
  out = capsys.readouterr().out
  assert "demo done" in out and "quality targets on the test split" in out
  # every stage with its wall time, and the eight targets
  assert "wall time per stage" in out and out.count(" min  [") == 12
  assert out.count("PASS  ") + out.count("MISS  ") == 8
  with open(os.path.join(workdir, "eval", "results.json")) as f:
    tables = json.load(f)
  assert set(tables) == {"text_to_motion", "motion_to_text", "motion_to_motion"}
  for row in ("Real motion", "MotionGPT", "Random tokens"):
    assert 0.0 <= tables["text_to_motion"][row]["R@3"][0] <= 1.0
  assert "| MotionGPT |" in open(os.path.join(workdir, "eval", "results.md")).read()
  generated = os.path.join(workdir, "pictures", "generated")
  assert {"prompt_0.gif", "prediction.gif", "inbetween.gif"} <= set(os.listdir(generated))
  for stage in ("vqvae", "pretrain", "instruct", "evaluator"):
    assert os.listdir(os.path.join(workdir, stage, "checkpoints"))
  # a second run finds every stage done and only re-evaluates
  assert cli.main(["demo", "--quick", "--num", "300", "--workdir", workdir,
                   "--pictures", "1"]) == 0
  out = capsys.readouterr().out
  assert "already at" in out and "demo done" in out
