"""The library under the ``motiongpt`` command: one plain function per stage.

Each takes typed arguments (a config as a ConfigDict or a ``file.py[:variant]`` spec, paths)
and returns a result; progress goes through a ``Reporter`` (printing by default,
``silent()`` for quiet). A notebook runs the whole pipeline like this::

  from motiongpt_jax import pipeline
  from motiongpt_jax.data.synth import generator
  generator.synthesize("data/synth", 2000, seed=0)
  pipeline.train_vqvae("data/synth", "runs/vq")
  pipeline.tokenize("runs/vq", "data/synth", "data/synth/tokens")
  pipeline.train_vocabulary("data/synth", "data/synth/spiece.model")
  pipeline.train_lm("data/synth", "runs/pre", "configs/t5_pretrain.py:tiny")
  pipeline.train_lm("data/synth", "runs/inst", "configs/t5_instruct.py:tiny",
                    ["--config.init_from=runs/pre"])
  pipeline.train_evaluator("data/synth", "runs/evaluator")
  tables = pipeline.evaluate_run("runs/inst", "runs/evaluator")
  pipeline.import_motiongpt("motiongpt_s3_h3d.tar", "flan-t5-base", "assets/meta", "runs/mgpt")
  pipeline.export_t5("runs/inst", "export/hf", "hf")
"""

from motiongpt_jax.pipeline.catalog import catalog, examples
from motiongpt_jax.pipeline.demo import DemoResult, demo_targets, run_demo
from motiongpt_jax.pipeline.evaluate import evaluate_run
from motiongpt_jax.pipeline.evaluator import convert_evaluator, train_evaluator
from motiongpt_jax.pipeline.export import export_t5
from motiongpt_jax.pipeline.released import import_motiongpt
from motiongpt_jax.pipeline.lm import train_lm
from motiongpt_jax.pipeline.report import Reporter, silent
from motiongpt_jax.pipeline.vocabulary import VocabularyResult, train_vocabulary
from motiongpt_jax.pipeline.vqvae import reconstruct, tokenize, train_vqvae

__all__ = ["Reporter", "silent", "train_vqvae", "reconstruct", "tokenize", "train_vocabulary",
           "VocabularyResult", "train_lm", "train_evaluator", "convert_evaluator",
           "evaluate_run", "import_motiongpt", "export_t5", "run_demo", "demo_targets", "DemoResult", "catalog", "examples"]
