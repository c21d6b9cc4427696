"""Offline caching of the SeqIO tasks: the id assembly equals tokenizing the text, the cache
is seqio's format, cached and uncached tasks give the same examples, hosts read disjoint
shares."""

import collections
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import seqio

from motiongpt_jax import cli, protocol
from motiongpt_jax.data import humanml3d

pytestmark = pytest.mark.xdist_group("task_cache")  # its module fixtures are built once

LENGTHS = {"inputs": 256, "targets": 256}
SHARDS = 4
DETERMINISTIC = ("motiongpt_pretrain_t2m", "motiongpt_pretrain_m2t",
                 "motiongpt_pretrain_prediction", "motiongpt_instruct_m2t_count_frames_eval")
RANDOM = ("motiongpt_pretrain_motion_span", "motiongpt_pretrain_text_span",
          "motiongpt_instruct_t2m_caption", "motiongpt_instruct_m2t_caption_frames")


@pytest.fixture(scope="module")
def cached(token_data, tmp_path_factory):
  import tasks
  from motiongpt_jax.pipeline import cache, silent
  tasks.register(token_data["data"], token_data["tokens"], token_data["spm"])
  out = str(tmp_path_factory.mktemp("cache"))
  result = cache.cache_tasks(token_data["data"], out, list(DETERMINISTIC + RANDOM),
                             token_data["tokens"], token_data["spm"], num_shards=SHARDS,
                             report=silent())
  assert sorted(result["tasks"]) == sorted(DETERMINISTIC + RANDOM)
  seqio.add_global_cache_dirs([out])
  return dict(token_data, cache=out)


def _examples(name, split="validation", **kw):
  task = seqio.get_mixture_or_task(name)
  ds = task.get_dataset(LENGTHS, split=split, shuffle=False, **kw)
  return [(tuple(ex["inputs"].tolist()), tuple(ex["targets"].tolist()))
          for ex in ds.as_numpy_iterator()]


def _python_ids(vocab, pieces, values, motions):
  ids = []
  for piece in pieces:
    if piece[0] == "ids":
      ids += list(piece[1])
    elif piece[1] in motions:
      ids += [vocab.motion_start_id, *(np.asarray(motions[piece[1]]) + vocab.motion_offset),
              vocab.motion_end_id]
    else:
      _, kind, prefix, suffix = piece
      ids += vocab.encode(prefix + values[kind] + suffix)
  return ids


def test_every_phrasing_assembles_the_ids_of_its_text(token_data):
  """The ids joined from a phrasing's words and its slots equal those of tokenizing the
  filled text, for every phrasing of every template, quoted or not."""
  from motiongpt_jax.vocab import vocabulary_for_tokens
  from tasks import instructions
  vocab = vocabulary_for_tokens(token_data["tokens"], token_data["spm"])
  names = humanml3d.read_split_names(token_data["data"], "val")[:2]
  for name in names:
    codes = np.load(os.path.join(token_data["tokens"], name + ".npy"))[0].astype(int)
    caption = humanml3d.read_captions(os.path.join(token_data["data"], "texts",
                                                   name + ".txt"))[0].text
    frames = len(codes) * protocol.FRAMES_PER_TOKEN
    values = {"caption": caption, "frames": str(frames), "seconds": f"{frames / 20.0:.1f}"}
    keep = max(int(len(codes) * protocol.PREDICTION_KEEP), 1)
    quarter = len(codes) // 4
    masked = np.concatenate([codes[:quarter], [512 + 2] * (len(codes) - 2 * quarter),
                             codes[len(codes) - quarter:]]).astype(int)
    motions = {"motion": codes, "motion_s1": codes[:keep], "motion_s2": codes[keep:],
               "motion_masked": masked}
    strings = {"<Motion_Placeholder>": codes, "<Motion_Placeholder_s1>": codes[:keep],
               "<Motion_Placeholder_s2>": codes[keep:], "<Motion_Placeholder_Masked>": masked}
    for spec in instructions.load_templates().values():
      for text, quote in ([(t, q) for t in spec["inputs"] for q in (False, True)]
                          + [(t, False) for t in spec["outputs"]]):
        filled = text
        for placeholder, c in sorted(strings.items(), key=lambda kv: -len(kv[0])):
          filled = filled.replace(placeholder, vocab.motion_string(c))
        filled = (filled.replace("<Caption_Placeholder>",
                                 f'"{caption}"' if quote else caption)
                  .replace("<Frame_Placeholder>", values["frames"])
                  .replace("<Second_Placeholder>", values["seconds"]))
        pieces = instructions.compile_phrasing(vocab, text, quote)
        assert _python_ids(vocab, pieces, values, motions) == vocab.encode(filled), filled


