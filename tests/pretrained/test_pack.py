"""``ds2ray pretrained pack``: float16 weights, quantised trie LM, tuned.json, card, size limit."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
import torch

from ds2ray.model.checkpoint import load_checkpoint
from ds2ray.pretrained import FILES, MAX_BYTES
from ds2ray.pretrained.pack import PackTooLargeError, compare_precision, pack_model

from .conftest import make_card


def _raw_state(folder: Path) -> dict:
    return torch.load(io.BytesIO((folder / "model.pt").read_bytes()), weights_only=False)["model_state"]


def test_weights_are_stored_float16_and_load_as_float32(overfit_model, packed_greedy):
    folder = packed_greedy / "en"
    raw = _raw_state(folder)
    buffers = {k for k in raw if k.endswith(("running_mean", "running_var"))}  # stay float32
    floats = {k: v for k, v in raw.items() if v.is_floating_point() and k not in buffers}
    assert floats and {v.dtype for v in floats.values()} == {torch.float16}
    assert buffers and {raw[k].dtype for k in buffers} == {torch.float32}
    loaded = load_checkpoint(str(folder)).model_state
    assert {loaded[k].dtype for k in floats} == {torch.float32}
    original = load_checkpoint(overfit_model.checkpoint).model_state
    for k, v in floats.items():  # the float16 copy is the float32 weights rounded
        assert torch.allclose(loaded[k], original[k], rtol=1e-3, atol=1e-4), k
    assert (folder / "model.pt").stat().st_size < 0.6 * Path(overfit_model.checkpoint, "model.pt").stat().st_size


def test_float16_gives_the_same_greedy_output_and_close_log_probs(overfit_model, packed_greedy):
    from ds2ray.testing.overfit import codec_variants

    audios = [v for w in overfit_model.waves for v in codec_variants(w)]
    check = compare_precision(overfit_model.checkpoint, str(packed_greedy / "en"), audios)
    print(f"float16 vs float32 over {check['utterances']} clips: {check}")
    assert check["greedy_identical"] and check["differing"] == 0
    # measured: max 0.015-0.027 depending on the trained model (always at log-probs near -20, where logits
    # are largest and float16 rounding of the weights moves them most), mean 0.001; probabilities 0.0016
    assert check["max_abs_log_prob_diff"] < 5e-2 and check["mean_abs_log_prob_diff"] < 2e-3
    assert check["max_abs_prob_diff"] < 5e-3


def test_pack_writes_the_model_card(packed_greedy):
    folder = packed_greedy / "en"
    assert {p.name for p in folder.iterdir()} == {"model.pt", "card.json", "MODEL.md"}  # no LM given
    card = json.loads((folder / "card.json").read_text())
    assert card["name"] == "en" and card["model"]["parameters"] > 0 and "GRU" in card["model"]["architecture"]
    sizes = card["sizes"]
    assert sizes["model.pt"] == (folder / "model.pt").stat().st_size
    assert sizes["total"] == sum(p.stat().st_size for p in folder.iterdir()) and card["max_bytes"] == MAX_BYTES
    md = (folder / "MODEL.md").read_text()
    for fragment in ("## Training data", "espeak-ng, three sentences", "GPL-3.0", "ds2ray.testing.overfit.train_overfit",
                     "CPU-hours: 0.0", "audio-hours seen: 0.2", "| pocketsphinx | 1.000 | 0.900 | — | — | 0.210 | 0.150 |",
                     "Whisper tiny.en", "knows three sentences", "`model.pt`: ", "limit 20.0 MB"):
        assert fragment in md, fragment


def test_pack_builds_a_quantised_trie_and_a_portable_tuned_json(packed_with_lm, overfit_model):
    folder = packed_with_lm / "en"
    assert {p.name for p in folder.iterdir()} == set(FILES)
    from ds2ray.lm.build import binary_model_type

    assert binary_model_type(folder / "lm.bin") == "quant_array_trie"
    words = (folder / "lm.unigrams.txt").read_text().split()
    assert sorted(words) == sorted({w for t in overfit_model.texts for w in t.split()})
    tuned = json.loads((folder / "tuned.json").read_text())
    assert (tuned["alpha"], tuned["beta"], tuned["beam_width"]) == (0.7, 1.2, 16) and "lm_path" not in tuned
    card = json.loads((folder / "card.json").read_text())
    assert "trie" in card["lm"]["format"] and card["lm"]["ngrams"][1] > 0 and card["tuned"]["alpha"] == 0.7
    assert "alpha 0.7, beta 1.2, beam width 16" in (folder / "MODEL.md").read_text()


def test_pack_refuses_past_the_size_limit_and_keeps_the_old_model(overfit_model, tmp_path):
    out = tmp_path / "en"
    with pytest.raises(PackTooLargeError, match=r"over the .* limit .*model\.pt .*Nothing was written"):
        pack_model(overfit_model.checkpoint, out, card=make_card(), max_bytes=10_000)
    assert not out.exists() and os.listdir(tmp_path) == []  # no temp folder left either
    pack_model(overfit_model.checkpoint, out, card=make_card())
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(PackTooLargeError):
        pack_model(overfit_model.checkpoint, out, card=make_card(title="new"), max_bytes=10_000)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(os.listdir(tmp_path)) == ["en"]


def test_pack_checks_its_inputs(overfit_model, tmp_path):
    from ds2ray.pretrained.card import CardError

    with pytest.raises(CardError, match="training.cpu_hours"):
        pack_model(overfit_model.checkpoint, tmp_path / "en",
                   card=make_card(training={"steps": 1, "audio_hours_seen": 1}))
    with pytest.raises(ValueError, match="must look like 'en'"):
        pack_model(overfit_model.checkpoint, tmp_path / "En.v2", card=make_card())
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="notes.txt, which a model folder never does"):
        pack_model(overfit_model.checkpoint, tmp_path / "busy", card=make_card())
    with pytest.raises(ValueError, match="--tuned without --lm"):
        pack_model(overfit_model.checkpoint, tmp_path / "en", card=make_card(), tuned={"alpha": 1, "beta": 1})


def test_pack_command_measures_the_packed_model(overfit_model, lm_files, tmp_path, capsys, monkeypatch):
    from ds2ray.cli import main
    from ds2ray.data.audio import audio_info
    from ds2ray.pretrained import SEARCH_ENV

    data = tmp_path / "data" / "pocketsphinx"  # a stand-in for ../shared/data/pocketsphinx
    data.mkdir(parents=True)
    folder = os.path.dirname(overfit_model.checkpoint)
    with open(data / "manifest.jsonl", "w") as fh:
        for i, text in enumerate(overfit_model.texts):
            wav = os.path.join(folder, f"utt{i}.wav")
            fh.write(json.dumps({"audio_filepath": wav, "duration": audio_info(wav).duration, "text": text}) + "\n")
    card = tmp_path / "card.json"
    card.write_text(json.dumps(make_card(results=None)))
    arpa, tuned = lm_files
    out = tmp_path / "store" / "en"
    assert main(["pretrained", "pack", "--checkpoint", overfit_model.checkpoint, "--lm", arpa, "--tuned", tuned,
                 "--card", str(card), "--out", str(out), "--measure", str(tmp_path / "data"),
                 "--measure-sets", "pocketsphinx"]) == 0
    printed = capsys.readouterr().out
    assert "greedy identical" in printed and "pocketsphinx: greedy WER 0.000" in printed
    packed = json.loads((out / "card.json").read_text())
    assert packed["results"]["pocketsphinx"] == {"utterances": 3, "greedy": {"wer": 0.0, "cer": 0.0},
                                                 "beam": {"wer": 0.0, "cer": 0.0}}
    assert packed["fp16_check"]["greedy_identical"] and packed["fp16_check"]["utterances"] == 3
    monkeypatch.setenv(SEARCH_ENV, str(out.parent))
    assert main(["pretrained", "list"]) == 0
    assert capsys.readouterr().out.startswith("en\t")


def test_a_binary_lm_is_copied_with_its_word_list(overfit_model, lm_files, tmp_path, caplog):
    import logging

    from ds2ray.testing.lm import build_tiny_lm

    binary = build_tiny_lm(tmp_path / "lm", overfit_model.texts, name="words", order=2, language=None,
                           repeat=3).model_path
    _, tuned = lm_files
    with caplog.at_level(logging.WARNING, logger="ds2ray.pretrained.pack"):
        result = pack_model(overfit_model.checkpoint, tmp_path / "store" / "en", card=make_card(), lm=str(binary),
                            tuned=tuned)
    assert "probing binary, copied as is" in caplog.text
    assert result.card["lm"]["format"] == "probing binary (copied as given)"
    assert (result.folder / "lm.bin").read_bytes() == binary.read_bytes()
    assert (result.folder / "lm.unigrams.txt").read_text() == (tmp_path / "lm" / "words.unigrams.txt").read_text()
