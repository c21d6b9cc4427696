"""Tokenizing with a run that carries its own statistics (an imported MotionGPT's
``data.stats``) normalises with those, not with the data folder's Mean/Std."""

import os
import shutil

import numpy as np
import pytest

from motiongpt_jax import pipeline, runs
from motiongpt_jax.data import humanml3d
from motiongpt_jax.vqvae import smoke, token_files

pytestmark = pytest.mark.xdist_group("token_stats")


@pytest.fixture(scope="module")
def runs_and_data(synth_dir, tmp_path_factory):
  """A tiny VQ-VAE run, the same run with its own statistics (``data.stats``, as
  ``pipeline/released.py`` writes an imported one), and a copy of the data folder whose
  Mean/Std are those statistics."""
  root = tmp_path_factory.mktemp("token_stats")
  plain, imported = str(root / "vq"), str(root / "vq_imported")
  pipeline.train_vqvae(synth_dir, plain, smoke.CONFIG, list(smoke.OVERRIDES),
                       report=pipeline.silent())
  shutil.copytree(plain, imported)
  spec = humanml3d.SPECS["humanml3d"]
  mean, std = humanml3d.load_mean_std(synth_dir, spec)
  stats = root / "meta"
  stats.mkdir()
  np.save(stats / "mean.npy", (mean + 0.25).astype(np.float32))
  np.save(stats / "std.npy", (std * 1.5).astype(np.float32))
  config = runs.read_config(imported)
  with config.unlocked():
    config.data.stats = str(stats)
  runs.write_config(imported, config)
  data_with_stats = str(root / "data_with_stats")
  shutil.copytree(synth_dir, data_with_stats)
  shutil.copy(stats / "mean.npy", os.path.join(data_with_stats, "Mean.npy"))
  shutil.copy(stats / "std.npy", os.path.join(data_with_stats, "Std.npy"))
  return plain, imported, data_with_stats


def _tokens(folder):
  names = sorted(f[:-4] for f in os.listdir(folder) if f.endswith(".npy"))
  return {n: token_files.read_token_rows(folder, n) for n in names}


def test_tokenize_uses_the_runs_own_statistics(runs_and_data, synth_dir, tmp_path):
  plain, imported, data_with_stats = runs_and_data
  silent = pipeline.silent()
  pipeline.tokenize(imported, synth_dir, str(tmp_path / "imported"), report=silent)
  pipeline.tokenize(plain, data_with_stats, str(tmp_path / "expected"), report=silent)
  pipeline.tokenize(plain, synth_dir, str(tmp_path / "folder_stats"), report=silent)
  got, expected = _tokens(str(tmp_path / "imported")), _tokens(str(tmp_path / "expected"))
  folder_stats = _tokens(str(tmp_path / "folder_stats"))
  assert got.keys() == expected.keys() == folder_stats.keys() and got
  for name in got:
    np.testing.assert_array_equal(got[name], expected[name])
  # The statistics matter: with the folder's Mean/Std the codes are not the same.
  assert any(not np.array_equal(got[n], folder_stats[n]) for n in got)


def test_reconstruct_uses_the_runs_own_statistics(runs_and_data, synth_dir, tmp_path):
  plain, imported, data_with_stats = runs_and_data
  silent = pipeline.silent()
  got = pipeline.reconstruct(imported, synth_dir, limit=4, gifs=0, report=silent)
  expected = pipeline.reconstruct(plain, data_with_stats, limit=4, gifs=0, report=silent)
  for key in ("mpjpe_mm", "mpjpe_global_mm", "perplexity", "codes_used"):
    assert got[key] == pytest.approx(expected[key], rel=1e-5), key


def test_normalisation_falls_back_to_the_folders_statistics(runs_and_data, synth_dir):
  from motiongpt_jax.vqvae.tokenizer import MotionTokenizer
  plain, imported, _ = runs_and_data
  spec = humanml3d.SPECS["humanml3d"]
  folder = humanml3d.load_mean_std(synth_dir, spec)
  for got, want in zip(token_files.normalisation(MotionTokenizer.load(plain), synth_dir, spec),
                       folder):
    np.testing.assert_array_equal(got, want)
  run_mean, _ = token_files.normalisation(MotionTokenizer.load(imported), synth_dir, spec)
  np.testing.assert_allclose(run_mean, folder[0] + 0.25, rtol=1e-6)
