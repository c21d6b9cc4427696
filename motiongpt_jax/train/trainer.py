"""One training loop for every model of the project (VQ-VAE now, the language model later).

A model plugs in as a ``TrainTask``: how to initialise parameters and non-gradient state,
its loss, and the batch for a given step. The loop owns everything else: the mesh and
shardings, the optimizer (AdamW, warm-up + cosine, global-norm clipping), the jitted step,
Orbax checkpoints with resume, SIGTERM handling, progress and metrics.

Exact resume: the batch of step ``s`` and the random key of step ``s`` are pure functions of
(seed, s), and the checkpoint holds parameters, optimizer state, non-gradient state and the
step. A run killed at any point and restarted therefore repeats the steps after its last
checkpoint with the same inputs and ends with the same parameters (bit-exact on CPU).
"""

from __future__ import annotations

import dataclasses
import math
import signal
import time
from typing import Any, Callable, Protocol

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from motiongpt_jax import partitioning
from motiongpt_jax.train.checkpoints import Checkpointer, abstract_like
from motiongpt_jax.train.metrics import MetricWriter


@flax.struct.dataclass
class TrainState:
  step: jnp.ndarray
  params: Any
  opt_state: Any
  extra: Any  # state updated outside the gradient (e.g. the VQ codebook), or {}

  def as_dict(self):
    return {"step": self.step, "params": self.params, "opt_state": self.opt_state,
            "extra": self.extra}


class TrainTask(Protocol):
  """What a model supplies to the trainer."""

  def init(self, key: jax.Array) -> tuple[Any, Any]:
    """(params, extra state)."""

  def loss_fn(self, params, extra, batch: dict, key: jax.Array):
    """-> (loss, (new_extra, metrics dict of scalars))."""

  def batch(self, step: int) -> dict:
    """The global batch of ``step`` as numpy arrays; a pure function of the step."""

  def param_shardings(self, mesh, abstract_params):
    """Sharding of each parameter (None: replicate everything)."""

  def evaluate(self, params, extra) -> dict:
    """Host-side evaluation scalars (may be empty)."""


def make_optimizer(tc) -> tuple[optax.GradientTransformation, Callable]:
  """AdamW with linear warm-up and cosine decay to ``final_lr_fraction``, after
  global-norm clipping."""
  schedule = optax.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=tc.learning_rate, warmup_steps=max(tc.warmup_steps, 1),
      decay_steps=max(tc.steps, tc.warmup_steps + 1),
      end_value=tc.learning_rate * tc.final_lr_fraction)
  chain = []
  if tc.grad_clip and tc.grad_clip > 0:
    chain.append(optax.clip_by_global_norm(tc.grad_clip))
  chain.append(optax.adamw(schedule, b1=tc.b1, b2=tc.b2, weight_decay=tc.weight_decay))
  return optax.chain(*chain), schedule


def restore_run(workdir: str, tc, abstract_params, abstract_extra=None, step=None):
  """(step, params, extra) of a training run's checkpoint (the latest by default).

  The optimizer state is rebuilt from the run's train config ``tc`` only to give Orbax the
  tree to restore into; it is not returned.
  """
  optimizer, _ = make_optimizer(tc)
  checkpointer = Checkpointer(workdir, read_only=True)
  step = checkpointer.latest_step() if step is None else step
  if step is None:
    raise FileNotFoundError(f"{workdir} has no checkpoints")
  restored = checkpointer.restore(step, {
      "step": jax.ShapeDtypeStruct((), jnp.int32), "params": abstract_params,
      "opt_state": jax.eval_shape(optimizer.init, abstract_params),
      "extra": {} if abstract_extra is None else abstract_extra})
  checkpointer.close()
  return step, restored["params"], restored["extra"]


def make_state_shardings(task: TrainTask, optimizer, mesh, abstract: "TrainState"):
  """Shardings of the train state: the task's for parameters (or replicated), optimizer
  moments following their parameter, scalars and extra state replicated."""
  param_shardings = task.param_shardings(mesh, abstract.params)
  if param_shardings is None:
    return jax.tree_util.tree_map(lambda _: partitioning.replicated(mesh), abstract)
  opt_shardings = optax.tree_map_params(
      optimizer, lambda _, s: s, abstract.opt_state, param_shardings,
      transform_non_params=lambda _: partitioning.replicated(mesh))
  return TrainState(
      partitioning.replicated(mesh), param_shardings, opt_shardings,
      jax.tree_util.tree_map(lambda _: partitioning.replicated(mesh), abstract.extra))


def step_key(seed: int, step) -> jax.Array:
  return jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), 1), step)


def make_train_step(task: TrainTask, optimizer: optax.GradientTransformation):
  def train_step(state: TrainState, batch: dict, key: jax.Array):
    grad_fn = jax.value_and_grad(task.loss_fn, has_aux=True)
    (loss, (extra, metrics)), grads = grad_fn(state.params, state.extra, batch, key)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = dict(metrics, grad_norm=optax.global_norm(grads))
    return TrainState(state.step + 1, params, opt_state, extra), metrics
  return train_step


@dataclasses.dataclass
class TrainResult:
  state: TrainState
  step: int
  preempted: bool
  resumed_from: int | None
  seconds: float
  last_metrics: dict


