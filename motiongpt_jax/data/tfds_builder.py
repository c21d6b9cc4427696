"""A TFDS builder for a HumanML3D or KIT-ML folder, so SeqIO tasks can read it.

The folder is the builder's manual directory (no download)::

    builder = tfds.builder("motiongpt_humanml3d/humanml3d", data_dir=DATA_DIR)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=FOLDER))

or simply ``prepare(FOLDER, DATA_DIR)``. Examples follow the reader's rules
(motiongpt_jax.data.humanml3d): one example per motion and per time-tagged caption span,
features normalised with the folder's Mean/Std, splits train / validation / test. A folder
with HumanML3D's mirror images (``M`` files, ``motiongpt data synth --mirror``) gives them as
examples of their own, named ``M<name>``, as the reader does.
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from motiongpt_jax.data import humanml3d

_SPLIT_FILES = {"train": "train", "validation": "val", "test": "test"}


class MotiongptHumanml3d(tfds.core.GeneratorBasedBuilder):
  """HumanML3D-format motion/caption pairs from a local folder."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Features, captions and POS tokens per motion or caption span."}
  BUILDER_CONFIGS = [
      tfds.core.BuilderConfig(name="humanml3d", description="22 joints, 263 features, 20 fps"),
      tfds.core.BuilderConfig(name="kit", description="21 joints, 251 features, 12.5 fps"),
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Point manual_dir at a HumanML3D-format folder (new_joint_vecs/, texts/, Mean.npy,
  Std.npy, train.txt, val.txt, test.txt): the real HumanML3D or KIT-ML, prepared with the
  HumanML3D scripts, or one made by `motiongpt data synth`.
  """

  def _info(self) -> tfds.core.DatasetInfo:
    dim = humanml3d.SPECS[self.builder_config.name].feature_dim
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "name": tfds.features.Text(),
            "motion": tfds.features.Tensor(shape=(None, dim), dtype=np.float32),
            "length": np.int32,
            "captions": tfds.features.Sequence(tfds.features.Text()),
            "tokens": tfds.features.Sequence(tfds.features.Text()),
        }),
        supervised_keys=None,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    folder = str(dl_manager.manual_dir)
    kind = humanml3d.detect_kind(folder)
    if kind != self.builder_config.name:
      raise humanml3d.DataError(
          f"{folder}: a {kind} folder, but the builder config is {self.builder_config.name!r}")
    return {split: self._generate_examples(folder, file_split)
            for split, file_split in _SPLIT_FILES.items()}

  def _generate_examples(self, folder: str, split: str):
    for sample in humanml3d.iter_samples(folder, split, self.builder_config.name):
      yield sample.name, {
          "name": sample.name,
          "motion": sample.motion.astype(np.float32),
          "length": sample.length,
          "captions": [c.text for c in sample.captions],
          "tokens": [" ".join(c.tokens) for c in sample.captions],
      }


def prepare(folder: str, data_dir: str, kind: str | None = None) -> tfds.core.DatasetBuilder:
  """Builds the TFDS data set of ``folder`` under ``data_dir`` and returns its builder."""
  kind = kind or humanml3d.detect_kind(folder)
  builder = MotiongptHumanml3d(config=kind, data_dir=data_dir)
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=folder))
  return builder
