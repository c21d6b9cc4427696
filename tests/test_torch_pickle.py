"""The torch-free checkpoint reader: tensors of every dtype and layout, and no code from a
file ever runs."""

import collections
import os
import pickle
import zipfile

import numpy as np
import pytest

from motiongpt_jax import torch_pickle as tp

torch = pytest.importorskip("torch")


class WouldRunCode:
  """Unpickling this with pickle.load calls os.system (writes a file)."""

  def __init__(self, path):
    self.path = path

  def __reduce__(self):
    return (os.system, (f"touch {self.path}",))


class WouldWriteFile:
  def __init__(self, path):
    self.path = path

  def __reduce__(self):
    return (open, (self.path, "w"))


class ConfigLike(dict):
  """Like an OmegaConf/Lightning container: a dict subclass with its own state."""

  def __setstate__(self, state):
    raise AssertionError("must not run")


def test_tensors_of_every_dtype_and_layout(tmp_path):
  w = torch.randn(5, 7)
  state = collections.OrderedDict(
      a=w, t=w.t(), rows=w[1:3], strided=w[:, ::2], half=torch.randn(4, 3).half(),
      bf16=torch.randn(4, 3).bfloat16(), f64=torch.randn(2).double(),
      ints=torch.arange(6).reshape(2, 3), flags=torch.tensor([True, False]),
      scalar=torch.tensor(2.5), empty=torch.zeros(0, 3), param=torch.nn.Parameter(torch.ones(2)))
  torch.save({"state_dict": state, "epoch": 3, "names": ["x", ("y", 1.5)], "blob": b"\x00\xff"},
             tmp_path / "c.tar")
  with tp.TorchCheckpoint(str(tmp_path / "c.tar")) as ckpt:
    root = ckpt.root
    assert root["epoch"] == 3 and root["names"] == ["x", ("y", 1.5)]
    assert root["blob"] == b"\x00\xff"
    assert isinstance(root["state_dict"], collections.OrderedDict)
    for key, expected in state.items():
      got = root["state_dict"][key].numpy()
      expected = expected.detach()
      assert got.shape == tuple(expected.shape), key
      np.testing.assert_array_equal(got.astype(np.float64),
                                    expected.to(torch.float64).numpy(), err_msg=key)
    assert root["state_dict"]["bf16"].numpy().dtype.name == "bfloat16"
    assert root["state_dict"]["half"].numpy().dtype == np.float16
    assert root["state_dict"]["a"].same_view(root["state_dict"]["a"])
    assert not root["state_dict"]["a"].same_view(root["state_dict"]["t"])


def test_code_in_a_checkpoint_never_runs(tmp_path):
  touched, written = tmp_path / "touched", tmp_path / "written"
  hparams = ConfigLike(cfg=WouldRunCode(touched))
  torch.save({"state_dict": {"w": torch.ones(2)}, "hyper_parameters": hparams,
              "callbacks": [WouldWriteFile(written)], "exec": eval}, tmp_path / "evil.tar")
  with pytest.raises(Exception):  # torch's own safe mode refuses the file outright
    torch.load(tmp_path / "evil.tar", weights_only=True)
  with tp.TorchCheckpoint(str(tmp_path / "evil.tar")) as ckpt:
    root = ckpt.root
    np.testing.assert_array_equal(root["state_dict"]["w"].numpy(), [1, 1])
  assert not touched.exists() and not written.exists()
  hp = root["hyper_parameters"]
  assert isinstance(hp, tp.Opaque) and hp.name == "ConfigLike"
  system = hp.entries["cfg"]
  assert isinstance(system, tp.Opaque) and system.name == "system"
  assert system.args == (f"touch {touched}",)
  assert isinstance(root["callbacks"][0], tp.Opaque) and root["callbacks"][0].name == "open"
  assert isinstance(root["exec"], type) and issubclass(root["exec"], tp.Opaque)


def test_a_hand_written_pickle_runs_nothing(tmp_path):
  """data.pkl written by plain pickle (protocol 0 and 4) with globals the reader must not
  resolve: builtins.exec, os.system, an INST opcode."""
  marker = tmp_path / "ran"
  for protocol in (0, 4):
    payload = pickle.dumps({"x": WouldRunCode(marker)}, protocol=protocol)
    payload_inst = (b"(S'import os; os.system(\"touch " + str(marker).encode() +
                    b"\")'\nibuiltins\nexec\n.")
    for i, data in enumerate((payload, payload_inst)):
      path = tmp_path / f"p{protocol}_{i}.tar"
      with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", data)
      with tp.TorchCheckpoint(str(path)) as ckpt:
        assert ckpt.root is not None
  assert not marker.exists()


class Node:
  """Like an OmegaConf value node: the value under ``_val`` in the pickled state."""

  def __init__(self, value):
    self._val = value


class Config:
  def __init__(self):
    self._content = {"dilation_growth_rate": Node(3), "width": Node(512)}


def test_hyper_parameter_values_are_read_as_data(tmp_path):
  torch.save({"hyper_parameters": {"cfg": Config()}}, tmp_path / "h.tar")
  with tp.TorchCheckpoint(str(tmp_path / "h.tar")) as ckpt:
    assert tp.opaque_values(ckpt.root, "dilation_growth_rate") == [3]
    assert tp.opaque_values(ckpt.root, "width") == [512]


def test_unsupported_and_damaged_files_are_named(tmp_path):
  legacy = tmp_path / "legacy.tar"
  torch.save({"w": torch.ones(2)}, legacy, _use_new_zipfile_serialization=False)
  with pytest.raises(tp.TorchPickleError, match="legacy.tar: the legacy torch format"):
    tp.TorchCheckpoint(str(legacy))
  text = tmp_path / "notes.txt"
  text.write_text("hello")
  with pytest.raises(tp.TorchPickleError, match="notes.txt: not a torch.save checkpoint"):
    tp.TorchCheckpoint(str(text))
  with pytest.raises(tp.TorchPickleError, match="missing.tar: cannot be read"):
    tp.TorchCheckpoint(str(tmp_path / "missing.tar"))
  # A storage record removed: named when the tensor is read.
  good = tmp_path / "good.tar"
  torch.save({"w": torch.ones(3)}, good)
  cut = tmp_path / "cut.tar"
  with zipfile.ZipFile(good) as src, zipfile.ZipFile(cut, "w") as dst:
    for item in src.infolist():
      if "/data/" not in item.filename:
        dst.writestr(item, src.read(item))
  with tp.TorchCheckpoint(str(cut)) as ckpt:
    with pytest.raises(tp.TorchPickleError, match=r"cut.tar: record .*data/0 is missing"):
      ckpt.root["w"].numpy()
