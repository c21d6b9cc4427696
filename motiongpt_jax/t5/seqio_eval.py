"""Periodic evaluation with ``seqio.Evaluator``: decode the ``_eval`` tasks, score them with
the tasks' own postprocessors and metric functions (as T5X's infer/eval loop does).

The tasks are gathered in one mixture (``motiongpt_periodic_eval``); each contributes its
first ``num_examples`` validation examples. Predictions are greedy and unconstrained (T5X's
default), padded to a fixed length so seqio can stack them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import seqio

from motiongpt_jax.t5 import decoding

MIXTURE = "motiongpt_periodic_eval"


class PeriodicEvaluator:

  def __init__(self, model, task_names: list[str], inputs_length: int, targets_length: int,
               num_examples: int, batch_size: int = 32, eos_id: int = 1):
    seqio.MixtureRegistry.remove(MIXTURE)
    seqio.MixtureRegistry.add(MIXTURE, [(name, 1.0) for name in task_names])
    self.evaluator = seqio.Evaluator(
        MIXTURE, seqio.EncDecFeatureConverter(pack=False), eval_split="validation",
        sequence_length={"inputs": inputs_length, "targets": targets_length},
        num_examples=num_examples, shuffle=False, use_memory_cache=True,
        async_compute_metrics=False)
    self.model, self.targets_length = model, targets_length
    self.batch_size, self.eos_id = batch_size, eos_id

  def _predict_fn(self, params):
    def predict(dataset, model_feature_shapes=None):
      results = []
      for batch in dataset.batch(self.batch_size).as_numpy_iterator():
        indices, features = batch
        inputs = features["encoder_input_tokens"]
        rows = len(inputs)
        if rows < self.batch_size:  # one compiled shape
          inputs = np.concatenate([inputs, np.repeat(inputs[-1:], self.batch_size - rows, 0)])
        tokens, _ = decoding.sample(self.model, params, jnp.asarray(inputs),
                                    jax.random.PRNGKey(0),
                                    max_decode_length=self.targets_length, eos_id=self.eos_id)
        for index, row in zip(indices[:rows], np.asarray(tokens)[:rows]):
          results.append((int(index), row))
      return results
    return predict

  def __call__(self, params) -> dict:
    """{"<task>/<metric>": value} for every eval task and metric."""
    future, _ = self.evaluator.evaluate(compute_metrics=True,
                                        predict_fn=self._predict_fn(params))
    out = {}
    for task, values in future.result().items():
      short = task.removeprefix("motiongpt_instruct_").removeprefix("motiongpt_")
      for metric, value in values.items():
        value = getattr(value, "value", value)
        if np.ndim(value) == 0:
          out[f"{short}/{metric}"] = float(value)
    return out
