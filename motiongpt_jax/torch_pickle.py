"""PyTorch checkpoints read without torch and without running any code from them.

``torch.save`` writes a zip archive (torch >= 1.6): ``<prefix>/data.pkl`` is a pickle
(protocol 2) of the saved object in which every tensor is a call of
``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`` and every storage a
persistent id ``('storage', torch.FloatStorage, key, location, numel)`` whose bytes are the
record ``<prefix>/data/<key>`` (little-endian unless a ``byteorder`` record says otherwise).

``TorchCheckpoint(path)`` unpickles ``data.pkl`` with a restricted unpickler: the names a
pickle refers to are looked up in a fixed table of what checkpoints need (the tensor
rebuilders, storage classes and dtypes of torch, ``collections.OrderedDict``, ``set``), each
mapped to a function of this module that only builds a ``TensorRef`` or a container; nothing
is imported. Any other name (an OmegaConf config, ``os.system``, a Lightning class) becomes an
``Opaque`` placeholder class: "calling" it records its arguments, its state is kept as data,
and none of its code exists here to run. Tensors are ``TensorRef`` values that read their
bytes only when ``numpy()`` is called, so optimizer states and other unused parts of a
checkpoint are never read. Storages of float32, float16, bfloat16 (via ``ml_dtypes``),
float64, the integer types and bool are supported.

Not supported (each refused with a message saying so): the legacy non-zip format of torch <
1.6 (``_use_new_zipfile_serialization=False``) and the tar format of torch < 0.4.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import pickle
import re
import tarfile
import zipfile

import ml_dtypes
import numpy as np


class TorchPickleError(ValueError):
  """A file is not a checkpoint this reader can read; the message names it and says why."""


# ------------------------------------------------------------------------------ values
class Opaque:
  """An object of a class this reader does not trust: its pickled data, never its code.

  ``module`` and ``name`` say which class the pickle named; ``args`` (and ``kwargs``) are
  what it would have been called with, ``state`` what ``__setstate__`` would have received,
  ``items``/``entries`` what was appended or assigned to it.
  """
  module = ""
  name = ""

  def __new__(cls, *args, **kwargs):
    self = object.__new__(cls)
    self.args, self.kwargs = args, kwargs
    self.state, self.items, self.entries = None, [], {}
    return self

  def __init__(self, *args, **kwargs):
    pass  # everything is recorded by __new__ (the unpickler's NEWOBJ calls only __new__)

  def __setstate__(self, state):
    self.state = state

  def append(self, item):
    self.items.append(item)

  def extend(self, items):
    self.items.extend(items)

  def __setitem__(self, key, value):
    self.entries[key] = value

  def __repr__(self):
    return f"<opaque {self.module}.{self.name}>"


_OPAQUE_TYPES: dict[tuple[str, str], type] = {}


def _opaque_type(module: str, name: str) -> type:
  key = (module, name)
  if key not in _OPAQUE_TYPES:
    _OPAQUE_TYPES[key] = type(f"Opaque[{module}.{name}]", (Opaque,),
                              {"module": module, "name": name})
  return _OPAQUE_TYPES[key]


@dataclasses.dataclass(frozen=True)
class _DType:
  """A torch storage class or dtype named in a pickle, as the numpy dtype it stands for."""
  name: str

  @property
  def numpy(self) -> np.dtype:
    return np.dtype(ml_dtypes.bfloat16) if self.name == "bfloat16" else np.dtype(self.name)


@dataclasses.dataclass(frozen=True)
class StorageRef:
  key: str
  dtype: _DType
  numel: int


@dataclasses.dataclass(frozen=True)
class TensorRef:
  """A tensor of the checkpoint, read from the archive when ``numpy()`` is called."""
  storage: StorageRef
  offset: int       # in elements of ``dtype``
  shape: tuple
  stride: tuple     # in elements
  dtype: _DType
  archive: "TorchCheckpoint" = dataclasses.field(repr=False, compare=False)

  def same_view(self, other: "TensorRef") -> bool:
    """Whether both are the same view of the same storage (tied weights)."""
    return (self.storage.key, self.offset, self.shape, self.stride, self.dtype) == (
        other.storage.key, other.offset, other.shape, other.stride, other.dtype)

  def numpy(self) -> np.ndarray:
    return self.archive.read_tensor(self)


_STORAGES = {"FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
             "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
             "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
             "BoolStorage": "bool", "UntypedStorage": "uint8"}
_DTYPES = {"float32": "float32", "float": "float32", "float64": "float64", "double": "float64",
           "float16": "float16", "half": "float16", "bfloat16": "bfloat16",
           "int64": "int64", "long": "int64", "int32": "int32", "int": "int32",
           "int16": "int16", "short": "int16", "int8": "int8", "uint8": "uint8",
           "bool": "bool"}


# ------------------------------------------------------------- what a pickle may call
def _check_ints(values, what: str) -> tuple:
  values = tuple(values) if isinstance(values, (tuple, list)) else None
  if values is None or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                               for v in values):
    raise TorchPickleError(f"a tensor's {what} is {values!r}: expected non-negative integers")
  return values


def _tensor(storage, offset, size, stride, dtype=None) -> TensorRef:
  if not isinstance(storage, StorageRef):
    raise TorchPickleError(f"a tensor refers to {storage!r}, not to a storage of the archive")
  dtype = dtype if isinstance(dtype, _DType) else storage.dtype
  shape, strides = _check_ints(size, "size"), _check_ints(stride, "stride")
  (offset,) = _check_ints([offset], "storage offset")
  if len(shape) != len(strides):
    raise TorchPickleError(f"a tensor of storage {storage.key} has size {shape} but stride "
                           f"{strides}")
  return TensorRef(storage, offset, shape, strides, dtype, None)


def _rebuild_tensor(storage, storage_offset, size, stride):
  return _tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
  return _tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                       dtype, metadata=None):
  return _tensor(storage, storage_offset, size, stride, dtype)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
  return data


def _codecs_encode(text, encoding="utf-8"):
  """Protocol 2 writes ``bytes`` as ``_codecs.encode(text, 'latin1')``."""
  if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
    raise TorchPickleError(f"_codecs.encode({type(text).__name__}, {encoding!r}): only "
                           f"latin1 text is expected")
  return text.encode("latin1")


_REBUILDERS = (_rebuild_tensor, _rebuild_tensor_v2, _rebuild_tensor_v3, _rebuild_parameter)


def _rebuild_from_type_v2(func, new_type, args, state):
  """A tensor subclass: the plain tensor it wraps (the subclass itself is not built)."""
  if func in _REBUILDERS:
    return func(*args)
  return _opaque_type("torch._tensor", "_rebuild_from_type_v2")(func, new_type, args, state)


_SAFE = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("_codecs", "encode"): _codecs_encode,
    ("torch", "Size"): tuple,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
}
_SAFE.update({("torch", name): _DType(dtype) for name, dtype in _STORAGES.items()})
_SAFE.update({("torch", name): _DType(dtype) for name, dtype in _DTYPES.items()})


class _Unpickler(pickle.Unpickler):

  def __init__(self, data: bytes, where: str):
    super().__init__(io.BytesIO(data))
    self.where = where
    self.storages: dict[str, StorageRef] = {}

  def find_class(self, module, name):
    found = _SAFE.get((module, name))
    return found if found is not None else _opaque_type(module, name)

  def persistent_load(self, pid):
    if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
      raise TorchPickleError(f"{self.where}: persistent id {str(pid)[:80]}: expected "
                             f"('storage', type, key, location, numel)")
    _, kind, key, _, numel = pid
    if not isinstance(kind, _DType):
      raise TorchPickleError(f"{self.where}: storage {key!r} has type {kind!r}; expected one "
                             f"of torch.{', torch.'.join(_STORAGES)}")
    if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z0-9_]+", key):
      raise TorchPickleError(f"{self.where}: storage key {key!r}: expected letters and digits")
    if not isinstance(numel, int) or numel < 0:
      raise TorchPickleError(f"{self.where}: storage {key} has size {numel!r}")
    return self.storages.setdefault(key, StorageRef(key, kind, numel))


# --------------------------------------------------------------------------- the file
class TorchCheckpoint:
  """A ``torch.save`` zip file, unpickled without running code: ``root`` is the saved object
  with tensors as ``TensorRef``. Use as a context manager (tensors read while it is open)."""

  def __init__(self, path: str):
    self.path = path
    self._zip = _open_zip(path)
    names = self._zip.namelist()
    pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pickles) != 1:
      self._zip.close()
      raise TorchPickleError(f"{path}: a zip file without one <name>/data.pkl record (found "
                             f"{len(pickles)}): not a torch.save checkpoint")
    self.prefix = pickles[0][:-len("data.pkl")]
    self.byteorder = "little"
    if self.prefix + "byteorder" in names:
      self.byteorder = self._zip.read(self.prefix + "byteorder").decode().strip()
      if self.byteorder not in ("little", "big"):
        raise TorchPickleError(f"{path}: byteorder record {self.byteorder!r}: expected "
                               f"'little' or 'big'")
    unpickler = _Unpickler(self._zip.read(pickles[0]), path)
    try:
      self.root = unpickler.load()
    except TorchPickleError:
      raise
    except Exception as e:  # a malformed pickle, or arguments our rebuilders refuse
      raise TorchPickleError(f"{path}: data.pkl cannot be read ({type(e).__name__}: "
                             f"{e})") from None
    self.storages = unpickler.storages
    self.root = _attach(self.root, self)

  def read_tensor(self, ref: TensorRef) -> np.ndarray:
    """The tensor's values as a new contiguous numpy array (bfloat16 as ml_dtypes')."""
    name = f"{self.prefix}data/{ref.storage.key}"
    try:
      raw = self._zip.read(name)
    except KeyError:
      raise TorchPickleError(f"{self.path}: record {name} is missing (a truncated "
                             f"checkpoint?)") from None
    storage_dtype = ref.storage.dtype.numpy
    if self.byteorder == "big":
      storage_dtype = storage_dtype.newbyteorder(">")
    dtype = ref.dtype.numpy.newbyteorder(">") if self.byteorder == "big" else ref.dtype.numpy
    if len(raw) != ref.storage.numel * storage_dtype.itemsize and not (
        ref.storage.dtype.name == "uint8"):
      raise TorchPickleError(f"{self.path}: record {name} has {len(raw)} bytes, expected "
                             f"{ref.storage.numel} x {storage_dtype.itemsize}")
    flat = np.frombuffer(raw, dtype=dtype, count=len(raw) // dtype.itemsize)
    extent = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.stride)) + 1
    if 0 in ref.shape:
      return np.zeros(ref.shape, dtype.newbyteorder("="))
    if extent > len(flat):
      raise TorchPickleError(f"{self.path}: a tensor of shape {ref.shape} at offset "
                             f"{ref.offset} reaches past its storage {ref.storage.key} "
                             f"({len(flat)} elements)")
    view = np.lib.stride_tricks.as_strided(
        flat[ref.offset:], ref.shape, tuple(s * dtype.itemsize for s in ref.stride),
        writeable=False)
    return np.array(view, dtype=dtype.newbyteorder("="))

  def close(self) -> None:
    self._zip.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


def _attach(value, archive: TorchCheckpoint):
  """The tree with every TensorRef bound to ``archive`` (containers rebuilt, types kept)."""
  if isinstance(value, TensorRef):
    return dataclasses.replace(value, archive=archive)
  if isinstance(value, collections.OrderedDict):
    return collections.OrderedDict((k, _attach(v, archive)) for k, v in value.items())
  if type(value) is dict:
    return {k: _attach(v, archive) for k, v in value.items()}
  if type(value) in (list, tuple):
    return type(value)(_attach(v, archive) for v in value)
  return value


def _open_zip(path: str) -> zipfile.ZipFile:
  try:
    if zipfile.is_zipfile(path):
      return zipfile.ZipFile(path)
    with open(path, "rb") as f:
      head = f.read(2)
  except OSError as e:
    raise TorchPickleError(f"{path}: cannot be read ({e.strerror or e})") from None
  if tarfile.is_tarfile(path):
    raise TorchPickleError(f"{path}: a tar archive (the torch < 0.4 format) is not "
                           f"supported; load it with torch and save it again")
  if head[:1] == b"\x80":
    raise TorchPickleError(f"{path}: the legacy torch format (torch < 1.6, or "
                           f"_use_new_zipfile_serialization=False) is not supported; load it "
                           f"with torch and save it again with torch.save")
  raise TorchPickleError(f"{path}: not a torch.save checkpoint (expected a zip archive)")


def load(path: str) -> TorchCheckpoint:
  """``TorchCheckpoint(path)``: open it with ``with``; ``.root`` is the saved object."""
  return TorchCheckpoint(path)


def opaque_values(value, key: str, limit: int = 10_000):
  """Every value stored under ``key`` in a tree of containers and Opaque objects (their
  args, state, entries): reads settings out of an untrusted config object as plain data.
  An OmegaConf node's ``_val`` is unwrapped."""
  found, stack, seen = [], [value], 0
  while stack and seen < limit:
    node = stack.pop()
    seen += 1
    if isinstance(node, Opaque):
      stack.extend([node.state, node.entries, node.items, node.args])
    elif isinstance(node, dict):
      for k, v in node.items():
        if k == key:
          found.append(unwrap(v))
        stack.append(v)
    elif isinstance(node, (list, tuple)):
      stack.extend(node)
  return found


def unwrap(value):
  """An OmegaConf value node's plain value (``state['_val']``), else ``value``."""
  if isinstance(value, Opaque) and isinstance(value.state, dict) and "_val" in value.state:
    return value.state["_val"]
  return value
