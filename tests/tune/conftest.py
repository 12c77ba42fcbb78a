"""Tuning fixtures: a real KenLM 3-gram built in the session from real sentences, and synthetic
peaky CTC log-probs of some of those sentences with letter confusions, so that alpha and beta
change the decoded text (the grid works on cached log-probs, so no acoustic model is needed)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from ds2ray.data.vocab import Vocabulary

EN = Vocabulary.english()
NUM_DEV = 10  # dev utterances
NUM_LM = 400  # sentences the LM is built from (the dev sentences not among them)


def real_sentences() -> list[str]:
    text = resources.files("ds2ray.resources").joinpath("sentences_en.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


def peaky_log_probs(text: str, vocab: Vocabulary, rng: np.random.Generator, confusion: float = 0.2) -> np.ndarray:
    """``(T, V)`` log-probs spelling normalised ``text``: one frame per character (with probability
    ``confusion`` a wrong letter wins it, the true one a close second), one or two blank frames after
    each, spaces half-confused with blank (so the word bonus matters)."""
    letters = [i for i, c in enumerate(vocab.labels) if c.isalpha()]
    space = vocab.labels.index(" ")
    rows: list[np.ndarray] = []

    def frame(dist: dict[int, float]) -> None:
        row = np.full(vocab.size, 1e-5)
        for k, p in dist.items():
            row[k] += p
        rows.append(row / row.sum())

    frame({0: 0.98})
    prev = None
    for i in vocab.encode(text):
        if i == prev:
            frame({0: 0.98})
        if i == space:
            frame({space: 0.55, 0: 0.45})
        elif rng.random() < confusion:
            wrong = int(rng.choice([k for k in letters if k != i]))
            frame({wrong: 0.55, i: 0.4})
        else:
            frame({i: 0.9, int(rng.choice(letters)): 0.05})
        for _ in range(int(rng.integers(1, 3))):
            frame({0: 0.97})
        prev = i
    return np.log(np.array(rows, np.float32))


@dataclass(frozen=True)
class TuneData:
    log_probs: list[np.ndarray]
    refs: list[str]
    vocab: Vocabulary
    lm_path: str


@pytest.fixture(scope="session")
def tune_data(tmp_path_factory, kenlm_ready) -> TuneData:
    from ds2ray.lm.build import LMBuildConfig, build_lm
    from ds2ray.lm.corpus import prepare_corpus, preprocess_english

    tmp: Path = tmp_path_factory.mktemp("tune_lm")
    sentences = real_sentences()[: NUM_DEV + NUM_LM]
    raw = tmp / "corpus.txt"
    raw.write_text("\n".join(sentences[NUM_DEV:]) + "\n", encoding="utf-8")
    prepare_corpus([raw], tmp / "clean.txt", language="en")
    lm = build_lm(tmp / "clean.txt", tmp / "lm.bin", LMBuildConfig(order=3, memory="64M")).model_path
    refs = [preprocess_english(s) for s in sentences[:NUM_DEV]]
    rng = np.random.default_rng(0)
    return TuneData([peaky_log_probs(r, EN, rng) for r in refs], refs, EN, str(lm))
