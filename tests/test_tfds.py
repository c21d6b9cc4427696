"""The TFDS builder gives the same examples as the reader."""

import numpy as np

from motiongpt_jax.data import humanml3d


def test_tfds_builder_matches_reader(synth_dir, tmp_path):
  import tensorflow_datasets as tfds
  from motiongpt_jax.data import tfds_builder
  builder = tfds_builder.prepare(synth_dir, str(tmp_path / "tfds"))
  for tfds_split, split in (("train", "train"), ("validation", "val"), ("test", "test")):
    expected = {s.name: s for s in humanml3d.read_split(synth_dir, split)}
    got = {ex["name"].decode(): ex for ex in tfds.as_numpy(builder.as_dataset(split=tfds_split))}
    assert set(got) == set(expected)
    for name, ex in list(got.items())[:10]:
      np.testing.assert_array_equal(ex["motion"], expected[name].motion)
      assert ex["length"] == expected[name].length
      assert [c.decode() for c in ex["captions"]] == [c.text for c in expected[name].captions]
