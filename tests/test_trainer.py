"""The shared trainer: exact resume, checkpoints, sharding, metrics and clear errors."""

import json
import os

import jax
import numpy as np
import pytest

from motiongpt_jax import config_utils, partitioning
from motiongpt_jax.train import trainer
from motiongpt_jax.train.checkpoints import CheckpointMismatchError
from motiongpt_jax.vqvae.vq_task import VQVAETask

from test_vqvae import small_config


def motions(n=12, seed=0):
  rng = np.random.default_rng(seed)
  return [rng.normal(size=(int(rng.integers(32, 60)), 263)).astype(np.float32)
          for _ in range(n)]


def one_device():
  return partitioning.make_mesh(devices=jax.devices()[:1])


def quiet(_):
  pass


def flat(tree):
  return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def test_data_order_is_a_pure_function_of_seed_and_step():
  config = small_config()
  a = VQVAETask(config, motions()).batch(5)["motion"]
  b = VQVAETask(config, motions()).batch(5)["motion"]
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, VQVAETask(config, motions()).batch(6)["motion"])
  with config.unlocked():
    config.train.seed = 1
  assert not np.array_equal(a, VQVAETask(config, motions()).batch(5)["motion"])


def test_killed_run_resumes_to_identical_parameters(tmp_path):
  config = small_config(steps=12, checkpoint_every=4, keep_checkpoints=2, log_every=4)
  full = trainer.train(VQVAETask(config, motions()), config.train, str(tmp_path / "full"),
                       mesh=one_device(), log=quiet)
  # Hard kill after 6 steps: nothing is saved past the checkpoint of step 4.
  workdir = str(tmp_path / "killed")
  first = trainer.train(VQVAETask(config, motions()), config.train, workdir,
                        mesh=one_device(), log=quiet, stop_after=6)
  assert first.step == 6 and sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["4"]
  resumed = trainer.train(VQVAETask(config, motions()), config.train, workdir,
                          mesh=one_device(), log=quiet)
  assert resumed.resumed_from == 4 and resumed.step == 12
  for a, b in zip(flat(full.state), flat(resumed.state)):
    np.testing.assert_array_equal(a, b)
  # keep_checkpoints=2: only the last two remain.
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints")), key=int) == ["8", "12"]
  # The metric record reads like one run: each logged step once, in order.
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    steps = [json.loads(line)["step"] for line in f]
  assert steps == [4, 8, 12]
  assert os.listdir(os.path.join(workdir, "tensorboard"))


def test_a_finished_run_does_nothing_more(tmp_path):
  config = small_config(steps=4, checkpoint_every=4)
  trainer.train(VQVAETask(config, motions()), config.train, str(tmp_path), mesh=one_device(),
                log=quiet)
  again = trainer.train(VQVAETask(config, motions()), config.train, str(tmp_path),
                        mesh=one_device(), log=quiet)
  assert again.resumed_from == 4 and again.step == 4


def test_checkpoint_from_another_config_names_the_mismatch(tmp_path):
  config = small_config(steps=2, checkpoint_every=2)
  trainer.train(VQVAETask(config, motions()), config.train, str(tmp_path), mesh=one_device(),
                log=quiet)
  with config.unlocked():
    config.model.width = 48
  with pytest.raises(CheckpointMismatchError,
                     match=r"params/decoder/conv_mid/kernel: checkpoint has shape "
                           r"\(3, 32, 32\), config expects \(3, 48, 48\)"):
    trainer.train(VQVAETask(config, motions()), config.train, str(tmp_path),
                  mesh=one_device(), log=quiet)


def test_sharded_training_on_8_devices_matches_one_device(tmp_path):
  assert jax.device_count() == 8, "conftest asks XLA for 8 CPU devices"
  config = small_config(steps=3, checkpoint_every=100, log_every=1)
  losses = {}
  for name, mesh in [("one", one_device()), ("eight", partitioning.make_mesh()),
                     ("4x2", partitioning.make_mesh(model_parallel=2))]:
    result = trainer.train(VQVAETask(config, motions()), config.train, str(tmp_path / name),
                           mesh=mesh, log=quiet)
    history = [row["loss"] for row in map(json.loads, open(tmp_path / name / "metrics.jsonl"))]
    losses[name] = (history, flat(result.state.params))
  for name in ("eight", "4x2"):
    np.testing.assert_allclose(losses[name][0], losses["one"][0], rtol=1e-5)
    for a, b in zip(losses[name][1], losses["one"][1]):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_batch_must_divide_over_the_data_axis(tmp_path):
  config = small_config(batch_size=6)
  with pytest.raises(partitioning.MeshError, match="batch size 6 is not divisible by the 8"):
    trainer.train(VQVAETask(config, motions()), config.train, str(tmp_path),
                  mesh=partitioning.make_mesh(), log=quiet)
  with pytest.raises(partitioning.MeshError, match="'model' axis of 3"):
    partitioning.make_mesh(model_parallel=3)


