"""The smallest VQ-VAE worth training: a few steps of a narrow ``configs/vqvae.py:tiny``.

Its codes mean little; it exists so that the stages after the VQ-VAE (tokenizing, the
language model, the benchmarks of the data stages) can run in seconds. One definition,
used by the tests (``tests/conftest.py``) and ``bench/data_bench.py``. No imports, so
importing it costs nothing (and does not import JAX).
"""

CONFIG = "configs/vqvae.py:tiny"

# Overrides of CONFIG, in ``--config.key=value`` form.
OVERRIDES = ("--config.model.width=16", "--config.model.code_dim=8",
             "--config.train.steps=4", "--config.train.batch_size=8",
             "--config.data.window=32", "--config.train.eval_every=0")
