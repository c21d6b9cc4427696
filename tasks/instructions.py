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
(text-to-motion, motion-to-text, prediction, in-between) at rate 4 and the rest at 1, so a
small training budget (the CPU demo) goes mostly where it is measured.
"""

from __future__ import annotations

import json
import os

import seqio
import tensorflow as tf

import functools

from motiongpt_jax import protocol
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


def _postprocess_and_metrics(spec: dict, num_codes: int):
  output = spec["outputs"][0]
  if "<Motion_Placeholder" in output:
    return (functools.partial(task_metrics.postprocess_motion, num_codes=num_codes),
            [task_metrics.motion_token_metrics])
  if "<Caption_Placeholder>" in output:
    return task_metrics.postprocess_text, [task_metrics.caption_metrics]
  return task_metrics.postprocess_number, [task_metrics.number_metrics]


def register(data_dir: str, tokens_dir: str, spm: str) -> list[str]:
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
    for eval_mode in (False, True):
      name = f"motiongpt_instruct_{template}" + ("_eval" if eval_mode else "")
      seqio.TaskRegistry.remove(name)
      seqio.TaskRegistry.add(
          name, source=source,
          preprocessors=[fill_template(vocab, spec, fps, eval_mode),
                         seqio.preprocessors.tokenize,
                         seqio.preprocessors.append_eos_after_trim],
          output_features=pretraining.output_features(vocab),
          postprocess_fn=postprocess, metric_fns=metrics)
      if not eval_mode:
        names.append(name)
  seqio.MixtureRegistry.remove("motiongpt_instruct")
  seqio.MixtureRegistry.add("motiongpt_instruct", [(n, 1.0) for n in names])
  seqio.MixtureRegistry.remove("motiongpt_instruct_core")
  seqio.MixtureRegistry.add("motiongpt_instruct_core",
                            [(n, 4.0 if n.removeprefix("motiongpt_instruct_") in CORE_TASKS
                              else 1.0) for n in names])
  return names


register(*pretraining.default_paths())
