"""Real KenLM models built in the test session with lmplz/build_binary (skips when KenLM is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ds2ray.testing.lm import build_tiny_lm

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


@pytest.fixture(scope="session")
def en_lm(tmp_path_factory, kenlm_ready) -> Path:
    """A 3-gram English word LM: ``en.bin`` with its ARPA file and unigram list beside it."""
    return build_tiny_lm(tmp_path_factory.mktemp("en_lm"), EN_CORPUS, name="en", language="en", repeat=3,
                         keep_arpa=True).model_path


@pytest.fixture(scope="session")
def zh_lm(tmp_path_factory, kenlm_ready) -> Path:
    """A 3-gram Mandarin character LM."""
    return build_tiny_lm(tmp_path_factory.mktemp("zh_lm"), ZH_CORPUS, name="zh", language="zh", repeat=3,
                         keep_arpa=True).model_path
