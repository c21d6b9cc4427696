"""The ``motiongpt`` command's entry point: large allocations on transparent huge pages.

XLA:CPU allocates an executable's temporary buffers afresh on every run: 443 MiB for the tiny
T5 training step (``compile().memory_analysis().temp_size_in_bytes``). glibc serves blocks
that large with ``mmap`` and returns them with ``munmap``, so every step faults the whole
arena in again 4 KiB at a time: 113,400 minor page faults per step, measured with
``getrusage``. With the glibc tunable ``glibc.malloc.hugetlb=1`` (glibc >= 2.35; older ones
ignore it) malloc asks for transparent huge pages on those blocks (``madvise``), and the step
takes about 620 faults (2 MiB pages). docs/performance.md has the measurements.

glibc reads tunables only when a process starts, so the command re-executes itself once with
the setting added to ``GLIBC_TUNABLES``. ``MOTIONGPT_MALLOC=keep`` leaves the process as it
is. In a notebook or another program, export the variable before starting Python.
"""

from __future__ import annotations

import os
import sys

TUNABLE = "glibc.malloc.hugetlb=1"


def tuned_environ(environ=None) -> dict:
  """A copy of ``environ`` (default ``os.environ``) with the tunable in ``GLIBC_TUNABLES``."""
  env = dict(os.environ if environ is None else environ)
  tunables = env.get("GLIBC_TUNABLES", "")
  if "glibc.malloc.hugetlb" not in tunables:
    env["GLIBC_TUNABLES"] = f"{tunables}:{TUNABLE}" if tunables else TUNABLE
  return env


def main() -> None:
  if (sys.platform.startswith("linux") and os.environ.get("MOTIONGPT_MALLOC") != "keep"
      and "glibc.malloc.hugetlb" not in os.environ.get("GLIBC_TUNABLES", "")):
    env = tuned_environ()
    env["MOTIONGPT_MALLOC"] = "keep"  # once
    os.execve(sys.executable, [sys.executable, "-m", "motiongpt_jax.cli", *sys.argv[1:]], env)
  from motiongpt_jax import cli
  sys.exit(cli.main())
