"""The real shipped model in ds2ray/pretrained/: one version, under the size limit, transcribing real speech
as well as its card says. Skips cleanly until the model is packed in, and without ../shared/data.
"""

from __future__ import annotations

import io
import json

import pytest

from ds2ray.pretrained import DEFAULT_MODEL, FILES, MAX_BYTES, PACKAGE_DIR, SEARCH_ENV

#: how far the measured WER may sit from card.json's
WER_TOLERANCE = 0.02


def _model_folders() -> list:
    return sorted(p for p in PACKAGE_DIR.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


@pytest.fixture
def shipped(monkeypatch):
    """The package's own ``en`` (no search-path override)."""
    from ds2ray.pretrained import get

    monkeypatch.delenv(SEARCH_ENV, raising=False)
    if not (PACKAGE_DIR / DEFAULT_MODEL / "model.pt").is_file():
        pytest.skip(f"no shipped model in {PACKAGE_DIR / DEFAULT_MODEL} yet (ds2ray pretrained pack writes it)")
    return get(DEFAULT_MODEL)


def test_exactly_one_complete_model_under_the_size_limit(shipped):
    import torch

    from ds2ray.lm.build import binary_model_type

    assert [p.name for p in _model_folders()] == [DEFAULT_MODEL], "ship exactly one model version"
    files = shipped.files()
    assert set(files) == set(FILES), f"a shipped model folder holds exactly {FILES}"
    assert shipped.size_bytes <= MAX_BYTES, f"{shipped.size_bytes / 1e6:.2f} MB > {MAX_BYTES / 1e6:.0f} MB: {files}"
    raw = torch.load(io.BytesIO((shipped.folder / "model.pt").read_bytes()), weights_only=False)
    assert {v.dtype for k, v in raw["model_state"].items() if v.is_floating_point() and "running_" not in k} \
        == {torch.float16}
    assert binary_model_type(shipped.folder / "lm.bin") == "quant_array_trie", "build_binary -a 22 -q 8 -b 8 trie"
    card = shipped.card()
    assert card["name"] == DEFAULT_MODEL and {"pocketsphinx", "speechbrain"} <= set(card["results"])


def test_en_by_name_transcribes_a_real_recording(shipped, shared_data):
    from ds2ray.data.manifest import read_manifest
    from ds2ray.transcribe import load_recognizer

    entry = read_manifest(str(shared_data / "pocketsphinx" / "manifest.jsonl"))[1]  # "he was not an ill disposed..."
    text = load_recognizer(DEFAULT_MODEL).transcribe_file(entry.audio_filepath)
    print(f"ref: {entry.text}\nhyp: {text}")
    assert text.strip(), "empty transcript"
    assert set(text.split()) & set(entry.text.split()), f"no word right: {text!r} for {entry.text!r}"


@pytest.mark.slow
@pytest.mark.parametrize("set_name", ["pocketsphinx", "speechbrain"])
def test_en_wer_matches_its_card(shipped, shared_data, set_name):
    from ds2ray.pretrained.pack import measure_model

    card = shipped.card()
    expected = card["results"][set_name]["beam"]["wer"]
    measured = measure_model(shipped.folder, shared_data, [set_name], decoders=("beam",))[set_name]["beam"]["wer"]
    print(f"{set_name}: beam + LM WER {measured:.4f}, card {expected:.4f}")
    assert abs(measured - expected) <= WER_TOLERANCE, json.dumps({"measured": measured, "card": expected})
