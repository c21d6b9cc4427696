"""Word vectors and part-of-speech one-hots for the evaluator's text encoder (Guo et al. 2022).

Captions arrive as HumanML3D's ``word/POS`` tokens. Each token becomes a word vector (the
vector of ``unk`` for an unknown word) and a 15-way one-hot: the spaCy POS tag, replaced by a
"VIP" class for location, body-part, object, action and manner words, and OTHER for unknown
words. Sequences are ``sos`` + up to 20 tokens + ``eos``, padded with ``unk`` to 22, with
their true length kept. These constants are the ones of the reference's word_vectorizer.

Vectors come from either GloVe files in the reference's layout (``our_vab_data.npy``,
``our_vab_words.pkl``, ``our_vab_idx.pkl``, read with a pickle loader that only builds lists,
dicts and strings), or a vocabulary of the training captions whose vectors the evaluator
learns (``WordVocabulary.from_captions``).
"""

from __future__ import annotations

import io
import re
import os
import pickle

import numpy as np

POS = ("VERB", "NOUN", "DET", "ADP", "NUM", "AUX", "PRON", "ADJ", "ADV",
       "Loc_VIP", "Body_VIP", "Obj_VIP", "Act_VIP", "Desc_VIP", "OTHER")
POS_INDEX = {p: i for i, p in enumerate(POS)}
VIP = {
    "Loc_VIP": ("left", "right", "clockwise", "counterclockwise", "anticlockwise", "forward",
                "back", "backward", "up", "down", "straight", "curve"),
    "Body_VIP": ("arm", "chin", "foot", "feet", "face", "hand", "mouth", "leg", "waist", "eye",
                 "knee", "shoulder", "thigh"),
    "Obj_VIP": ("stair", "dumbbell", "chair", "window", "floor", "car", "ball", "handrail",
                "baseball", "basketball"),
    "Act_VIP": ("walk", "run", "swing", "pick", "bring", "kick", "put", "squat", "throw", "hop",
                "dance", "jump", "turn", "stumble", "stop", "sit", "lift", "lower", "raise",
                "wash", "stand", "kneel", "stroll", "rub", "bend", "balance", "flap", "jog",
                "shuffle", "lean", "rotate", "spin", "spread", "climb"),
    "Desc_VIP": ("slowly", "carefully", "fast", "careful", "slow", "quickly", "happy", "angry",
                 "sad", "happily", "angrily", "sadly"),
}
VIP_CLASS = {word: cls for cls, ws in VIP.items() for word in ws}
MAX_TEXT_LENGTH = 20  # tokens, before sos/eos


class WordError(ValueError):
  pass


class _ListsAndDictsOnly(pickle.Unpickler):
  """Refuses every global: a vocabulary pickle holds only lists, dicts, strings and ints."""

  def find_class(self, module, name):
    raise WordError(f"refusing to load {module}.{name} from a vocabulary pickle (only lists, "
                    f"dicts, strings and numbers are expected)")


def _load_plain_pickle(path: str):
  with open(path, "rb") as f:
    return _ListsAndDictsOnly(io.BytesIO(f.read())).load()


