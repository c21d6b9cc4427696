"""One reporter for the progress of every stage: the CLI prints it, a notebook may keep it.

Stages never print; they call ``report.log(line)`` for a line of progress and
``report.progress(label)`` for a throttled ``done/total`` counter with rate and ETA.
"""

from __future__ import annotations

import time
from typing import Callable


def _print(line: str) -> None:
  print(line, flush=True)


class Reporter:
  """Lines go to ``write`` (``print`` by default); ``lines`` keeps them when ``keep``."""

  def __init__(self, write: Callable[[str], None] | None = _print, keep: bool = False,
               interval: float = 2.0):
    self.write = write
    self.lines: list[str] = [] if keep else None
    self.interval = interval

  def log(self, line: str) -> None:
    if self.lines is not None:
      self.lines.append(line)
    if self.write is not None:
      self.write(line)

  def progress(self, label: str) -> Callable[[int, int], None]:
    """A ``(done, total)`` callback that logs at most every ``interval`` seconds."""
    start, last = time.time(), [0.0]

    def show(done: int, total: int) -> None:
      if done < total and time.time() - last[0] < self.interval:
        return
      last[0] = time.time()
      rate = done / max(time.time() - start, 1e-9)
      eta = (total - done) / max(rate, 1e-9)
      self.log(f"{label}: {done}/{total} ({rate:.0f}/s, ETA {eta:.0f}s)")

    return show


def silent() -> Reporter:
  """A reporter that keeps its lines and prints nothing (tests, notebooks)."""
  return Reporter(write=None, keep=True)
