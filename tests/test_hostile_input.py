"""Bad input, table-driven: every case exits with status 2 and one line naming the file or
field, and writes nothing. Placeholders: {data} a good data folder, {bad} a broken copy of
it (the case's ``breaks`` says how), {vq} / {lm} trained runs, {out} a path that must not
exist afterwards, {npy} / {file} helper files."""

import json
import os
import shutil

import numpy as np
import pytest

from motiongpt_jax import cli

pytestmark = pytest.mark.xdist_group("tiny_project")  # one worker builds the project


def _split(name, line):
  def breaks(d):
    with open(os.path.join(d, name), "w") as f:
      f.write(line + "\n")
  return breaks


def _array(name, value):
  def breaks(d):
    np.save(os.path.join(d, name), value)
  return breaks


def _bytes(sub, content):
  def breaks(d):
    folder = os.path.join(d, sub)
    first = sorted(os.listdir(folder))[0]
    with open(os.path.join(folder, first), "wb") as f:
      f.write(content)
  return breaks


def _truncate_motion(d):
  folder = os.path.join(d, "new_joint_vecs")
  path = os.path.join(folder, sorted(os.listdir(folder))[0])
  data = open(path, "rb").read()
  with open(path, "wb") as f:
    f.write(data[:len(data) // 2])


def _remove(sub):
  return lambda d: shutil.rmtree(os.path.join(d, sub))


VQ_TRAIN = ["train-vqvae", "--workdir", "{out}", "--data", "{data}"]
LM_TRAIN = ["train", "--config", "configs/t5_instruct.py:tiny", "--workdir", "{out}",
            "--data", "{data}"]
GEN = ["generate", "a person walks", "--workdir", "{lm}", "--out", "{out}.npy"]

# (id, argv, expected words in the message, how {bad} is broken or None)
CASES = [
    # data folders
    ("check-missing-folder", ["data", "check", "{out}"], "not a directory", None),
    ("check-no-texts", ["data", "check", "{bad}"], "texts", _remove("texts")),
    ("check-no-motions", ["data", "check", "{bad}"], "new_joint_vecs", _remove("new_joint_vecs")),
    ("check-zero-std", ["data", "check", "{bad}"], "std must be positive",
     _array("Std.npy", np.zeros(263, np.float32))),
    ("check-nan-mean", ["data", "check", "{bad}"], "finite",
     _array("Mean.npy", np.full(263, np.nan, np.float32))),
    ("check-short-std", ["data", "check", "{bad}"], "Std.npy", _array("Std.npy", np.ones(10))),
    ("check-2d-mean", ["data", "check", "{bad}"], "Mean.npy",
     _array("Mean.npy", np.ones((263, 2)))),
    ("check-no-train", ["data", "check", "{bad}"], "train", _split("train.txt", "")),
    ("check-dotdot-name", ["data", "check", "{bad}"], "not a plain file name",
     _split("test.txt", "../../etc/passwd")),
    ("check-absolute-name", ["data", "check", "{bad}"], "not a plain file name",
     _split("val.txt", "/etc/passwd")),
    ("check-separator-name", ["data", "check", "{bad}"], "not a plain file name",
     _split("train.txt", "a/b")),
    ("check-unknown-motion", ["data", "check", "{bad}"], "nope", _split("test.txt", "nope")),
    ("check-empty-npy", ["data", "check", "{bad}"], ".npy", _bytes("new_joint_vecs", b"")),
    ("check-garbage-npy", ["data", "check", "{bad}"], ".npy",
     _bytes("new_joint_vecs", b"not numpy at all")),
    ("check-truncated-npy", ["data", "check", "{bad}"], ".npy", _truncate_motion),
    ("check-binary-caption", ["data", "check", "{bad}"], "texts", _bytes("texts", b"\xff\xfe#")),
    ("synth-num-0", ["data", "synth", "--out", "{out}", "--num", "0"], "--num", None),
    ("synth-workers-0", ["data", "synth", "--out", "{out}", "--num", "5", "--workers", "0"],
     "--workers", None),
    ("tfds-missing", ["data", "tfds", "{out}", "--data-dir", "{out}2"], "Mean.npy", None),
    # render
    ("render-missing", ["render", "{out}.npy", "--out", "{out}.gif"], "no such file", None),
    ("render-not-npy", ["render", "{file}", "--out", "{out}.gif"], "expected a .npy", None),
    ("render-empty-npy", ["render", "{empty}", "--out", "{out}.gif"], "npy", None),
    ("render-pickle", ["render", "{pickle}", "--out", "{out}.gif"], "npy", None),
    ("render-normalized-no-data", ["render", "{npy}", "--out", "{out}.gif", "--normalized"],
     "--data", None),
    # vocabulary and tasks
    ("vocab-size-0", ["vocab", "train", "--data", "{data}", "--out", "{out}.model", "--size", "0"],
     "--size", None),
    ("vocab-size-huge", ["vocab", "train", "--data", "{data}", "--out", "{out}.model",
                         "--size", "100000000"], "--size", None),
    ("vocab-no-split", ["vocab", "train", "--data", "{data}", "--out", "{out}.model",
                        "--splits", "nope"], "nope.txt", None),
    ("vocab-missing-data", ["vocab", "train", "--data", "{out}", "--out", "{out}.model"],
     "train.txt", None),
    ("tasks-show-n-0", ["tasks", "show", "motiongpt_pretrain_t2m", "--data", "{data}", "-n", "0"],
     "-n", None),
    ("tasks-show-unknown", ["tasks", "show", "nope", "--data", "{data}"], "no task", None),
    ("tasks-list-missing", ["tasks", "list", "--data", "{out}"], "data folder", None),
    # configs (validated when loaded, before anything is written)
    ("steps-0", VQ_TRAIN + ["--config.train.steps=0"], "train.steps", None),
    ("steps-negative", VQ_TRAIN + ["--config.train.steps=-5"], "train.steps", None),
    ("log-every-0", VQ_TRAIN + ["--config.train.log_every=0"], "train.log_every", None),
    ("checkpoint-every-0", VQ_TRAIN + ["--config.train.checkpoint_every=0"],
     "train.checkpoint_every", None),
    ("window-63", VQ_TRAIN + ["--config.data.window=63"], "data.window", None),
    ("lr-inf", VQ_TRAIN + ["--config.train.learning_rate=1e400"], "train.learning_rate", None),
    ("lr-negative", VQ_TRAIN + ["--config.train.learning_rate=-0.1"], "train.learning_rate",
     None),
    ("bool-for-int", VQ_TRAIN + ["--config.train.batch_size=True"], "train.batch_size", None),
    ("float-for-int", VQ_TRAIN + ["--config.train.steps=1.5"], "train.steps", None),
    ("unknown-key", VQ_TRAIN + ["--config.train.stepz=3"], "did you mean", None),
    ("width-0", VQ_TRAIN + ["--config.model.width=0"], "model.width", None),
    ("ema-1.5", VQ_TRAIN + ["--config.model.ema_decay=1.5"], "model.ema_decay", None),
    ("missing-config", ["train-vqvae", "--config", "{out}.py", "--workdir", "{out}",
                        "--data", "{data}"], "does not exist", None),
    ("unknown-variant", ["train-vqvae", "--config", "configs/vqvae.py:huge", "--workdir", "{out}",
                         "--data", "{data}"], "huge", None),
    ("vqvae-missing-data", ["train-vqvae", "--workdir", "{out}", "--data", "{out}2"],
     "not a directory", None),
    ("evaluator-batch-1", ["train-evaluator", "--workdir", "{out}", "--data", "{data}",
                           "--config.train.batch_size=1"], "train.batch_size", None),
    ("lm-warmup-negative", LM_TRAIN + ["--config.train.warmup_steps=-1"], "warmup_steps", None),
    ("lm-missing-tokens", LM_TRAIN + ["--tokens", "{out}2"], "tokens folder", None),
    ("lm-bad-preset", LM_TRAIN + ["--config.model.preset=huge"], "huge", None),
    ("demo-steps-0", ["demo", "--quick", "--workdir", "{out}", "--config.steps.vqvae=0"],
     "steps.vqvae", None),
    # tokenize, reconstruct
    ("tokenize-missing-vqvae", ["tokenize", "--vqvae", "{out}2", "--data", "{data}",
                                "--out", "{out}"], "config.json", None),
    ("tokenize-no-checkpoints", ["tokenize", "--vqvae", "{empty_run}", "--data", "{data}",
                                 "--out", "{out}"], "no checkpoints", None),
    ("reconstruct-missing-vqvae", ["reconstruct", "--vqvae", "{out}2", "--data", "{data}",
                                   "--out", "{out}"], "config.json", None),
    # generate and friends
    ("temperature-negative", GEN + ["--temperature", "-1"], "--temperature", None),
    ("temperature-nan", GEN + ["--temperature", "nan"], "--temperature", None),
    ("temperature-inf", GEN + ["--temperature", "inf"], "--temperature", None),
    ("top-k-negative", GEN + ["--top-k", "-1"], "--top-k", None),
    ("n-0", GEN + ["-n", "0"], "-n", None),
    ("n-huge", GEN + ["-n", "100000"], "-n", None),
    ("frames-0", GEN + ["--frames", "0"], "--frames", None),
    ("frames-huge", GEN + ["--frames", "100000"], "--frames", None),
    ("seconds-negative", GEN + ["--seconds", "-1"], "--seconds", None),
    ("empty-prompt", ["generate", "  ", "--workdir", "{lm}", "--out", "{out}.npy"], "empty",
     None),
    ("non-ascii-prompt", ["generate", "une personne marche é", "--workdir", "{lm}",
                          "--out", "{out}.npy"], "ASCII", None),
    ("out-txt", ["generate", "walk", "--workdir", "{lm}", "--out", "{out}.txt"], "--out", None),
    ("out-under-a-file", ["generate", "walk", "--workdir", "{lm}", "--out", "{file}/x.npy"],
     "x.npy", None),
    ("generate-missing-run", ["generate", "walk", "--workdir", "{out}2", "--out", "{out}.npy"],
     "t5_config.json", None),
    ("caption-empty-npy", ["caption", "{empty}", "--workdir", "{lm}"], "npy", None),
    ("caption-wrong-shape", ["caption", "{narrow}", "--workdir", "{lm}"], "expected", None),
    ("caption-nan", ["caption", "{nan}", "--workdir", "{lm}"], "NaN", None),
    ("caption-two-frames", ["caption", "{short}", "--workdir", "{lm}"], "shorter", None),
    ("chat-empty", ["chat", "", "--workdir", "{lm}"], "empty", None),
    ("chat-motion-missing", ["chat", "describe <motion>", "--workdir", "{lm}"], "--motion", None),
    ("inbetween-too-short", ["inbetween", "{eight}", "--workdir", "{lm}", "--out", "{out}.npy"],
     "16 frames", None),
    ("predict-out-txt", ["predict", "{npy}", "--workdir", "{lm}", "--out", "{out}.txt"], "--out",
     None),
    # evaluation
    ("eval-temperature", ["eval", "--workdir", "{lm}", "--evaluator", "{out}2",
                          "--temperature", "-1", "--out", "{out}"], "--temperature", None),
    ("eval-unknown-task", ["eval", "--workdir", "{lm}", "--evaluator", "{out}2", "--tasks", "x",
                           "--out", "{out}"], "unknown", None),
    ("eval-replications-0", ["eval", "--workdir", "{lm}", "--evaluator", "{out}2",
                             "--replications", "0", "--out", "{out}"], "replications", None),
    ("eval-missing-evaluator", ["eval", "--workdir", "{lm}", "--evaluator", "{out}2",
                                "--out", "{out}"], "evaluator.json", None),
    ("convert-missing", ["convert-evaluator", "--checkpoint", "{out}.tar", "--glove", "{out}2",
                         "--meta", "{out}2", "--data", "{data}", "--out", "{out}"], "tar",
     None),
]


@pytest.fixture(scope="module")
def files(tiny_project, tmp_path_factory):
  root = tmp_path_factory.mktemp("hostile_files")
  paths = {"data": str(tiny_project / "data"), "vq": str(tiny_project / "runs" / "vq"),
           "lm": str(tiny_project / "runs" / "lm")}
  features = np.load(os.path.join(paths["data"], "new_joint_vecs",
                                  sorted(os.listdir(os.path.join(paths["data"],
                                                                 "new_joint_vecs")))[0]))
  for name, value in (("npy", features), ("narrow", features[:, :5]),
                      ("nan", np.full_like(features, np.nan)), ("short", features[:2]),
                      ("eight", features[:8])):
    paths[name] = str(root / f"{name}.npy")
    np.save(paths[name], value)
  paths["empty"] = str(root / "empty.npy")
  open(paths["empty"], "wb").close()
  paths["pickle"] = str(root / "pickle.npy")
  np.save(paths["pickle"], np.array([{"a": 1}], dtype=object), allow_pickle=True)
  paths["file"] = str(root / "plain.txt")
  with open(paths["file"], "w") as f:
    f.write("text\n")
  paths["empty_run"] = str(root / "empty_run")
  os.makedirs(paths["empty_run"])
  with open(os.path.join(paths["vq"], "config.json")) as f:
    config = json.load(f)
  with open(os.path.join(paths["empty_run"], "config.json"), "w") as f:
    json.dump(config, f)
  return paths


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, files, tmp_path, capsys):
  name, argv, words, breaks = case
  values = dict(files, out=str(tmp_path / "out"))
  if breaks is not None:
    values["bad"] = str(tmp_path / "bad")
    shutil.copytree(files["data"], values["bad"], ignore=shutil.ignore_patterns("tokens"))
    breaks(values["bad"])
  before = sorted(os.listdir(tmp_path))
  code = cli.main([a.format(**values) for a in argv])
  err = capsys.readouterr().err.strip()
  assert code == 2, (name, code, err)
  assert err.startswith("motiongpt: error:") and len(err.splitlines()) == 1, err
  assert words in err, (words, err)
  assert sorted(os.listdir(tmp_path)) == before, "something was written"


def test_at_least_sixty_cases():
  assert len(CASES) >= 60
