"""Real KenLM models built in the test session with lmplz/build_binary (skips when KenLM is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ds2ray.data.vocab import Vocabulary

EN_CORPUS = [
    "the cat sat on the mat",
    "the cat ate the fish",
    "a cat and a dog",
    "the dog sat on the cat",
    "my cat likes the mat",
    "the fish sat in the bowl",
    "a dog ate my fish",
    "the bowl is on the mat",
]
ZH_CORPUS = ["今天天气很好", "天气很好我们出去", "我们今天出去玩", "今天很好", "好天气"]


def _build(tmp: Path, lines: list[str], language: str, name: str, order: int = 3) -> Path:
    from ds2ray.lm.build import LMBuildConfig, build_lm
    from ds2ray.lm.corpus import prepare_corpus

    raw = tmp / f"{name}.raw.txt"
    raw.write_text("\n".join(lines * 3) + "\n", encoding="utf-8")
    clean = tmp / f"{name}.clean.txt"
    prepare_corpus([raw], clean, language=language)
    out = tmp / f"{name}.bin"
    build_lm(clean, out, LMBuildConfig(order=order, memory="64M"), keep_arpa=True)
    return out


@pytest.fixture(scope="session")
def en_lm(tmp_path_factory, kenlm_ready) -> Path:
    """A 3-gram English word LM (binary, with lm.arpa and lm.unigrams.txt beside it)."""
    return _build(tmp_path_factory.mktemp("en_lm"), EN_CORPUS, "en", "en")


@pytest.fixture(scope="session")
def zh_lm(tmp_path_factory, kenlm_ready) -> Path:
    """A 3-gram Mandarin character LM."""
    return _build(tmp_path_factory.mktemp("zh_lm"), ZH_CORPUS, "zh", "zh")


def frames_for(vocab: Vocabulary, spec: list[dict[str, float] | str]) -> np.ndarray:
    """(T, V) log-probs: each item is a char (p=0.98) or {char: prob, ...}; a blank frame follows each."""
    rows = []
    for item in spec:
        probs = {item: 0.98} if isinstance(item, str) else item
        for dist in (probs, {"": 0.98}):
            row = np.full(vocab.size, 1e-4)
            for ch, p in dist.items():
                row[vocab.labels.index(ch)] = p
            rows.append(row / row.sum())
    return np.log(np.array(rows, np.float32))
