"""An export of the shipped English model names it, and the .onnx decodes like the shipped model:
beam search with the shipped LM and tuned alpha/beta by default (the same overrides as the torch
path), giving the torch model's beam + LM text on real speech."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from ds2ray.decode.options import decoder_config_for
from ds2ray.inference.export import export_onnx
from ds2ray.inference.onnx_metadata import SHIPPED_KEY, file_sha256, read_ds2ray_metadata
from ds2ray.pretrained import decoder_defaults, get
from ds2ray.testing.checkpoints import make_untrained_checkpoint

#: Real clips: every 100th line of speechocean762's test split (26 clips).
CLIP_STEP = 100
#: Clips whose beam + LM text may differ between onnxruntime and torch: their float32 log-probs differ
#: by up to ~1e-3 (tests/inference/test_onnx_model.py), which can tip a close call between two beams.
MAX_DIFFERENT_CLIPS = 1


@pytest.fixture(scope="module")
def en_onnx(tmp_path_factory) -> str:
    return export_onnx("en", str(tmp_path_factory.mktemp("en") / "en.onnx")).path


def test_the_export_names_the_shipped_model(en_onnx):
    entry = read_ds2ray_metadata(en_onnx)[SHIPPED_KEY]
    assert entry == {"name": "en", "model_sha256": file_sha256(get("en").checkpoint)}


def test_the_onnx_decodes_like_the_shipped_name_with_the_same_overrides(en_onnx, tmp_path):
    shipped = get("en")
    assert decoder_defaults(en_onnx) == decoder_defaults("en") and decoder_defaults(en_onnx).lm_path == shipped.lm_path
    default = decoder_config_for(en_onnx)
    assert default == decoder_config_for("en") == shipped.beam_config()
    assert (default.type, default.alpha, default.beta) == ("beam", shipped.tuned()["alpha"], shipped.tuned()["beta"])
    assert decoder_config_for(en_onnx, decoder="greedy").type == "greedy"
    tuned = tmp_path / "best.json"
    tuned.write_text(json.dumps({"alpha": 0.25, "beta": 0.5}))
    for kwargs in ({"lm": shipped.lm_path}, {"tuned": str(tuned)}, {"decoder": "beam", "alpha": 1.5}):
        assert decoder_config_for(en_onnx, **kwargs) == decoder_config_for("en", **kwargs), kwargs


def test_other_exports_name_no_model(tmp_path):
    ck = make_untrained_checkpoint(str(tmp_path / "ck"))
    path = export_onnx(ck, str(tmp_path / "tiny.onnx")).path
    assert SHIPPED_KEY not in read_ds2ray_metadata(path)
    assert decoder_defaults(path) is None and decoder_config_for(path).type == "greedy"


def test_an_export_of_other_weights_still_finds_the_lm_with_a_warning(en_onnx, tmp_path, caplog):
    import onnx

    from ds2ray.inference.export import _set_metadata

    model = onnx.load(en_onnx)
    meta = read_ds2ray_metadata(en_onnx)
    _set_metadata(model, {**meta, SHIPPED_KEY: {"name": "en", "model_sha256": "0" * 64}})
    other = tmp_path / "older.onnx"
    onnx.save(model, str(other))
    with caplog.at_level(logging.WARNING):
        assert decoder_defaults(str(other)) == decoder_defaults("en")
    assert "other weights" in caplog.text
    _set_metadata(model, {**meta, SHIPPED_KEY: {"name": "xx", "model_sha256": "0" * 64}})
    gone = tmp_path / "gone.onnx"
    onnx.save(model, str(gone))
    with caplog.at_level(logging.WARNING):
        assert decoder_defaults(str(gone)) is None
    assert "'xx', which is not installed" in caplog.text


def test_onnx_beam_lm_text_matches_torch_on_real_speech(en_onnx, shared_data):
    import soundfile

    from ds2ray.metrics import wer
    from ds2ray.transcribe import load_recognizer

    folder = shared_data / "speechocean762"
    rows = [json.loads(line) for line in (folder / "manifest_test.jsonl").read_text().splitlines()[::CLIP_STEP]]
    audios = [soundfile.read(str(folder / r["audio_filepath"]), dtype="float32")[0] for r in rows]
    onnx_rec, torch_rec = load_recognizer(en_onnx), load_recognizer("en")
    assert onnx_rec.decoder.config == torch_rec.decoder.config and onnx_rec.decoder.lm is not None
    onnx_text, torch_text = onnx_rec.transcribe_batch(audios), torch_rec.transcribe_batch(audios)
    greedy_text = load_recognizer(en_onnx, decoder="greedy").transcribe_batch(audios)
    different = [(o, t) for o, t in zip(onnx_text, torch_text) if o != t]
    assert len(different) <= MAX_DIFFERENT_CLIPS, different
    refs = [r["text"] for r in rows]
    assert abs(wer(refs, onnx_text).rate - wer(refs, torch_text).rate) <= 0.01
    assert greedy_text != onnx_text  # the LM is really in use (greedy decoding reads differently)
    assert np.mean([bool(t) for t in onnx_text]) > 0.9