def test_cache_is_in_seqios_format(cached):
  task_dir = os.path.join(cached["cache"], "motiongpt_pretrain_t2m")
  files = sorted(os.listdir(task_dir))
  assert "COMPLETED" in files
  for split in ("train", "validation", "test"):
    assert [f for f in files if f.startswith(f"{split}.tfrecord-")] == [
        f"{split}.tfrecord-{i:05d}-of-{SHARDS:05d}" for i in range(SHARDS)]
    info = json.load(open(os.path.join(task_dir, f"info.{split}.json")))
    assert info["num_shards"] == SHARDS and info["seqio_version"] == seqio.__version__
    assert info["features"] == {"inputs": {"dtype": "int32", "shape": [None]},
                                "targets": {"dtype": "int32", "shape": [None]}}
    stats = json.load(open(os.path.join(task_dir, f"stats.{split}.json")))
    assert set(stats) == {"examples", "inputs_tokens", "targets_tokens", "inputs_max_tokens",
                          "targets_max_tokens"}
  task = seqio.get_mixture_or_task("motiongpt_pretrain_t2m")
  assert task.cache_dir == task_dir
  assert task.get_cached_stats("validation")["examples"] == len(_examples(
      "motiongpt_pretrain_t2m"))
  meta = json.load(open(os.path.join(cached["cache"], "motiongpt_cache.json")))
  assert meta["tokens_identity"]["num_codes"] == 512 and len(meta["spm_sha256"]) == 64


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_cached_equals_uncached_where_nothing_random_follows(cached, name):
  for split in ("validation", "test"):
    uncached = _examples(name, split, use_cached=False)
    assert uncached and sorted(uncached) == sorted(_examples(name, split, use_cached=True))


def _unspan(inputs, targets, first_sentinel):
  """The sequence a span-corrupted pair came from (sentinels filled back in)."""
  spans, current = {}, None
  for t in targets[:-1]:
    if first_sentinel - 100 < t <= first_sentinel:
      current = spans.setdefault(t, [])
    else:
      current.append(t)
  return tuple(x for t in inputs[:-1]
               for x in (spans.get(t, []) if first_sentinel - 100 < t <= first_sentinel
                         else [t]))


@pytest.mark.parametrize("name", RANDOM)
def test_cached_and_uncached_have_the_same_distribution(cached, name):
  """Random after the cache: the same underlying examples, drawn afresh."""
  task = seqio.get_mixture_or_task(name)
  vocab = task.output_features["targets"].vocabulary
  a = _examples(name, "train", use_cached=False)
  b = _examples(name, "train", use_cached=True)
  assert len(a) == len(b)
  if name.endswith("_span"):
    first = vocab.text_size - 1
    assert sorted(_unspan(i, t, first) for i, t in a) == sorted(
        _unspan(i, t, first) for i, t in b)
    return
  if name.endswith("t2m_caption"):
    # One output phrasing: the targets follow the example; the prompt's phrasing and its
    # quoting are drawn, about half quoted either way.
    assert sorted(t for _, t in a) == sorted(t for _, t in b)
    quote = vocab.encode('"')[-1:]
    for pairs in (a, b):
      quoted = np.mean([any(x in quote for x in i) for i, _ in pairs])
      assert 0.3 < quoted < 0.7, quoted
  else:
    # The prompt holds the motion: the same motions (its ids), in drawn phrasings.
    motions = [sorted(tuple(x for x in i if x >= vocab.motion_offset) for i, _ in pairs)
               for pairs in (a, b)]
    assert motions[0] == motions[1]
  for pairs in (a, b):
    assert len({i for i, _ in pairs}) > len(pairs) // 2  # phrasings vary


def test_tasks_cache_command_and_stale_caches(cached, tmp_path, capsys):
  from motiongpt_jax.pipeline import cache
  paths = ["--data", cached["data"], "--tokens", cached["tokens"], "--spm", cached["spm"]]
  out = str(tmp_path / "c")
  assert cli.main(["tasks", "cache", *paths, "--out", out, "--tasks",
                   "motiongpt_pretrain_m2t", "--shards", "2"]) == 0
  assert "cached 1 task(s)" in capsys.readouterr().out
  assert os.path.exists(os.path.join(out, "motiongpt_pretrain_m2t", "COMPLETED"))
  assert cli.main(["tasks", "cache", *paths, "--out", out, "--tasks",
                   "motiongpt_pretrain_m2t"]) == 0
  assert "cached already" in capsys.readouterr().out
  assert cli.main(["tasks", "cache", *paths, "--out", out, "--tasks", "nope"]) == 2
  assert "matches no task" in capsys.readouterr().err
  cache.check_cache(out, cached["data"], cached["tokens"], cached["spm"],
                    ["motiongpt_pretrain_m2t"])
  with pytest.raises(ValueError, match="no cache of motiongpt_pretrain_t2m"):
    cache.check_cache(out, cached["data"], cached["tokens"], cached["spm"],
                      ["motiongpt_pretrain_t2m"])
  meta_path = os.path.join(out, cache.META)
  meta = json.load(open(meta_path))
  json.dump(dict(meta, spm_sha256="0" * 64), open(meta_path, "w"))
  with pytest.raises(ValueError, match="a cache of other data"):
    cache.check_cache(out, cached["data"], cached["tokens"], cached["spm"],
                      ["motiongpt_pretrain_m2t"])