class _SigtermFlag:
  """Turns SIGTERM (TPU pre-emption, ``kill``) into a flag the loop checks each step."""

  def __init__(self):
    self.raised = False
    self._previous = None

  def __enter__(self):
    try:
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    except ValueError:  # not the main thread: leave signals alone
      self._previous = None
    return self

  def _handle(self, signum, frame):
    self.raised = True

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


def _format_eta(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  seconds = int(seconds)
  return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else \
      f"{seconds // 60}m{seconds % 60:02d}s"


def _print(line: str) -> None:
  print(line, flush=True)


def train(task: TrainTask, tc, workdir: str, mesh=None, log: Callable[[str], None] = _print,
          stop_after: int | None = None) -> TrainResult:
  """Trains ``task`` for ``tc.steps`` steps, resuming from ``workdir`` if it has checkpoints.

  ``stop_after`` ends this call after that many steps without saving (tests use it to
  simulate a hard kill).
  """
  start_time = time.time()
  mesh = mesh or partitioning.make_mesh(tc.get("mesh_model", 1))
  partitioning.check_batch(mesh, tc.batch_size)
  optimizer, schedule = make_optimizer(tc)

  def init_state(key):
    params, extra = task.init(key)
    return TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params), extra)

  init_key = jax.random.fold_in(jax.random.PRNGKey(tc.seed), 0)
  abstract = jax.eval_shape(init_state, init_key)
  state_shardings = make_state_shardings(task, optimizer, mesh, abstract)

  checkpointer = Checkpointer(workdir, keep=tc.keep_checkpoints)
  resumed_from = checkpointer.latest_step()
  if resumed_from is not None:
    target = abstract_like(abstract.as_dict(), state_shardings.as_dict())
    restored = checkpointer.restore(resumed_from, target)
    state = TrainState(**restored)
    log(f"resumed from {checkpointer.directory} at step {resumed_from}")
  else:
    with mesh, partitioning.axis_rules():
      state = jax.jit(init_state, out_shardings=state_shardings)(init_key)
  start_step = int(state.step)

  train_step = jax.jit(make_train_step(task, optimizer),
                       in_shardings=(state_shardings, partitioning.batch_sharding(mesh),
                                     partitioning.replicated(mesh)),
                       out_shardings=(state_shardings, partitioning.replicated(mesh)),
                       donate_argnums=(0,))

  writer = MetricWriter(workdir, resume_step=start_step)
  pending, last_metrics = [], {}
  window_start, window_steps, paused = None, 0, 0.0  # paused: eval and checkpoint time
  preempted = False
  step = start_step
  log(f"training {tc.steps} steps from step {start_step} on {mesh.devices.size} device(s), "
      f"mesh {dict(mesh.shape)}, batch {tc.batch_size}")
  with _SigtermFlag() as sigterm, mesh, partitioning.axis_rules():
    while step < tc.steps:
      if stop_after is not None and step - start_step >= stop_after:
        break
      batch = partitioning.shard_batch(mesh, task.batch(step), tc.batch_size)
      state, metrics = train_step(state, batch, step_key(tc.seed, step))
      step += 1
      pending.append(metrics)
      if window_start is None:  # time from the end of the first (compiling) step
        jax.block_until_ready(metrics)
        window_start, window_steps = time.time(), 0
      else:
        window_steps += 1
      if step % tc.log_every == 0 or step == tc.steps:
        host = jax.device_get(pending)
        last_metrics = {k: float(np.mean([m[k] for m in host])) for k in host[0]}
        last_metrics["learning_rate"] = float(schedule(step - 1))
        elapsed = time.time() - window_start - paused
        rate = window_steps / elapsed if elapsed > 0 and window_steps else float("nan")
        last_metrics["steps_per_second"] = rate
        writer.write(step, last_metrics)
        eta = (tc.steps - step) / rate if rate == rate and rate > 0 else float("nan")
        shown = " ".join(f"{k} {v:.4g}" for k, v in last_metrics.items()
                         if k not in ("learning_rate", "steps_per_second"))
        log(f"step {step}/{tc.steps} {shown} | {rate:.2f} steps/s, "
            f"{rate * tc.batch_size:.0f} samples/s, ETA {_format_eta(eta)}")
        pending = []
      pause_start = time.time()
      if tc.get("eval_every") and (step % tc.eval_every == 0 or step == tc.steps):
        scores = task.evaluate(state.params, state.extra)
        if scores:
          writer.write(step, {f"eval/{k}": v for k, v in scores.items()})
          log(f"eval at step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in scores.items()))
      if step % tc.checkpoint_every == 0 or step == tc.steps:
        checkpointer.save(step, state.as_dict())
      paused += time.time() - pause_start
      if sigterm.raised:
        if checkpointer.latest_step() != step:
          checkpointer.save(step, state.as_dict())
        log(f"SIGTERM: saved a checkpoint at step {step} and stopped; run the same command "
            f"again to resume")
        preempted = True
        break
  writer.close()
  checkpointer.close()
  return TrainResult(state, step, preempted, resumed_from, time.time() - start_time,
                     last_metrics)
