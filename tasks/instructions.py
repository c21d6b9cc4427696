"""Instruction tasks (MotionGPT stage 3): one task per template of ``templates/*.json``.

Every template family of MotionGPT, in our own phrasings (at least 20 per task) with the
reference's placeholders: <Caption_Placeholder>, <Motion_Placeholder>, <Frame_Placeholder>,
<Second_Placeholder>, <Motion_Placeholder_s1>, <Motion_Placeholder_s2>,
<Motion_Placeholder_Masked>. Rules (the paper's, where the released code differs):
  - frames = motion tokens x 4 (the length the tokens stand for); seconds = frames / fps,
    with one decimal;
  - a caption in a prompt is put in double quotes with probability 0.5 (never in targets);
  - prediction: the input keeps the first 20% of the motion tokens (at least one), the
    target is the rest;
  - in-between: the middle half (all but the first and last quarter, floor(n / 4) each) is
    replaced, token by token, by the motion mask token; the target is the whole motion.
Each task ``motiongpt_instruct_<template>`` picks a phrasing at random (seeded); its
``..._eval`` variant always uses the first phrasing and never quotes, for benchmark numbers.
Mixture ``motiongpt_instruct``: all training variants at equal rates.
Mixture ``motiongpt_instruct_core``: the same tasks, with the four the paper's tables score
(text-to-motion, motion-to-text, prediction, in-between) at rate 4 (``core_rate``) and the rest at 1, so a
small training budget (the CPU demo) goes mostly where it is measured; ``task_rates`` sets any
template's rate there by name.

Offline caching (``motiongpt tasks cache``). Before the ``seqio.CacheDatasetPlaceholder`` a
training task tokenizes, per example, every value its phrasings can put in a placeholder
(``fill_slots``): the caption as each phrasing glues it (plain or quoted, followed by "?" or
","), the frame and second counts, the motion, its first 20% and the rest, the masked
motion. After it (``assemble``) it draws the phrasings and the quoting, and joins the
phrasings' own tokenized words (tokenized once, at registration) with those slots. The ids
equal those of tokenizing the filled text: the vocabulary tokenizes text between motion
tokens on its own, and SentencePiece (``split_by_whitespace``, its default) tokenizes each
whitespace-separated word on its own, so a phrasing splits at whitespace and at motion
placeholders into pieces that tokenize independently (tests/test_task_cache.py checks it
for every phrasing). The ``_eval`` variants fill their one phrasing as text before the cache.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re

import seqio
import tensorflow as tf


from motiongpt_jax import preprocessors, protocol
from motiongpt_jax.data import token_source
from motiongpt_jax.preprocessors import inbetween_mask, prediction_split
from motiongpt_jax.vocab import vocabulary_for_tokens
from motiongpt_jax.evaluation import task_metrics
from tasks import pretraining

CORE_TASKS = ("t2m_caption", "m2t_caption", "m2m_prediction", "m2m_inbetween")
TEMPLATE_DIR = os.path.join(os.path.dirname(__file__), "templates")
FAMILIES = ("text_to_motion", "motion_to_text", "text_to_text", "motion_to_motion")


def load_templates() -> dict[str, dict]:
  templates = {}
  for family in FAMILIES:
    with open(os.path.join(TEMPLATE_DIR, family + ".json")) as f:
      for name, spec in json.load(f).items():
        templates[name] = dict(spec, family=family)
  return templates


def template_sentences() -> list[str]:
  """The phrasings with example values, for training a text vocabulary that covers them
  (capitals, digits, quotes and punctuation do not occur in the procedural captions)."""
  import re
  examples = {"Caption": '"a person walks"', "Frame": "120", "Second": "6.5"}
  out = ["0 1 2 3 4 5 6 7 8 9 10 25 50 100 196 0.5 1.0 2.5 9.8 \" ' , . : ; ? ! - ( )"]
  for spec in load_templates().values():
    for text in spec["inputs"] + spec["outputs"]:
      text = re.sub(r"<(Caption|Frame|Second)_Placeholder>",
                    lambda m: examples[m.group(1)], text)
      out.append(re.sub(r"<Motion_Placeholder[^>]*>", "", text))
  return out


def _escape(value):
  return tf.strings.regex_replace(value, r"\\", r"\\\\")


def fill_template(vocab, spec: dict, fps: float, eval_mode: bool):
  inputs = tf.constant(spec["inputs"])
  outputs = tf.constant(spec["outputs"])

  @seqio.map_over_dataset(num_seeds=3)
  def fn(ex, seeds):
    if eval_mode:
      i, o, quote = 0, 0, False
    else:
      i = tf.random.stateless_uniform([], seeds[0], 0, len(spec["inputs"]), tf.int32)
      o = tf.random.stateless_uniform([], seeds[1], 0, len(spec["outputs"]), tf.int32)
      quote = tf.random.stateless_uniform([], seeds[2]) < 0.5
    caption = ex["caption"]
    quoted = tf.where(quote, tf.strings.join(['"', caption, '"']), caption)
    codes = ex["motion"]
    frames = tf.size(codes) * protocol.FRAMES_PER_TOKEN
    seconds = tf.cast(frames, tf.float32) / fps
    first, rest = prediction_split(codes)
    values = {
        "<Motion_Placeholder_Masked>": pretraining.motion_text(
            vocab, inbetween_mask(codes, protocol.mask_code(vocab.num_motion_codes))),
        "<Motion_Placeholder_s1>": pretraining.motion_text(vocab, first),
        "<Motion_Placeholder_s2>": pretraining.motion_text(vocab, rest),
        "<Motion_Placeholder>": pretraining.motion_text(vocab, codes),
        "<Caption_Placeholder>": None,  # quoted (sometimes) in prompts, plain in targets
        "<Frame_Placeholder>": tf.strings.as_string(frames),
        "<Second_Placeholder>": tf.strings.as_string(seconds, precision=1),
    }
    texts = []
    for template, text in ((inputs[i], quoted), (outputs[o], caption)):
      for placeholder, value in values.items():
        value = text if value is None else value
        template = tf.strings.regex_replace(template, placeholder, _escape(value))
      texts.append(template)
    return {"inputs": texts[0], "targets": texts[1]}
  return fn


TEXT_SLOTS = {"<Caption_Placeholder>": "caption", "<Frame_Placeholder>": "frames",
              "<Second_Placeholder>": "seconds"}
MOTION_SLOTS = {"<Motion_Placeholder>": "motion", "<Motion_Placeholder_s1>": "motion_s1",
                "<Motion_Placeholder_s2>": "motion_s2",
                "<Motion_Placeholder_Masked>": "motion_masked"}
_MOTION_PLACEHOLDER = re.compile(r"<Motion_Placeholder(?:_s1|_s2|_Masked)?>")
_TEXT_PLACEHOLDER = re.compile(r"<(?:Caption|Frame|Second)_Placeholder>")


def compile_phrasing(vocab, text: str, quote: bool) -> list[tuple]:
  """A phrasing as pieces that tokenize independently: ("ids", [ids]) for its own words,
  ("slot", kind, prefix, suffix) for a word holding a placeholder (prefix and suffix: the
  characters glued to it; a quoted caption adds the quotes), ("slot", motion kind, "", "")."""
  pieces = []
  position = 0
  parts = []
  for m in _MOTION_PLACEHOLDER.finditer(text):
    parts.append((text[position:m.start()], MOTION_SLOTS[m.group(0)]))
    position = m.end()
  parts.append((text[position:], None))
  for segment, motion in parts:
    words = []
    for word in segment.split():
      found = _TEXT_PLACEHOLDER.findall(word)
      if not found:
        words.append(word)
        continue
      if len(found) > 1:
        raise ValueError(f"phrasing {text!r}: two placeholders in the word {word!r}; "
                         f"expected whitespace between placeholders")
      if words:
        pieces.append(("ids", tuple(vocab.text.encode(" ".join(words)))))
        words = []
      prefix, _, suffix = word.partition(found[0])
      kind = TEXT_SLOTS[found[0]]
      if kind == "caption" and quote:
        prefix, suffix = prefix + '"', '"' + suffix
      pieces.append(("slot", kind, prefix, suffix))
    if words:
      pieces.append(("ids", tuple(vocab.text.encode(" ".join(words)))))
    if motion:
      pieces.append(("slot", motion, "", ""))
  return pieces


class CompiledTemplate:
  """One task's phrasings as row indices into [its own words' ids..., the slots' ids...]:
  ``slots`` lists the (kind, prefix, suffix) values ``fill_slots`` tokenizes per example."""

  def __init__(self, vocab, spec: dict):
    self.vocab, self.spec, self._built = vocab, spec, False

  def build(self) -> "CompiledTemplate":
    """Tokenizes the phrasings (once, when a pipeline first needs them: the vocabulary is
    read lazily, as seqio's)."""
    if self._built:
      return self
    vocab, spec = self.vocab, self.spec
    compiled = {"inputs": [compile_phrasing(vocab, t, False) for t in spec["inputs"]],
                "inputs_quoted": [compile_phrasing(vocab, t, True) for t in spec["inputs"]],
                "outputs": [compile_phrasing(vocab, t, False) for t in spec["outputs"]]}
    literals, slots = {}, {}
    for phrasings in compiled.values():
      for pieces in phrasings:
        for piece in pieces:
          if piece[0] == "ids":
            literals.setdefault(piece[1], len(literals))
          else:
            slots.setdefault(piece[1:], len(slots))
    self.literals = list(literals)
    self.slots = list(slots)

    def rows(pieces):
      return [literals[p[1]] if p[0] == "ids" else len(literals) + slots[p[1:]]
              for p in pieces]

    self.recipes = {key: [rows(p) for p in phrasings] for key, phrasings in compiled.items()}
    self._built = True
    return self

  def literal_table(self):
    flat = [i for ids in self.literals for i in ids]
    return tf.RaggedTensor.from_row_lengths(
        tf.constant(flat, tf.int32, shape=[len(flat)]),
        tf.constant([len(ids) for ids in self.literals], tf.int64, shape=[len(self.literals)]))

  def recipe_table(self, key: str):
    return tf.ragged.constant(self.recipes[key], dtype=tf.int32)


def slot_feature(k: int) -> str:
  return f"slot_{k}"


def fill_slots(vocab, template: CompiledTemplate, fps: float):
  """Source examples -> the ids of each of the template's slots (``slot_<k>``), all that a
  phrasing needs besides its own words: deterministic, so it goes before the cache.
  Runs on batches (``preprocessors.batched``); per example, the same ids."""
  mask = protocol.mask_code(vocab.num_motion_codes)

  def fn(batch):
    slots = template.build().slots
    codes = batch["motion"]
    frames = tf.cast(codes.row_lengths(), tf.int32) * protocol.FRAMES_PER_TOKEN
    seconds = tf.cast(frames, tf.float32) / fps
    first, rest = preprocessors.prediction_split_batch(codes)
    values = {"caption": batch["caption"], "frames": tf.strings.as_string(frames),
              "seconds": tf.strings.as_string(seconds, precision=1)}
    motions = {"motion": codes, "motion_s1": first, "motion_s2": rest,
               "motion_masked": preprocessors.inbetween_mask_batch(codes, mask)}
    out = {}
    for k, (kind, prefix, suffix) in enumerate(slots):
      if kind in values:
        out[slot_feature(k)] = pretraining.text_ids(
            vocab, tf.strings.join([prefix, values[kind], suffix]))
      else:
        out[slot_feature(k)] = pretraining.motion_ids(vocab, motions[kind])
    return out
  return preprocessors.batched(fn)


def assemble(template: CompiledTemplate, drop_rate: float = 0.0):
  """Slots -> inputs and targets of a phrasing drawn at random (and the caption quoted in
  the prompt with probability 0.5): after the cache, so every epoch draws again. With
  ``drop_rate`` the whole motion (``<Motion_Placeholder>``) loses its first or last token
  that often (``preprocessors.drop_one_code``, MotionGPT's augmentation)."""

  def preprocess(ds):
    template.build()
    literals = template.literal_table()
    plain, quoted = template.recipe_table("inputs"), template.recipe_table("inputs_quoted")
    outputs = template.recipe_table("outputs")
    n_in, n_out = len(template.recipes["inputs"]), len(template.recipes["outputs"])
    motion = [k for k, slot in enumerate(template.slots) if slot[0] == "motion"]

    @seqio.map_over_dataset(num_seeds=5)
    def fn(ex, seeds):
      i = tf.random.stateless_uniform([], seeds[0], 0, n_in, tf.int32)
      o = tf.random.stateless_uniform([], seeds[1], 0, n_out, tf.int32)
      quote = tf.random.stateless_uniform([], seeds[2]) < 0.5
      values = [ex[slot_feature(k)] for k in range(len(template.slots))]
      if drop_rate and motion:
        values[motion[0]] = preprocessors.drop_one_code(values[motion[0]], seeds[3:5],
                                                        drop_rate)
      slots = tf.ragged.stack(values)
      rows = tf.concat([literals, tf.cast(slots, tf.int32).with_row_splits_dtype(tf.int64)],
                       axis=0)
      recipe = tf.where(quote, quoted[i], plain[i])
      return {"inputs": tf.gather(rows, recipe).flat_values,
              "targets": tf.gather(rows, outputs[o]).flat_values}
    return fn(ds)
  return preprocess


def _postprocess_and_metrics(spec: dict, num_codes: int):
  output = spec["outputs"][0]
  if "<Motion_Placeholder" in output:
    return (functools.partial(task_metrics.postprocess_motion, num_codes=num_codes),
            [task_metrics.motion_token_metrics])
  if "<Caption_Placeholder>" in output:
    return task_metrics.postprocess_text, [task_metrics.caption_metrics]
  return task_metrics.postprocess_number, [task_metrics.number_metrics]


def parse_rates(text: str) -> dict[str, float]:
  """``"m2m_prediction=24,t2m_caption=12"`` -> {template: rate} (config ``data.task_rates``);
  raises ValueError naming the entry that is not ``template=rate`` with a known template and a
  finite rate > 0."""
  known = load_templates()
  rates = {}
  for entry in filter(None, (e.strip() for e in text.split(","))):
    name, _, value = entry.partition("=")
    name = name.strip().removeprefix("motiongpt_instruct_")
    if name not in known:
      raise ValueError(f"data.task_rates: {entry!r}: no instruction template {name!r}; "
                       f"expected one of {', '.join(sorted(known))}")
    try:
      rate = float(value)
    except ValueError:
      rate = math.nan
    if not (math.isfinite(rate) and rate > 0):
      raise ValueError(f"data.task_rates: {entry!r}: expected template=rate with a finite "
                       f"rate > 0")
    rates[name] = rate
  return rates


def register(data_dir: str, tokens_dir: str, spm: str, drop_one_token: float = 0.0,
             core_rate: float = 4.0, task_rates: str = "") -> list[str]:
  """Registers every instruction task (and its ``_eval`` variant) and the two mixtures;
  ``drop_one_token``: the rate of MotionGPT's token-drop augmentation in training tasks
  (``preprocessors.DROP_ONE_TOKEN_RATE`` as the reference; 0 leaves motions whole);
  ``core_rate``: the rate of the four scored tasks in ``motiongpt_instruct_core`` (the
  others have 1); ``task_rates`` (``parse_rates``) sets chosen templates' rates there."""
  rates = parse_rates(task_rates)
  vocab = vocabulary_for_tokens(tokens_dir, spm)
  source = seqio.FunctionDataSource(token_source.dataset_fn(data_dir, tokens_dir),
                                    splits=tuple(token_source.SPLITS))
  fps = float(protocol.FPS)
  if os.path.exists(os.path.join(data_dir, "Mean.npy")):
    from motiongpt_jax.data import humanml3d
    fps = humanml3d.SPECS[humanml3d.detect_kind(data_dir)].fps
  names = []
  for template, spec in load_templates().items():
    postprocess, metrics = _postprocess_and_metrics(spec, vocab.num_motion_codes)
    compiled = CompiledTemplate(vocab, spec)
    for eval_mode in (False, True):
      name = f"motiongpt_instruct_{template}" + ("_eval" if eval_mode else "")
      if eval_mode:  # one phrasing, never quoted: the text itself, kept for inspection
        steps = [fill_template(vocab, spec, fps, True), seqio.preprocessors.tokenize,
                 seqio.CacheDatasetPlaceholder()]
      else:
        steps = [fill_slots(vocab, compiled, fps), seqio.CacheDatasetPlaceholder(),
                 assemble(compiled, drop_one_token)]
      seqio.TaskRegistry.remove(name)
      seqio.TaskRegistry.add(
          name, source=source,
          preprocessors=[*steps, seqio.preprocessors.append_eos_after_trim],
          output_features=pretraining.output_features(vocab),
          postprocess_fn=postprocess, metric_fns=metrics,
          shuffle_buffer_size=token_source.SHUFFLE_BUFFER)
      if not eval_mode:
        names.append(name)
  seqio.MixtureRegistry.remove("motiongpt_instruct")
  seqio.MixtureRegistry.add("motiongpt_instruct", [(n, 1.0) for n in names])
  seqio.MixtureRegistry.remove("motiongpt_instruct_core")
  core = []
  for n in names:
    template = n.removeprefix("motiongpt_instruct_")
    core.append((n, rates.get(template, core_rate if template in CORE_TASKS else 1.0)))
  seqio.MixtureRegistry.add("motiongpt_instruct_core", core)
  return names


register(*pretraining.default_paths())
