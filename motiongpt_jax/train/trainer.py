"""One training loop for every model of the project (VQ-VAE now, the language model later).

A model plugs in as a ``TrainTask``: how to initialise parameters and non-gradient state,
its loss, and the batch for a given step. The loop owns everything else: the mesh and
shardings, the optimizer (AdamW, warm-up + cosine, global-norm clipping), the jitted step,
Orbax checkpoints with resume, SIGTERM handling, progress and metrics.

Exact resume: the batch of step ``s`` and the random key of step ``s`` are pure functions of
(seed, s), and the checkpoint holds parameters, optimizer state, non-gradient state and the
step. A run killed at any point and restarted therefore repeats the steps after its last
checkpoint with the same inputs and ends with the same parameters (bit-exact on CPU).

Numbers that cannot lie: a step whose loss, gradient norm, update or non-gradient state is
not finite is flagged in its metrics; the loop stops with ``NonFiniteLossError`` naming that
step at the next log or checkpoint boundary, before anything past it is logged or saved (the
state in memory is discarded with the error). The check costs two scalar reductions per
step and no host synchronisation.
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


class NonFiniteLossError(ValueError):
  """Training met a non-finite loss, gradient norm or update; nothing past it was saved."""


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


def _all_finite(tree) -> jnp.ndarray:
  """Whether every floating-point value of ``tree`` is finite (a scalar bool)."""
  checks = [jnp.isfinite(x).all() for x in jax.tree_util.tree_leaves(tree)
            if jnp.issubdtype(jnp.result_type(x), jnp.inexact)]
  return jnp.all(jnp.stack(checks)) if checks else jnp.array(True)


def make_train_step(task: TrainTask, optimizer: optax.GradientTransformation):
  """The jitted step: (state, batch, key) -> (new state, metrics).

  ``metrics["finite"]`` is False when the loss, the gradient norm, the update's norm (an
  infinite learning rate gives a finite loss and gradient but a NaN update) or the extra
  state is not finite. The host reads the flag with the other metrics and stops before
  saving anything of that step or later.
  """
  def train_step(state: TrainState, batch: dict, key: jax.Array):
    grad_fn = jax.value_and_grad(task.loss_fn, has_aux=True)
    (loss, (extra, metrics)), grads = grad_fn(state.params, state.extra, batch, key)
    grad_norm = optax.global_norm(grads)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    new = TrainState(state.step + 1, params, opt_state, extra)
    finite = (jnp.isfinite(loss) & jnp.isfinite(grad_norm)
              & jnp.isfinite(optax.global_norm(updates)) & _all_finite(extra))
    metrics = {"loss": loss, **metrics, "grad_norm": grad_norm, "finite": finite}
    return new, metrics
  return train_step


def _first_non_finite(pending: list) -> tuple[int, dict] | None:
  """(step, host metrics) of the first step in ``pending`` [(step, metrics)] that was not
  applied, or None. Fetches only the flags (and the bad step's metrics)."""
  if not pending:
    return None
  flags = jax.device_get([m["finite"] for _, m in pending])
  for (step, metrics), ok in zip(pending, flags):
    if not bool(ok):
      return step, jax.device_get(metrics)
  return None


def _non_finite_message(step: int, metrics: dict, last_checkpoint: int | None) -> str:
  loss, grad_norm = float(metrics["loss"]), float(metrics["grad_norm"])
  if math.isfinite(loss) and math.isfinite(grad_norm):
    what = (f"the update made the parameters or optimizer state non-finite (loss {loss:.4g}, "
            f"grad norm {grad_norm:.4g})")
  else:
    what = f"loss is {loss:.4g} (grad norm {grad_norm:.4g})"
  kept = (f"the last checkpoint (step {last_checkpoint}) is intact" if last_checkpoint
          is not None else "no checkpoint was written")
  return (f"step {step}: {what}; stopped without saving: {kept}; lower the learning rate "
          f"(or check the data of that step)")


@dataclasses.dataclass
class TrainResult:
  state: TrainState
  step: int
  preempted: bool
  resumed_from: int | None
  seconds: float
  last_metrics: dict
  interrupted: bool = False  # stopped by SIGINT (Ctrl-C) rather than SIGTERM


class _StopSignals:
  """Turns SIGTERM (TPU pre-emption, ``kill``) and SIGINT (Ctrl-C) into a flag the loop
  checks each step: it then saves a checkpoint and returns, so both resume exactly."""

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self.raised = None  # the signal's name once one arrived
    self._previous = {}

  def __enter__(self):
    try:
      self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
    except ValueError:  # not the main thread: leave signals alone
      self._previous = {}
    return self

  def _handle(self, signum, frame):
    self.raised = signal.Signals(signum).name

  def __exit__(self, *exc):
    for s, previous in self._previous.items():
      signal.signal(s, previous)


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
  pending, last_metrics = [], {}  # pending: (step, device metrics) since the last log

  def stop_if_non_finite():
    bad = _first_non_finite(pending)
    if bad is not None:
      writer.close()
      last = checkpointer.latest_step()
      checkpointer.close()
      raise NonFiniteLossError(_non_finite_message(*bad, last))

  window_start, window_steps, paused = None, 0, 0.0  # paused: eval and checkpoint time
  preempted = False
  step = start_step
  log(f"training {tc.steps} steps from step {start_step} on {mesh.devices.size} device(s), "
      f"mesh {dict(mesh.shape)}, batch {tc.batch_size}")
  with _StopSignals() as stop, mesh, partitioning.axis_rules():
    while step < tc.steps:
      if stop_after is not None and step - start_step >= stop_after:
        break
      batch = partitioning.shard_batch(mesh, task.batch(step), tc.batch_size)
      state, metrics = train_step(state, batch, step_key(tc.seed, step))
      step += 1
      pending.append((step, metrics))
      if window_start is None:  # time from the end of the first (compiling) step
        jax.block_until_ready(metrics)
        window_start, window_steps = time.time(), 0
      else:
        window_steps += 1
      if step % tc.log_every == 0 or step == tc.steps:
        stop_if_non_finite()
        host = jax.device_get([m for _, m in pending])
        last_metrics = {k: float(np.mean([m[k] for m in host])) for k in host[0]
                        if k != "finite"}
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
        stop_if_non_finite()
        checkpointer.save(step, state.as_dict())
      paused += time.time() - pause_start
      if stop.raised:
        stop_if_non_finite()
        if checkpointer.latest_step() != step:
          checkpointer.save(step, state.as_dict())
        log(f"{stop.raised}: saved a checkpoint at step {step} and stopped; run the same "
            f"command again to resume")
        preempted = True
        break
  stop_if_non_finite()
  writer.close()
  checkpointer.close()
  return TrainResult(state, step, preempted, resumed_from, time.time() - start_time,
                     last_metrics, interrupted=stop.raised == "SIGINT")