class WordVocabulary:
  """word -> row of a [V, D] vector table (``unk``, ``sos``, ``eos`` included)."""

  def __init__(self, words: list[str], vectors: np.ndarray | None, learned: bool):
    self.words = list(words)
    self.index = {w: i for i, w in enumerate(self.words)}
    for needed in ("unk", "sos", "eos"):
      if needed not in self.index:
        raise WordError(f"the vocabulary has no {needed!r} entry")
    self.vectors = vectors
    self.learned = learned

  @property
  def size(self) -> int:
    return len(self.words)

  @classmethod
  def from_captions(cls, token_lists, min_count: int = 1) -> "WordVocabulary":
    counts: dict[str, int] = {}
    for tokens in token_lists:
      for token in tokens:
        word = token.split("/")[0]
        counts[word] = counts.get(word, 0) + 1
    kept = sorted(w for w, c in counts.items() if c >= min_count and w not in
                  ("unk", "sos", "eos"))
    return cls(["unk", "sos", "eos"] + kept, None, learned=True)

  @classmethod
  def from_glove(cls, folder: str, prefix: str = "our_vab") -> "WordVocabulary":
    """The reference's GloVe files: <prefix>_data.npy [V, 300], _words.pkl, _idx.pkl."""
    paths = {k: os.path.join(folder, f"{prefix}_{k}") for k in
             ("data.npy", "words.pkl", "idx.pkl")}
    for path in paths.values():
      if not os.path.exists(path):
        raise WordError(f"{path}: missing (expected the GloVe files {prefix}_data.npy, "
                        f"{prefix}_words.pkl and {prefix}_idx.pkl)")
    vectors = np.load(paths["data.npy"], allow_pickle=False)
    words = _load_plain_pickle(paths["words.pkl"])
    index = _load_plain_pickle(paths["idx.pkl"])
    if not isinstance(words, list) or not isinstance(index, dict):
      raise WordError(f"{folder}: expected a list of words and a word->row dict")
    if vectors.ndim != 2 or len(vectors) != len(words):
      raise WordError(f"{paths['data.npy']}: {vectors.shape} vectors for {len(words)} words")
    ordered = [None] * len(words)
    for word, row in index.items():
      ordered[row] = word
    return cls(ordered, vectors.astype(np.float32), learned=False)

  def encode(self, tokens) -> tuple[np.ndarray, np.ndarray, int]:
    """(word ids [22], POS one-hots [22, 15], length) of one caption's ``word/POS`` tokens."""
    tokens = list(tokens)[:MAX_TEXT_LENGTH]
    ids, pos = [self.index["sos"]], [POS_INDEX["OTHER"]]
    for token in tokens:
      word, _, tag = token.partition("/")
      if word in self.index:
        ids.append(self.index[word])
        pos.append(POS_INDEX.get(VIP_CLASS.get(word, tag), POS_INDEX["OTHER"]))
      else:
        ids.append(self.index["unk"])
        pos.append(POS_INDEX["OTHER"])
    ids.append(self.index["eos"])
    pos.append(POS_INDEX["OTHER"])
    length = len(ids)
    pad = MAX_TEXT_LENGTH + 2 - length
    ids += [self.index["unk"]] * pad
    pos += [POS_INDEX["OTHER"]] * pad
    return np.asarray(ids, np.int32), np.eye(len(POS), dtype=np.float32)[pos], length

  def encode_batch(self, token_lists):
    encoded = [self.encode(t) for t in token_lists]
    return (np.stack([e[0] for e in encoded]), np.stack([e[1] for e in encoded]),
            np.asarray([e[2] for e in encoded], np.int32))

  def save(self, path: str) -> None:
    with open(path, "w") as f:
      f.write("\n".join(self.words) + "\n")

  @classmethod
  def load_words(cls, path: str) -> "WordVocabulary":
    with open(path) as f:
      return cls([w for w in f.read().split("\n") if w], None, learned=True)


class Tagger:
  """``word/POS`` tokens for free text (a generated caption) without spaCy.

  The data's captions come with their tokens (lemma/POS, one per word for HumanML3D's spaCy
  output); a surface word -> most frequent token table learnt from them tags new text. Words
  never seen become ``word/OTHER``, which the encoder treats as unknown.
  """

  def __init__(self, table: dict[str, str]):
    self.table = dict(table)

  @classmethod
  def from_captions(cls, captions) -> "Tagger":
    """From (text, tokens) pairs; captions whose words and tokens do not align are skipped."""
    counts: dict[str, dict[str, int]] = {}
    for text, tokens in captions:
      surface = split_words(text)
      if len(surface) != len(tokens):
        continue
      for word, token in zip(surface, tokens):
        counts.setdefault(word, {}).setdefault(token, 0)
        counts[word][token] += 1
    return cls({w: max(c, key=c.get) for w, c in counts.items()})

  def tag(self, text: str) -> list[str]:
    return [self.table.get(w, f"{w}/OTHER") for w in split_words(text)]


def split_words(text: str) -> list[str]:
  return re.findall(r"[a-z0-9]+", text.lower())
