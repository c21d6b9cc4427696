"""Importing the released MotionGPT: a stand-in checkpoint with the release's key layout (a
tiny T5 made by ``transformers``, a tiny VQ-VAE in PyTorch, Lightning's dict around them)
becomes a run folder whose outputs equal the PyTorch model's."""

import collections
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from motiongpt_jax import cli, vocab as V
from motiongpt_jax.pipeline import released as IM

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from torch import nn  # noqa: E402

from motiongpt_jax.testing.torch_modules import VQVAE as TorchVQ  # noqa: E402

pytestmark = pytest.mark.xdist_group("import_motiongpt")  # its module fixtures are built once

HERE = os.path.dirname(__file__)
SAMPLE = os.path.join(HERE, "data", "humanml3d_sample", "new_joint_vecs", "012314.npy")
SENTENCES = ["a person walks forward and turns left", "someone jumps twice then sits down",
             "Generate text: the man runs quickly.", "Generate motion: a person waves",
             "Generate motion with 120 frames: a man kicks", "Predict motion:",
             "Complete the masked motion:", "he's waving, isn't he? yes! 'hello'",
             "a person walks in a circle, then stops."]


# ----------------------------------------------------------------- the PyTorch stand-in
class LightningHyperParameters:
  """Stands in for the pickled OmegaConf config: unpickling it with pickle would write a
  file."""

  def __init__(self, path):
    self.path = path

  def __reduce__(self):
    return (os.system, (f"touch {self.path}",))


def evaluator_state_dicts(rng, d=263, word=12, hidden=16):
  def gru(prefix, size):
    out = {}
    for suffix in ("", "_reverse"):
      out[f"gru.weight_ih_l0{suffix}"] = rng.normal(size=(3 * size, size))
      out[f"gru.weight_hh_l0{suffix}"] = rng.normal(size=(3 * size, size))
      out[f"gru.bias_ih_l0{suffix}"] = rng.normal(size=3 * size)
      out[f"gru.bias_hh_l0{suffix}"] = rng.normal(size=3 * size)
    return out

  def sequence(inputs, size, out_size):
    return {"input_emb.weight": rng.normal(size=(size, inputs)),
            "input_emb.bias": rng.normal(size=size), **gru("", size),
            "output_net.0.weight": rng.normal(size=(size, 2 * size)),
            "output_net.0.bias": rng.normal(size=size),
            "output_net.1.weight": rng.normal(size=size), "output_net.1.bias": rng.normal(size=size),
            "output_net.3.weight": rng.normal(size=(out_size, size)),
            "output_net.3.bias": rng.normal(size=out_size), "hidden": rng.normal(size=(2, 1, size))}

  movement = {"main.0.weight": rng.normal(size=(hidden, d - 4, 4)), "main.0.bias": rng.normal(size=hidden),
              "main.3.weight": rng.normal(size=(hidden, hidden, 4)), "main.3.bias": rng.normal(size=hidden),
              "out_net.weight": rng.normal(size=(hidden, hidden)), "out_net.bias": rng.normal(size=hidden)}
  text = {"pos_emb.weight": rng.normal(size=(word, 15)), "pos_emb.bias": rng.normal(size=word),
          **sequence(word, hidden, 8)}
  motion = sequence(hidden, hidden, 8)
  return {"t2m_moveencoder": movement, "t2m_textencoder": text, "t2m_motionencoder": motion}


def flan_sized_spm(prefix):
  """A SentencePiece model of 32,000 pieces (Flan-T5's count), made quickly."""
  import io
  import sentencepiece as spm
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(SENTENCES * 20), model_writer=model, vocab_size=32000,
      model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, num_threads=1,
      user_defined_symbols=[f"w{i}" for i in range(31929)], hard_vocab_limit=False,
      minloglevel=2)
  with open(prefix + ".model", "wb") as f:
    f.write(model.getvalue())
  return prefix + ".model"