HOST_SCRIPT = """
import json, os, sys
import jax
jax.distributed.initialize(sys.argv[1], 2, int(sys.argv[2]))
import seqio, tasks
from motiongpt_jax.pipeline import cache
from motiongpt_jax.t5.seqio_batches import SeqioBatches
data, tokens, spm, cache_dir, out = sys.argv[3:8]
tasks.register(data, tokens, spm)
cache.check_cache(cache_dir, data, tokens, spm, ["motiongpt_pretrain_t2m"])
batches = SeqioBatches("motiongpt_pretrain_t2m", 256, 256, 2, 0, split="train",
                       repeat=False, use_cached=True).first(10**6)
rows = [b["encoder_input_tokens"][r].tolist() + [-1] + b["decoder_target_tokens"][r].tolist()
        for b in batches for r in range(len(b["encoder_input_tokens"]))]
json.dump(rows, open(out, "w"))
"""


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_two_hosts_read_disjoint_shares_of_the_cache(cached, tmp_path):
  script = tmp_path / "host.py"
  script.write_text(HOST_SCRIPT)
  env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=1",
             PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
  port = _free_port()
  outs = [str(tmp_path / f"rows{i}.json") for i in range(2)]
  procs = [subprocess.Popen([sys.executable, str(script), f"localhost:{port}", str(i),
                             cached["data"], cached["tokens"], cached["spm"], cached["cache"],
                             outs[i]], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True) for i in range(2)]
  logs = [p.communicate(timeout=300)[0] for p in procs]
  for p, log in zip(procs, logs):
    assert p.returncode == 0, log[-3000:]
  shares = [[tuple(r) for r in json.load(open(o))] for o in outs]
  assert shares[0] and shares[1]
  full = collections.Counter()
  task = seqio.get_mixture_or_task("motiongpt_pretrain_t2m")
  converter = seqio.EncDecFeatureConverter(pack=False)
  ds = converter(task.get_dataset(LENGTHS, split="train", shuffle=False, use_cached=True),
                 LENGTHS)
  for ex in ds.as_numpy_iterator():
    full[tuple(ex["encoder_input_tokens"].tolist() + [-1]
               + ex["decoder_target_tokens"].tolist())] += 1
  # One row per process and step: each host read its own files, together the whole split.
  assert collections.Counter(shares[0]) + collections.Counter(shares[1]) == full
  assert len(shares[0]) < sum(full.values()) and len(shares[1]) < sum(full.values())


@pytest.mark.slow
def test_train_reads_the_cache(cached, tmp_path):
  from conftest import TINY_LM
  from motiongpt_jax import pipeline
  from motiongpt_jax.pipeline import cache
  cache.cache_tasks(cached["data"], cached["cache"], ["motiongpt_pretrain"], cached["tokens"],
                    cached["spm"], num_shards=SHARDS, report=pipeline.silent())
  report = pipeline.silent()
  pipeline.train_lm(cached["data"], str(tmp_path / "lm"), "configs/t5_pretrain.py:tiny",
                    TINY_LM + [f"--config.data.cache_dir={cached['cache']}"],
                    cached["tokens"], cached["spm"], report=report)
  assert any("reading the cached tasks" in line for line in report.lines)


def _in_order(name, split, **kw):
  task = seqio.get_mixture_or_task(name)
  ds = task.get_dataset(LENGTHS, split=split, use_cached=True, **kw)
  return [{k: np.asarray(v).tolist() for k, v in ex.items()} for ex in ds.as_numpy_iterator()]


@pytest.mark.parametrize("name", DETERMINISTIC + RANDOM)
def test_batched_cache_reader_gives_seqios_examples_in_seqios_order(cached, name):
  from motiongpt_jax.pipeline import cache
  import tasks
  tasks.register(cached["data"], cached["tokens"], cached["spm"])  # seqio's own reader
  expected = {split: _in_order(name, split, shuffle=True, seed=7)
              for split in ("train", "validation")}
  plain = _in_order(name, "validation", shuffle=False, seed=3)  # seeded: span noise too
  cache.read_cache_in_batches([name])
  task = seqio.get_mixture_or_task(name)
  assert isinstance(task._get_cached_source("validation"), cache.BatchedCacheSource)
  for split, examples in expected.items():
    assert examples and _in_order(name, split, shuffle=True, seed=7) == examples
  assert _in_order(name, "validation", shuffle=False, seed=3) == plain
  tasks.register(cached["data"], cached["tokens"], cached["spm"])
