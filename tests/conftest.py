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


def family_motion(name, params, seed=0):
  """World joints [T, 22, 3] and the anchor foot per frame of one action."""
  from motiongpt_jax.data.synth import actions
  from motiongpt_jax.data.synth.generator import animate
  rng = np.random.default_rng(seed)
  clip = actions.FAMILIES[name].build(params, rng)
  return animate(clip, rng)