def build_standin(root, t5_sizes, vq_sizes, spm_size=200, motion_row_scale=0.1, seed=0):
  """ROOT/flan (config.json + spiece.model, as the user's flan-t5-base folder), ROOT/meta
  (mean/std), ROOT/motiongpt.tar (Lightning's dict), and the PyTorch models."""
  torch.manual_seed(seed)
  os.makedirs(root / "flan", exist_ok=True)
  if spm_size >= 32000:
    spm = flan_sized_spm(str(root / "flan" / "spiece"))
  else:
    spm = V.train_sentencepiece(SENTENCES * 20, str(root / "flan" / "spiece"), spm_size)
  tokenizer = transformers.T5Tokenizer.from_pretrained(str(root / "flan"), legacy=True)
  text_ids = len(tokenizer)
  config = transformers.T5Config(
      vocab_size=-(-text_ids // 128) * 128, feed_forward_proj="gated-gelu",
      tie_word_embeddings=False, dropout_rate=0.0, decoder_start_token_id=0, pad_token_id=0,
      eos_token_id=1, **t5_sizes)
  model = transformers.T5ForConditionalGeneration(config).eval()
  config.to_json_file(str(root / "flan" / "config.json"))
  # As mgpt_lm.py: add the motion tokens, resize the embeddings to len(tokenizer).
  tokenizer.add_tokens([f"<motion_id_{i}>" for i in range(515)])
  model.resize_token_embeddings(len(tokenizer))
  with torch.no_grad():
    if model.lm_head.weight.data_ptr() == model.shared.weight.data_ptr():
      # transformers 5 re-ties the output layer on resizing: untie it, as the release is.
      model.lm_head.weight = nn.Parameter(torch.randn_like(model.shared.weight))
      model.config.tie_word_embeddings = False
    assert model.lm_head.weight.data_ptr() != model.shared.weight.data_ptr()
    # Motion rows score lower, so greedy captions of random weights are text.
    model.lm_head.weight[text_ids:] *= motion_row_scale
  vq = TorchVQ(**vq_sizes).eval()
  rng = np.random.default_rng(seed)
  state = collections.OrderedDict()
  state.update((f"vae.{k}", v) for k, v in vq.state_dict().items())
  state.update((f"lm.language_model.{k}", v) for k, v in model.state_dict().items())
  for metric in ("TM2TMetrics", "M2TMetrics", "MMMetrics"):
    for part, sd in evaluator_state_dicts(np.random.default_rng(1)).items():
      state.update((f"metrics.{metric}.{part}.{k}", torch.tensor(v, dtype=torch.float32))
                   for k, v in sd.items())
  for split in ("losses_train", "losses_val"):
    state[f"_losses.{split}.total"] = torch.tensor(0.0)
  optimizer = {"state": {i: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(2)}
                         for i in range(3)}, "param_groups": [{"lr": 1e-4, "params": [0, 1, 2]}]}
  torch.save({"epoch": 119, "global_step": 1000, "pytorch-lightning_version": "1.9.0",
              "state_dict": state, "optimizer_states": [optimizer], "lr_schedulers": [],
              "hyper_parameters": LightningHyperParameters(root / "code_ran")},
             root / "motiongpt.tar")
  os.makedirs(root / "meta", exist_ok=True)
  np.save(root / "meta" / "mean.npy", rng.normal(size=263).astype(np.float32))
  np.save(root / "meta" / "std.npy", rng.uniform(0.5, 2.0, size=263).astype(np.float32))
  return dict(root=root, spm=spm, tokenizer=tokenizer, model=model, vq=vq, state=state,
              mean=np.load(root / "meta" / "mean.npy"), std=np.load(root / "meta" / "std.npy"))


TINY_T5 = dict(d_model=32, d_kv=8, num_heads=4, d_ff=64, num_layers=2, num_decoder_layers=2)
TINY_VQ = dict(width=32, code_dim=16)


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
  root = tmp_path_factory.mktemp("motiongpt")
  s = build_standin(root, TINY_T5, TINY_VQ)
  s["run"] = str(root / "run")
  assert cli.main(["import-motiongpt", "--checkpoint", str(root / "motiongpt.tar"), "--t5",
                   str(root / "flan"), "--meta", str(root / "meta"), "--out", s["run"]]) == 0
  return s


