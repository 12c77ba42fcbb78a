"""card.json validation and MODEL.md rendering."""

from __future__ import annotations

import pytest

from ds2ray.pretrained.card import REFERENCE_WER, CardError, render_model_card, validate_card

from .conftest import make_card


@pytest.mark.parametrize("changes, fragment", [
    ({"data": []}, "'data' is empty"),
    ({"data": [{"source": "x", "hours": "ten", "licence": "MIT"}]}, "'hours'"),
    ({"data": [{"source": "x", "hours": 1}]}, "'licence'"),
    ({"recipe": ""}, "'recipe'"),
    ({"training": {"steps": 1, "cpu_hours": 1}}, "training.audio_hours_seen"),
    ({"weaknesses": "none"}, "'weaknesses'"),
    ({"results": None}, "'results' is missing"),
    ({"results": {"an4": {"viterbi": {"wer": 1, "cer": 1}}}}, "decoder 'viterbi'"),
    ({"results": {"an4": {"beam": {"wer": 0.5}}}}, r"results\['an4'\]\['beam'\].cer"),
])
def test_bad_cards_name_the_field(changes, fragment):
    card = make_card(**changes)
    if card.get("results") is None:
        card.pop("results")
    with pytest.raises(CardError, match=fragment):
        validate_card(card)


def test_results_may_come_from_measuring():
    card = make_card()
    card.pop("results")
    assert "results" not in validate_card(card, need_results=False)


def test_rendering_lists_sources_results_and_references():
    card = validate_card(make_card(
        name="en", data=[{"source": "LibriSpeech clean-100", "hours": 100.6, "licence": "CC BY 4.0",
                          "url": "https://www.openslr.org/12"},
                         {"source": "synthetic", "hours": 20, "licence": "Apache-2.0"}],
        results={"speechbrain": {"utterances": 14, "greedy": {"wer": 0.61, "cer": 0.3},
                                 "beam": {"wer": 0.52, "cer": 0.27}},
                 "mine": {"greedy": {"wer": 0.2, "cer": 0.1}}},
        lm={"source": "LM text", "licence": "public domain", "order": 4, "prune": "0 1 1 2"}))
    md = render_model_card(card)
    assert "[LibriSpeech clean-100](https://www.openslr.org/12) | 100.6 | CC BY 4.0" in md
    assert "| **total** | **120.6** |" in md
    ref = REFERENCE_WER["speechbrain"]
    assert f"| speechbrain (14) | 0.610 | 0.300 | 0.520 | 0.270 | {ref['pocketsphinx']:.3f} | " \
           f"{ref['whisper_tiny_en']:.3f} |" in md
    assert "| mine | 0.200 | 0.100 | — | — | — | — |" in md
    assert "order 4, pruning `0 1 1 2`" in md and md.startswith("# test model")
