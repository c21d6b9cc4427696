"""The registered SeqIO tasks and mixtures: sizes and decoded examples (``motiongpt tasks``)."""

from __future__ import annotations

import dataclasses

import seqio

import tasks
from motiongpt_jax.pipeline.lm import data_paths
from tasks import pretraining

SPLITS = ("train", "validation", "test")


@dataclasses.dataclass
class Entry:
  name: str
  sizes: tuple[int, int, int]          # examples per epoch of train, validation, test
  rates: dict | None = None            # a mixture's task rates


def register(data: str, tokens: str | None = None, spm: str | None = None) -> None:
  """Registers every motiongpt_* task and mixture for these paths (explicitly, not through
  the environment)."""
  tasks.register(*data_paths(data, tokens, spm))


def catalog(data: str, tokens: str | None = None, spm: str | None = None) -> list[Entry]:
  """Every motiongpt_* task, then every mixture, with sizes per split."""
  register(data, tokens, spm)
  entries = []
  for name in sorted(n for n in seqio.TaskRegistry.names() if n.startswith("motiongpt_")):
    entries.append(Entry(name, tuple(pretraining.task_size(name, s) for s in SPLITS)))
  for name in sorted(n for n in seqio.MixtureRegistry.names() if n.startswith("motiongpt_")):
    mixture = seqio.get_mixture_or_task(name)
    sizes = tuple(sum(pretraining.task_size(t.name, s) for t in mixture.tasks) for s in SPLITS)
    entries.append(Entry(name, sizes, {t.name: mixture.get_rate(t) for t in mixture.tasks}))
  return entries


def examples(name: str, data: str, tokens: str | None = None, spm: str | None = None,
             n: int = 3, split: str = "validation", seed: int | None = None
             ) -> list[tuple[str, str, int, int]]:
  """(inputs text, targets text, inputs ids, targets ids) of the first ``n`` examples of a
  task or mixture (shuffled with ``seed`` if given)."""
  if n < 1:
    raise ValueError(f"-n {n}: expected at least 1 example")
  register(data, tokens, spm)
  try:
    task = seqio.get_mixture_or_task(name)
  except ValueError:
    names = sorted(t for t in seqio.TaskRegistry.names() if t.startswith("motiongpt_"))
    raise ValueError(f"no task or mixture {name!r}; registered: {', '.join(names)}") from None
  ds = task.get_dataset({"inputs": 512, "targets": 512}, split=split,
                        shuffle=seed is not None, seed=seed)
  vocab = task.output_features["targets"].vocabulary
  out = []
  for ex in ds.take(n):
    inputs, targets = ex["inputs"].numpy().tolist(), ex["targets"].numpy().tolist()
    out.append((vocab.decode(inputs), vocab.decode(targets), len(inputs), len(targets)))
  return out