def test_config_errors_are_specific():
  with pytest.raises(config_utils.ConfigError, match="did you mean train.steps"):
    config_utils.load_config("configs/vqvae.py:tiny", ["--config.train.step=5"])
  with pytest.raises(config_utils.ConfigError, match="expected a int"):
    config_utils.load_config("configs/vqvae.py:tiny", ["--config.train.steps=many"])
  with pytest.raises(ValueError, match="variants 'tiny' and 'base'"):
    config_utils.load_config("configs/vqvae.py:huge")
  with pytest.raises(config_utils.ConfigError, match="does not exist"):
    config_utils.load_config("configs/nope.py")
  c = config_utils.load_config("configs/vqvae.py:tiny",
                               ["--config.train.learning_rate=3", "train.steps=7"])
  assert c.train.learning_rate == 3.0 and isinstance(c.train.learning_rate, float)
  assert c.train.steps == 7


def test_schedule_warms_up_then_decays():
  config = small_config(steps=100, warmup_steps=10, learning_rate=1e-3, final_lr_fraction=0.1)
  _, schedule = trainer.make_optimizer(config.train)
  assert float(schedule(0)) == 0.0
  np.testing.assert_allclose(float(schedule(10)), 1e-3, rtol=1e-6)
  np.testing.assert_allclose(float(schedule(100)), 1e-4, rtol=1e-5)
  assert float(schedule(50)) < 1e-3


class ToyTask:
  """A quadratic loss over 4 parameters; the batch of step ``nan_at`` (0-based) holds a NaN."""

  def __init__(self, nan_at=None):
    self.nan_at = nan_at

  def init(self, key):
    return {"w": jax.numpy.zeros(4)}, {}

  def loss_fn(self, params, extra, batch, key):
    loss = jax.numpy.mean((params["w"] - batch["x"]) ** 2)
    return loss, (extra, {"loss": loss})

  def batch(self, step):
    x = np.full((8, 4), 1.0 + step % 3, np.float32)
    if step == self.nan_at:
      x[0, 0] = np.nan
    return {"x": x}

  def param_shardings(self, mesh, abstract_params):
    return None

  def evaluate(self, params, extra):
    return {}


def all_finite_checkpoints(workdir):
  from motiongpt_jax.train.checkpoints import Checkpointer
  checkpointer = Checkpointer(workdir, read_only=True)
  try:
    for step in checkpointer.all_steps():
      restored = checkpointer.manager.restore(step)
      assert all(np.isfinite(x).all() for x in flat(restored)), step
    return checkpointer.all_steps()
  finally:
    checkpointer.close()


def test_a_non_finite_step_is_flagged():
  config = small_config()
  task = ToyTask()
  optimizer, _ = trainer.make_optimizer(config.train)
  params, extra = task.init(None)
  state = trainer.TrainState(jax.numpy.zeros((), jax.numpy.int32), params,
                             optimizer.init(params), extra)
  step = jax.jit(trainer.make_train_step(task, optimizer))
  key = trainer.step_key(0, 0)
  state, metrics = step(state, task.batch(1), key)
  assert bool(metrics["finite"]) and int(state.step) == 1
  poisoned = {"x": np.full((8, 4), np.nan, np.float32)}
  _, metrics = step(state, poisoned, key)
  assert not bool(metrics["finite"]) and np.isnan(float(metrics["loss"]))
  _, metrics = step(state, task.batch(2), key)  # a finite batch again: flagged finite
  assert bool(metrics["finite"])


@pytest.mark.parametrize("log_every", [2, 100])  # caught at a log, or at a checkpoint
def test_training_stops_at_the_first_nan_loss_without_saving_it(tmp_path, log_every):
  config = small_config(steps=12, checkpoint_every=4, log_every=log_every)
  workdir = str(tmp_path)
  # the batch of 0-based step 6 is poisoned: the 7th update, "step 7" as logs count
  with pytest.raises(trainer.NonFiniteLossError,
                     match=r"^step 7: loss is nan \(grad norm nan\); stopped without saving: "
                           r"the last checkpoint \(step 4\) is intact; lower the learning "
                           r"rate"):
    trainer.train(ToyTask(nan_at=6), config.train, workdir, mesh=one_device(), log=quiet)
  assert all_finite_checkpoints(workdir) == [4]
  path = os.path.join(workdir, "metrics.jsonl")
  rows = [json.loads(line) for line in open(path)] if os.path.exists(path) else []
  assert [r["step"] for r in rows] == ([2, 4, 6] if log_every == 2 else [])
  assert all(np.isfinite(r["loss"]) for r in rows)
  # the CLI maps ValueError to exit code 2 with a one-line message
  assert issubclass(trainer.NonFiniteLossError, ValueError)


def test_an_infinite_learning_rate_stops_at_step_1(tmp_path):
  config = small_config(steps=6, checkpoint_every=2, log_every=3, learning_rate=1e400)
  assert config.train.learning_rate == float("inf")
  with pytest.raises(trainer.NonFiniteLossError,
                     match=r"^step 1: the update made the parameters or optimizer state "
                           r"non-finite \(loss 1, grad norm 1\); stopped without saving: "
                           r"no checkpoint was written"):
    trainer.train(ToyTask(), config.train, str(tmp_path), mesh=one_device(), log=quiet)
  assert all_finite_checkpoints(str(tmp_path)) == []
