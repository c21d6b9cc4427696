"""Metrics out of a run: TensorBoard event files plus ``metrics.jsonl`` (one JSON per row).

Open with ``tensorboard --logdir WORKDIR``; the JSON lines are for scripts. After a resume
the rows past the restored step are dropped so the record reads like one uninterrupted run.
"""

from __future__ import annotations

import json
import os


def _import_tensorflow_quietly():
  """TensorFlow's C++ start-up prints CUDA probes and oneDNN notes straight to fd 2, which
  TF_CPP_MIN_LOG_LEVEL does not catch; silence fd 2 only while it loads."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  import sys
  if "tensorflow" in sys.modules:
    return sys.modules["tensorflow"]
  sys.stderr.flush()
  saved = os.dup(2)
  try:
    with open(os.devnull, "w") as devnull:
      os.dup2(devnull.fileno(), 2)
      import tensorflow as tf
  finally:
    os.dup2(saved, 2)
    os.close(saved)
  return tf


class MetricWriter:
  """metrics.jsonl and TensorBoard events; in a multi-process run only process 0 writes."""

  def __init__(self, workdir: str, resume_step: int = 0):
    import jax
    self.active = jax.process_index() == 0
    if not self.active:
      return
    os.makedirs(workdir, exist_ok=True)
    self.jsonl = os.path.join(workdir, "metrics.jsonl")
    self._truncate_after(resume_step)
    tf = _import_tensorflow_quietly()
    tf.config.set_visible_devices([], "GPU")  # TF must not take accelerator memory
    self._tf = tf
    self._writer = tf.summary.create_file_writer(os.path.join(workdir, "tensorboard"))

  def _truncate_after(self, step: int) -> None:
    if not os.path.exists(self.jsonl):
      return
    with open(self.jsonl) as f:
      rows = [line for line in f if line.strip() and json.loads(line)["step"] <= step]
    tmp = f"{self.jsonl}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
      f.writelines(rows)
    os.replace(tmp, self.jsonl)

  def write(self, step: int, scalars: dict) -> None:
    if not self.active:
      return
    scalars = {k: float(v) for k, v in scalars.items()}
    with open(self.jsonl, "a") as f:
      f.write(json.dumps({"step": step, **scalars}) + "\n")
    with self._writer.as_default():
      for name, value in scalars.items():
        self._tf.summary.scalar(name, value, step=step)
    self._writer.flush()

  def close(self) -> None:
    if self.active:
      self._writer.close()


def read_metrics(workdir: str) -> list[dict]:
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]
