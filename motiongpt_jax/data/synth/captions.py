"""Captions of procedural motions, and HumanML3D's ``word/POS`` token strings for them.

HumanML3D tags captions with spaCy (universal POS tags; nouns and verbs lemmatised except
"left"; tokens that are not purely alphabetic dropped). The procedural captions use a
closed vocabulary, so a lexicon gives the same kind of tags exactly and needs no model.
"""

from __future__ import annotations

import re

import numpy as np

SUBJECTS = ("a person", "a man", "a woman", "someone", "the person", "a figure")
JOIN_TWO = ("{a}, then {b}", "{a} and then {b}", "{a}, after that {b}", "first {a}, then {b}")
JOIN_THREE = ("{a}, then {b}, and finally {c}", "{a}, {b} and then {c}",
              "first {a}, then {b}, then {c}")

# word -> (lemma, POS). Words not listed are an error: add them when adding phrasings.
_LEXICON_TEXT = """
a:DET the:DET an:DET person:NOUN man:NOUN woman:NOUN someone:PRON figure:NOUN
then:ADV and:CCONJ after:ADP that:PRON first:ADV finally:ADV for:ADP with:ADP to:ADP
in:ADP on:ADP of:ADP at:ADP into:ADP above:ADP until:SCONJ while:SCONJ it:PRON them:PRON
walks=walk:VERB walking=walk:VERB takes=take:VERB steps=step:NOUN step=step:NOUN
forward:ADV backwards:ADV slowly:ADV quickly:ADV normal:ADJ pace:NOUN straight:ADJ
line:NOUN curving=curve:VERB curve:NOUN left:ADJ right:ADJ jogs=jog:VERB runs=run:VERB
sprints=sprint:VERB ahead:ADV jogging=jog:VERB running=run:VERB sprinting=sprint:VERB
sideways:ADV times=time:NOUN side:NOUN shuffles=shuffle:VERB turns=turn:VERB around:ADV
all:DET way:NOUN towards:ADP facing=face:VERB opposite:ADJ direction:NOUN ninety:NUM
degrees=degree:NOUN face:VERB makes=make:VERB quarter:NOUN turn:NOUN spins=spin:VERB
once:ADV does=do:VERB full:ADJ one:NUM foot:NOUN pirouettes=pirouette:VERB arms=arm:NOUN
out:ADV stumbles=stumble:VERB catches=catch:VERB balance:NOUN trips=trip:VERB
recovers=recover:VERB regains=regain:VERB jumps=jump:VERB jump:NOUN place:NOUN twice:ADV
little:ADJ high:ADV small:ADJ big:ADJ hops=hop:VERB leg:NOUN stands=stand:VERB
jumping:VERB jacks=jack:NOUN performs=perform:VERB spreading=spread:VERB legs=leg:NOUN
squat:NOUN squats=squat:VERB half:ADJ deep:ADJ down:ADV deeply:ADV halfway:ADV
bends=bend:VERB knees=knee:NOUN knee:NOUN sits=sit:VERB back:ADV up:ADV stays=stay:VERB
seated:ADJ gets=get:VERB again:ADV lowers=lower:VERB sitting:NOUN position:NOUN
stands:VERB bows=bow:VERB slightly:ADV waist:NOUN straightens=straighten:VERB bow:NOUN
waves=wave:VERB hands=hand:NOUN hand:NOUN head:NOUN shoulder:NOUN height:NOUN
raises=raise:VERB hello:INTJ both:DET arm:NOUN lifts=lift:VERB holds=hold:VERB
moment:NOUN throws=throw:VERB punches=punch:NOUN fists=fist:NOUN fist:NOUN
alternating=alternate:VERB turn:NOUN boxes=box:VERB punching=punch:VERB kicks=kick:VERB
kick:NOUN claps=clap:VERB front:NOUN chest:NOUN brings=bring:VERB together:ADV
clapping=clap:VERB leans=lean:VERB stretches=stretch:VERB overhead:ADV stretch:NOUN
something:PRON overhand:ADV winds=wind:VERB throwing:NOUN motion:NOUN marches=march:VERB
spot:NOUN lifting=lift:VERB keeping=keep:VERB balances=balance:VERB while:NOUN
looks=look:VERB torso:NOUN dances=dance:VERB sways=sway:VERB dancing=dance:VERB
dance:NOUN stepping=step:VERB is:AUX its:PRON slow:ADJ fast:ADJ from:ADP once:ADV
two:NUM three:NUM four:NUM five:NUM six:NUM seven:NUM eight:NUM nine:NUM ten:NUM
eleven:NUM twelve:NUM sit:VERB
"""


def _parse_lexicon(text: str) -> dict[str, tuple[str, str]]:
  lex = {}
  for item in text.split():
    word, pos = item.rsplit(":", 1)
    word, _, lemma = word.partition("=")
    lex[word] = (lemma or word, pos)
  return lex


LEXICON = _parse_lexicon(_LEXICON_TEXT)


def pos_tokens(caption: str) -> str:
  """The ``word/POS`` string of a caption, in HumanML3D's format."""
  out = []
  for word in re.findall(r"[A-Za-z]+", caption.replace("-", "")):
    entry = LEXICON.get(word.lower())
    if entry is None:
      raise KeyError(f"word {word!r} of caption {caption!r} is not in the caption lexicon")
    out.append(f"{entry[0]}/{entry[1]}")
  return " ".join(out)


def sentence(subject: str, phrases: list[str], rng: np.random.Generator) -> str:
  """Joins the phrases of consecutive segments after a subject into one caption."""
  if len(phrases) == 1:
    body = phrases[0]
  elif len(phrases) == 2:
    body = JOIN_TWO[int(rng.integers(len(JOIN_TWO)))].format(a=phrases[0], b=phrases[1])
  else:
    body = JOIN_THREE[int(rng.integers(len(JOIN_THREE)))].format(
        a=phrases[0], b=phrases[1], c=", ".join(phrases[2:]))
  if body.startswith("first "):
    return f"{subject} first {body[6:]}."
  return f"{subject} {body}."


def captions_for(segment_phrases: list[list[str]], rng: np.random.Generator,
                 count: int = 3) -> list[str]:
  """``count`` different captions; segment_phrases[i] are the phrasings of segment i."""
  captions: list[str] = []
  for attempt in range(50):
    k = (len(captions) + attempt) % 3
    chosen = [p[(k + int(rng.integers(2)) * (attempt > 2)) % len(p)] for p in segment_phrases]
    subject = SUBJECTS[int(rng.integers(len(SUBJECTS)))]
    cap = sentence(subject, chosen, rng)
    if cap not in captions:
      captions.append(cap)
    if len(captions) == count:
      break
  return captions