@pytest.fixture(scope="module")
def loaded(standin):
  from motiongpt_jax.inference import MotionGPT
  return MotionGPT.load(standin["run"])


def reference_ids(tokenizer, prompts):
  """mgpt_lm.py generate_direct's tokenisation: padded to 256, EOS added."""
  enc = tokenizer(prompts, padding="max_length", max_length=256, truncation=True,
                  return_tensors="pt")
  return enc.input_ids, enc.attention_mask


def motion_string(codes):
  return "<motion_id_512>" + "".join(f"<motion_id_{c}>" for c in codes) + "<motion_id_513>"


# ------------------------------------------------------------------------------- tests
def test_vocabulary_matches_transformers(standin):
  tokenizer = standin["tokenizer"]
  vocab = V.MotionTextVocabulary(standin["spm"], 512, text_extra_ids=100)
  assert len(tokenizer) == vocab.vocab_size and vocab.motion_offset == len(tokenizer) - 515
  codes = [3, 511, 0, 77]
  prompts = [p.replace("<Caption_Placeholder>", "a person walks.")
             .replace("<Frame_Placeholder>", "120")
             .replace("<Motion_Placeholder>", motion_string(codes))
             .replace("<Motion_Placeholder_s1>", motion_string(codes[:2]))
             .replace("<Motion_Placeholder_Masked>", motion_string([3, 514, 514, 77]))
             for p in IM.PROMPTS.values()]
  prompts += [f"Describe {motion_string(codes)} and then {motion_string([5])}, please!",
              f'"he waves"{motion_string([1, 2])}twice', motion_string([]) + " ok"]
  for prompt in prompts:
    expected = tokenizer(prompt).input_ids
    assert list(vocab.encode(prompt)) + [1] == expected, prompt


