"""Joining a multi-process JAX run (several hosts of a TPU pod, or processes on one machine).

``initialize()`` is called once by the ``motiongpt`` command before anything touches a
device. It does nothing for a single process. Two ways in:
- ``MOTIONGPT_DISTRIBUTED=auto`` (what run_tpu.sh sets on every TPU VM worker):
  ``jax.distributed.initialize()`` finds the coordinator and the process ids itself;
- explicit: ``--coordinator HOST:PORT --num-processes N --process-id I`` (or the variables
  MOTIONGPT_COORDINATOR / MOTIONGPT_NUM_PROCESSES / MOTIONGPT_PROCESS_ID), e.g. for GPU
  hosts or for the loopback tests. On CPU the collectives go through gloo.
"""

from __future__ import annotations

import os

import jax


class DistributedError(ValueError):
  pass


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> bool:
  """Joins the run described by the arguments or the environment; True if it did."""
  env = os.environ
  coordinator = coordinator or env.get("MOTIONGPT_COORDINATOR")
  if num_processes is None and env.get("MOTIONGPT_NUM_PROCESSES"):
    num_processes = int(env["MOTIONGPT_NUM_PROCESSES"])
  if process_id is None and env.get("MOTIONGPT_PROCESS_ID"):
    process_id = int(env["MOTIONGPT_PROCESS_ID"])
  if coordinator:
    if num_processes is None or process_id is None:
      raise DistributedError("--coordinator needs --num-processes and --process-id")
    if not 0 <= process_id < num_processes:
      raise DistributedError(f"--process-id {process_id} is not in [0, {num_processes})")
    if num_processes == 1:
      return False
    # Only CPU devices use this setting; TPU and GPU collectives are unaffected.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator, num_processes, process_id)
    return True
  if env.get("MOTIONGPT_DISTRIBUTED") == "auto":
    jax.distributed.initialize()
    return True
  return False
