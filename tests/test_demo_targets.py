"""The demo's quality targets (configs/demo.py) checked on evaluation tables."""

from motiongpt_jax.pipeline.demo import demo_targets
from motiongpt_jax.config_utils import project_config, load_config


def _tables(r3=0.86, fid=0.5, bleu=30.0, pred_fde=0.8):
  row = lambda **kw: {k: [v, 0.0] for k, v in kw.items()}
  return {
      "text_to_motion": {"Real motion": row(**{"R@3": 0.98}),
                         "MotionGPT": row(**{"R@3": r3, "FID": fid}),
                         "Random tokens": row(**{"R@3": 0.1, "FID": 20.0})},
      "motion_to_text": {"MotionGPT": row(**{"BLEU@4": bleu}),
                         "Random caption": row(**{"BLEU@4": 8.0})},
      "motion_to_motion": {
          "Prediction: MotionGPT": row(ADE=0.4, FDE=pred_fde),
          "Prediction: hold last pose": row(ADE=0.5, FDE=0.883),
          "In-between: MotionGPT": row(ADE=0.3, FDE=0.3),
          "In-between: hold last pose": row(ADE=0.4, FDE=0.6)}}


def test_demo_targets_are_the_issues_and_fail_where_a_number_misses():
  targets = load_config(project_config("demo.py")).targets
  lines = demo_targets(_tables(), targets)
  assert len(lines) == 8 and all(ok for ok, _ in lines), lines
  texts = [text for _, text in lines]
  assert texts[0].startswith("the evaluator matches real motions") and ">= 0.95" in texts[0]
  assert "R@3 0.860 >= 0.85 x real 0.980" in texts[1]
  assert "FID 0.500 <= 0.05 x random tokens 20.000" in texts[2]
  assert "prediction FDE 0.800 m < held pose 0.883 m" in texts
  # R@3 0.83 < 0.85 x 0.98; FID 1.5 > 1.0; BLEU 20 < 24; prediction FDE 0.902 > 0.883
  missed = demo_targets(_tables(r3=0.83, fid=1.5, bleu=20.0, pred_fde=0.902), targets)
  failed = [text for ok, text in missed if not ok]
  assert len(failed) == 4, failed
  assert any(t.startswith("prediction FDE 0.902") for t in failed)