def test_run_folder_and_what_was_skipped(standin, capsys):
  run = standin["run"]
  assert not (standin["root"] / "code_ran").exists()  # the hyper-parameters never ran
  for name in ("config.json", "t5_config.json", "spiece.model", "meta/mean.npy",
               "meta/std.npy", "tokens/tokens.json", "vqvae/config.json", "checkpoints/0",
               "vqvae/checkpoints/0"):
    assert os.path.exists(os.path.join(run, name)), name
  with open(os.path.join(run, "config.json")) as f:
    config = json.load(f)
  assert config["interface"] == "motiongpt" and config["prompts"] == IM.PROMPTS
  assert config["data"]["stats"] == "meta" and config["data"]["tokens"] == "tokens"
  assert config["imported"]["epoch"] == 119
  with open(os.path.join(run, "t5_config.json")) as f:
    t5 = json.load(f)
  rows = len(standin["tokenizer"])
  assert t5["real_vocab_size"] == rows and t5["vocab_size"] == -(-rows // 128) * 128
  assert t5["logits_via_embedding"] is False


def test_import_report_names_the_skipped_parts(standin, tmp_path):
  from motiongpt_jax import pipeline
  report = pipeline.silent()
  result = IM.import_motiongpt(str(standin["root"] / "motiongpt.tar"),
                               str(standin["root"] / "flan"), str(standin["root"] / "meta"),
                               str(tmp_path / "run"), report=report)
  text = "\n".join(result.skipped)
  for part in ("optimizer_states: 6 tensors", "hyper_parameters: a posix.system object",
               "_losses.*: 2", "metrics.*: 126 tensors", "epoch: 119"):
    assert part in text, text
  assert result.has_evaluator_weights and result.evaluator is None
  assert result.vq_model["dilation_growth"] == 3 and result.vq_model["num_codes"] == 512


@pytest.fixture(scope="module")
def short_motion(tmp_path_factory):
  """The first 64 frames of a real HumanML3D motion (16 tokens: short prompts compile
  once)."""
  path = str(tmp_path_factory.mktemp("motion") / "short.npy")
  np.save(path, np.load(SAMPLE)[:64])
  return path


def test_caption_and_greedy_tokens_equal_the_reference(standin, loaded, short_motion, capsys):
  """motion file -> VQ codes -> 'Generate text: <motion>' -> greedy (max_length 40) ->
  batch_decode(skip_special_tokens) with the clean-up of transformers 4.x, in PyTorch; the
  tokens, one step's logits and the caption string all equal ours."""
  import jax.numpy as jnp
  vq, model, tokenizer = standin["vq"], standin["model"], standin["tokenizer"]
  motion = np.load(short_motion).astype(np.float32)
  with torch.no_grad():
    normalised = (motion - standin["mean"]) / standin["std"]
    codes = vq.encode(torch.tensor(normalised)).tolist()
    prompt = "Generate text: " + motion_string(codes)
    ids, mask = reference_ids(tokenizer, [prompt])
    out = model.generate(ids, attention_mask=mask, max_length=40, do_sample=False)
    torch_logits = model(input_ids=ids, attention_mask=mask,
                         decoder_input_ids=out[:, :8]).logits.numpy()
  assert not any(t >= len(tokenizer) - 515 for t in out[0].tolist())  # text only
  expected = tokenizer.batch_decode(out, skip_special_tokens=True,
                                    clean_up_tokenization_spaces=True)[0]
  np.testing.assert_array_equal(loaded.codes_of(motion), codes)
  assert loaded.fill("m2t_caption", Motion_Placeholder=loaded.vocab.motion_string(codes)) == prompt
  ours = loaded._decode([prompt], False, 0, 0, 0.0, 64, 39)[0]
  want = out[0, 1:].numpy()
  np.testing.assert_array_equal(np.asarray(ours)[:len(want)], want)
  assert loaded.caption(motion) == expected
  enc, dec = loaded.encode_prompts([prompt]), np.asarray(out[:, :8])
  logits = loaded.model.apply({"params": loaded.params}, jnp.asarray(enc), jnp.asarray(dec),
                              jnp.asarray(np.maximum(dec, 1)), enable_dropout=False)
  diff = np.abs(np.asarray(logits)[..., :len(tokenizer)] - torch_logits).max()
  print(f"\nT5 logits max abs diff {diff:.2e}; caption {expected[:40]!r}")
  assert diff < 1e-4


def test_vq_decoder_matches_pytorch(standin, loaded):
  codes = np.random.default_rng(3).integers(0, 512, 11)
  with torch.no_grad():
    expected = standin["vq"].decode(torch.tensor(codes)).numpy()
  diff = np.abs(loaded.tokenizer.decode(codes) - expected).max()
  print(f"\nVQ decoder max abs diff {diff:.2e}")
  assert diff < 1e-4


def test_reference_rules_for_reading_motion_codes(loaded):
  from motiongpt_jax.inference import reference_codes
  v = loaded.vocab
  start, end, m = v.motion_start_id, v.motion_end_id, v.motion_offset
  assert reference_codes([m + 5, m + 6, 1], v) == [0]  # no start/end: the fallback
  assert reference_codes([start, m + 5, m + 7, end, m + 9, 1], v) == [5, 7]
  assert reference_codes([start, end, 1], v) == [0]
  assert reference_codes([end, start, m + 3, 1], v) == [0]  # end before start
  assert reference_codes([start, m + 3, v.motion_mask_id, 4, end], v) == [3, 511]  # clamped


def test_generate_on_the_imported_run(loaded):
  """Sampling (top-k 50, up to 127 tokens, unconstrained) and the reference's reading."""
  joints = loaded.generate("a person walks", n=2, seconds=2)
  assert len(joints) == 2 and all(j.shape[1:] == (22, 3) for j in joints)


@pytest.mark.slow
def test_commands_work_on_the_imported_run(standin, short_motion, tmp_path):
  run = standin["run"]
  assert cli.main(["generate", "a person walks", "--workdir", run, "--out",
                   str(tmp_path / "g.npy"), "--seconds", "2"]) == 0
  assert np.load(tmp_path / "g.npy").shape[1:] == (22, 3)
  for command in ("predict", "inbetween"):
    assert cli.main([command, short_motion, "--workdir", run, "--out",
                     str(tmp_path / f"{command}.npy")]) == 0
  assert cli.main(["chat", "Describe <motion>", "--motion", short_motion, "--workdir", run,
                   "--out", str(tmp_path / "chat.npy")]) == 0
  assert cli.main(["caption", short_motion, "--workdir", run]) == 0


def tiny_data(root):
  """One real HumanML3D motion with a caption in the train split (for the tagger)."""
  data = root / "data"
  shutil.copytree(os.path.dirname(os.path.dirname(SAMPLE)), data)
  (data / "texts").mkdir()
  (data / "texts" / "012314.txt").write_text(
      "a person walks forward.#a/DET person/NOUN walk/VERB forward/ADV#0.0#0.0\n")
  for split in ("train", "val", "test"):
    (data / f"{split}.txt").write_text("012314\n")
  return str(data)


def test_evaluator_weights_written_on_request(standin, tmp_path):
  import pickle
  from motiongpt_jax.evaluation import evaluator as E
  glove = tmp_path / "glove"
  glove.mkdir()
  words = ["unk", "sos", "eos", "a", "person", "walk"]
  np.save(glove / "our_vab_data.npy", np.ones((len(words), 12), np.float32))
  with open(glove / "our_vab_words.pkl", "wb") as f:
    pickle.dump(words, f)
  with open(glove / "our_vab_idx.pkl", "wb") as f:
    pickle.dump({w: i for i, w in enumerate(words)}, f)
  out = str(tmp_path / "evaluator")
  assert cli.main(["import-motiongpt", "--checkpoint", str(standin["root"] / "motiongpt.tar"),
                   "--t5", str(standin["root"] / "flan"), "--meta",
                   str(standin["root"] / "meta"), "--out", str(tmp_path / "run"),
                   "--evaluator-out", out, "--glove", str(glove), "--data", tiny_data(tmp_path)]) == 0
  evaluator = E.Evaluator.load(out)
  sd = evaluator_state_dicts(np.random.default_rng(1))
  expected = E.convert_state_dicts(sd["t2m_moveencoder"], sd["t2m_textencoder"],
                                   sd["t2m_motionencoder"])
  np.testing.assert_allclose(evaluator.params["motion_encoder"]["gru"]["weight_hh_l0"],
                             expected["motion_encoder"]["gru"]["weight_hh_l0"], rtol=1e-6)


def _resave(standin, tmp_path, change):
  state = collections.OrderedDict(standin["state"])
  change(state)
  path = tmp_path / "changed.tar"
  torch.save({"state_dict": state}, path)
  return path


@pytest.mark.parametrize("change, message", [
    (lambda s: s.update({"lm.extra.weight": torch.zeros(1)}), r"no place for: lm\.extra\.weight"),
    (lambda s: s.pop("vae.decoder.model.4.bias"), r"missing vae\.decoder\.model\.4\.bias"),
    (lambda s: s.update({"vae.encoder.model.2.1.model.0.conv3.weight": torch.zeros(1)}),
     r"unknown vae\.encoder\.model\.2\.1\.model\.0\.conv3\.weight"),
    (lambda s: s.pop("lm.language_model.decoder.block.1.layer.2.DenseReluDense.wo.weight"),
     r"decoder\.block\.1\.layer\.2\.DenseReluDense\.wo\.weight' is missing"),
    (lambda s: s.update({"lm.language_model.encoder.block.0.layer.0.SelfAttention.x.weight":
                         torch.zeros(1)}), r"no place for: encoder\.block\.0\.layer\.0\.Self"),
])
def test_unknown_or_missing_weights_are_named(standin, tmp_path, change, message):
  from motiongpt_jax import pipeline
  path = _resave(standin, tmp_path, change)
  with pytest.raises(ValueError, match=message):
    IM.import_motiongpt(str(path), str(standin["root"] / "flan"),
                        str(standin["root"] / "meta"), str(tmp_path / "run"),
                        report=pipeline.silent())
  assert not (tmp_path / "run").exists()


def test_inputs_are_checked(standin, tmp_path, capsys):
  root = standin["root"]
  bad_t5 = tmp_path / "t5"
  bad_t5.mkdir()
  shutil.copy(root / "flan" / "config.json", bad_t5)
  args = ["import-motiongpt", "--checkpoint", str(root / "motiongpt.tar"), "--meta",
          str(root / "meta"), "--out", str(tmp_path / "run")]
  assert cli.main(args + ["--t5", str(bad_t5)]) == 2
  assert "spiece.model: missing" in capsys.readouterr().err
  other = tmp_path / "other"  # a SentencePiece model of another size
  other.mkdir()
  shutil.copy(root / "flan" / "config.json", other)
  V.train_sentencepiece(SENTENCES * 20, str(other / "spiece"), 60)
  assert cli.main(args + ["--t5", str(other)]) == 2
  assert re.search(r"embedding has \d+ rows, but .*spiece.model gives", capsys.readouterr().err)
  assert cli.main(args[:-2] + ["--out", standin["run"], "--t5", str(root / "flan")]) == 2
  assert "not empty" in capsys.readouterr().err


# --------------------------------------------------------------------------- full size
FLAN_T5_BASE = dict(d_model=768, d_kv=64, num_heads=12, d_ff=2048, num_layers=12,
                    num_decoder_layers=12)


@pytest.mark.slow
def test_full_size_import(tmp_path):
  """Flan-T5-base and the 512-wide VQ-VAE (random weights, the release's shapes) with a
  32,000-piece vocabulary: import time and peak memory of the command, then parity."""
  s = build_standin(tmp_path, FLAN_T5_BASE, dict(width=512, code_dim=512), spm_size=32000)
  size = os.path.getsize(tmp_path / "motiongpt.tar") / 2 ** 20
  start = time.time()
  proc = subprocess.run(
      [sys.executable, "-m", "motiongpt_jax.cli", "import-motiongpt", "--checkpoint",
       str(tmp_path / "motiongpt.tar"), "--t5", str(tmp_path / "flan"), "--meta",
       str(tmp_path / "meta"), "--out", str(tmp_path / "run")], capture_output=True, text=True)
  seconds = time.time() - start
  assert proc.returncode == 0, proc.stderr[-2000:]
  peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2 ** 20
  print(f"\nfull-size import of a {size:.0f} MiB checkpoint ({len(s['tokenizer'])} ids): "
        f"{seconds:.1f}s, peak RSS {peak:.2f} GiB")
  from motiongpt_jax.inference import MotionGPT
  loaded = MotionGPT.load(str(tmp_path / "run"))
  codes = np.arange(0, 512, 37)
  with torch.no_grad():
    expected = s["vq"].decode(torch.tensor(codes)).numpy()
  print(f"VQ decoder max abs diff {np.abs(loaded.tokenizer.decode(codes) - expected).max():.2e}")
  assert np.abs(loaded.tokenizer.decode(codes) - expected).max() < 1e-3
  prompt = "Generate text: " + motion_string(codes)
  ids, mask = reference_ids(s["tokenizer"], [prompt])
  with torch.no_grad():
    want = s["model"].generate(ids, attention_mask=mask, max_length=12, do_sample=False)
  got = loaded._decode([prompt], False, 0, 0, 0.0, 1, 11)[0]
  np.testing.assert_array_equal(np.asarray(got)[:want.shape[1] - 1], want[0, 1:].numpy())
