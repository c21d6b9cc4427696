import os

# Eight simulated CPU devices for the sharding tests; set before anything imports jax.
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

HERE = os.path.dirname(__file__)
SAMPLE_DIR = os.path.join(HERE, "data", "humanml3d_sample")


@pytest.fixture(scope="session")
def sample_dir():
  return SAMPLE_DIR


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory):
  """A small procedural data set, made once per test process."""
  from motiongpt_jax.data.synth import generator
  out = str(tmp_path_factory.mktemp("synth"))
  generator.synthesize(out, num=80, seed=3, workers=1)
  return out


@pytest.fixture(scope="session")
def token_data(synth_dir, tmp_path_factory):
  """The synthetic data set with random motion tokens and a text vocabulary: what the SeqIO
  tasks and the language model read, without training a VQ-VAE first."""
  import json
  from motiongpt_jax import vocab
  from motiongpt_jax.data import humanml3d
  from tasks.instructions import template_sentences
  root = tmp_path_factory.mktemp("token_data")
  tokens = root / "tokens"
  tokens.mkdir()
  rng = np.random.default_rng(0)
  names = [n for s in ("train", "val", "test") for n in humanml3d.read_split_names(synth_dir, s)]
  for name in names:
    frames = len(np.load(os.path.join(synth_dir, "new_joint_vecs", name + ".npy")))
    np.save(tokens / f"{name}.npy", rng.integers(0, 512, (2, frames // 4)).astype(np.int16))
  (tokens / "tokens.json").write_text(json.dumps(
      {"format": "motiongpt-tokens-v1", "num_codes": 512, "frames_per_token": 4,
       "rows": ["original", "mirrored"], "count": len(names)}))
  captions = [c.text for n in humanml3d.read_split_names(synth_dir, "train")
              for c in humanml3d.read_captions(os.path.join(synth_dir, "texts", n + ".txt"))]
  spm = vocab.train_sentencepiece(captions + template_sentences(), str(root / "spiece"), 600)
  return dict(data=synth_dir, tokens=str(tokens), spm=spm)


def family_motion(name, params, seed=0):
  """World joints [T, 22, 3] and the anchor foot per frame of one action."""
  from motiongpt_jax.data.synth import actions
  from motiongpt_jax.data.synth.generator import animate
  rng = np.random.default_rng(seed)
  clip = actions.FAMILIES[name].build(params, rng)
  return animate(clip, rng)


from motiongpt_jax.vqvae import smoke as _tiny_vq  # noqa: E402  (imports nothing)

TINY_VQ = list(_tiny_vq.OVERRIDES)
TINY_LM = ["--config.train.steps=3", "--config.train.batch_size=8",
           "--config.data.inputs_length=96", "--config.data.targets_length=48",
           "--config.train.eval_every=0"]


@pytest.fixture(scope="session")
def tiny_project(synth_dir, tmp_path_factory):
  """ROOT/data (a data folder with tokens and vocabulary) and ROOT/runs/{vq,lm}: a whole
  (tiny, briefly trained) pipeline made by the library with a silent reporter."""
  import shutil
  from motiongpt_jax import pipeline
  root = tmp_path_factory.mktemp("project") / "here"
  data = str(root / "data")
  shutil.copytree(synth_dir, data)
  vq, lm = str(root / "runs" / "vq"), str(root / "runs" / "lm")
  report = pipeline.silent()
  result = pipeline.train_vqvae(data, vq, "configs/vqvae.py:tiny", TINY_VQ, report=report)
  assert result.step == 4 and not result.preempted
  meta = pipeline.tokenize(vq, data, os.path.join(data, "tokens"), report=report)
  assert meta["count"] > 0 and meta["vqvae_step"] == 4
  vocab = pipeline.train_vocabulary(data, os.path.join(data, "spiece.model"), 500,
                                    report=report)
  assert os.path.exists(vocab.path) and vocab.vocab_size > 515
  pipeline.train_lm(data, lm, "configs/t5_instruct.py:tiny", TINY_LM, report=report)
  assert any("training 3 steps" in line for line in report.lines)
  return root
