"""Tuning fixtures: a real KenLM 3-gram built in the session from real sentences, and synthetic
peaky CTC log-probs of some of those sentences with letter confusions, so that alpha and beta
change the decoded text (the grid works on cached log-probs, so no acoustic model is needed)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from ds2ray.data.english_text import builtin_sentences
from ds2ray.data.vocab import Vocabulary
from ds2ray.testing.lm import build_tiny_lm
from ds2ray.testing.logprobs import synthetic_log_probs

EN = Vocabulary.english()
NUM_DEV = 10  # dev utterances
NUM_LM = 400  # sentences the LM is built from (the dev sentences not among them)


@dataclass(frozen=True)
class TuneData:
    log_probs: list[np.ndarray]
    refs: list[str]
    vocab: Vocabulary
    lm_path: str


@pytest.fixture(scope="session")
def tune_data(tmp_path_factory, kenlm_ready) -> TuneData:
    from ds2ray.lm.corpus import preprocess_english

    sentences = list(builtin_sentences())[: NUM_DEV + NUM_LM]
    lm = build_tiny_lm(tmp_path_factory.mktemp("tune_lm"), sentences[NUM_DEV:]).model_path
    refs = [preprocess_english(s) for s in sentences[:NUM_DEV]]
    rng = np.random.default_rng(0)
    return TuneData([synthetic_log_probs(r, EN, rng, "confusable") for r in refs], refs, EN, str(lm))
