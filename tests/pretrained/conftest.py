"""Fixtures for the shipped-model tests: a tiny trained model packed into a temporary model store.

The model is the session's ``overfit_model`` (``tests/conftest.py``; greedy decoding reproduces its
three utterances).
``store`` fixtures pack it as ``en`` under a temporary folder and point ``$DS2RAY_PRETRAINED_DIR``
at it, so ``--checkpoint en`` finds it before the package's own (possibly absent) model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ds2ray.pretrained import SEARCH_ENV


def make_card(**changes) -> dict:
    """A valid hand-written card.json."""
    card = {
        "title": "test model",
        "data": [{"source": "espeak-ng, three sentences", "hours": 0.001, "licence": "GPL-3.0 (espeak-ng output)"}],
        "recipe": "ds2ray.testing.overfit.train_overfit(folder)",
        "training": {"steps": 300, "cpu_hours": 0.01, "audio_hours_seen": 0.25},
        "results": {"pocketsphinx": {"greedy": {"wer": 1.0, "cer": 0.9}}},
        "weaknesses": ["knows three sentences"],
    }
    card.update(changes)
    return card


@pytest.fixture(scope="session")
def packed_greedy(overfit_model, tmp_path_factory) -> Path:
    """A model store holding ``en`` without an LM: float16 weights, card, MODEL.md."""
    from ds2ray.pretrained.pack import pack_model

    store = tmp_path_factory.mktemp("store_greedy")
    pack_model(overfit_model.checkpoint, store / "en", card=make_card())
    return store


@pytest.fixture(scope="session")
def lm_files(overfit_model, tmp_path_factory, kenlm_ready) -> tuple[str, str]:
    """An ARPA bigram LM of the overfit sentences and a tuned.json as `ds2ray tune` writes it."""
    from ds2ray.testing.lm import build_tiny_lm

    folder = tmp_path_factory.mktemp("lm")
    arpa = build_tiny_lm(folder, overfit_model.texts, name="words", order=2, language=None, repeat=3,
                         suffix=".arpa").model_path
    tuned = folder / "best.json"
    tuned.write_text(json.dumps({"alpha": 0.7, "beta": 1.2, "lm_path": str(arpa), "beam_width": 16,
                                 "error_rate_type": "wer", "wer": 0.0}))
    return str(arpa), str(tuned)


@pytest.fixture(scope="session")
def packed_with_lm(overfit_model, lm_files, tmp_path_factory) -> Path:
    """A model store holding ``en`` with a quantised trie LM and tuned alpha/beta."""
    from ds2ray.pretrained.pack import pack_model

    store = tmp_path_factory.mktemp("store_lm")
    arpa, tuned = lm_files
    pack_model(overfit_model.checkpoint, store / "en", card=make_card(), lm=arpa, tuned=tuned)
    return store


@pytest.fixture
def use_store(monkeypatch):
    """``use_store(folder)``: shipped models are looked up in ``folder`` first."""
    def use(folder: Path) -> Path:
        monkeypatch.setenv(SEARCH_ENV, str(folder))
        return folder

    return use
