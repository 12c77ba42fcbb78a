"""Building KenLM models with lmplz/build_binary, and checking what they score."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest

from ds2ray.data.english_text import builtin_sentences
from ds2ray.lm.build import KenLMNotFoundError, LMBuildConfig, build_lm, find_kenlm_binary, parse_prune
from ds2ray.lm.corpus import prepare_corpus
from ds2ray.lm.load import lm_format, read_arpa_unigrams
from ds2ray.testing.lm import build_tiny_lm


@pytest.fixture(scope="module")
def built(tmp_path_factory, kenlm_ready):
    """A 3-gram LM from 400 real English sentences: binary + ARPA + unigram list."""
    tmp = tmp_path_factory.mktemp("build")
    return build_tiny_lm(tmp, list(builtin_sentences())[:400], keep_arpa=True), tmp / "lm.clean.txt"


def read_arpa(path: Path) -> dict[int, dict[tuple[str, ...], tuple[float, float]]]:
    """ARPA n-grams: order -> {words: (log10 prob, log10 backoff)}."""
    grams: dict[int, dict] = {}
    order = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.endswith("-grams:"):
            order = int(line[1:].split("-")[0])
            grams[order] = {}
        elif order and line and not line.startswith("\\"):
            parts = line.split("\t")
            grams[order][tuple(parts[1].split())] = (float(parts[0]), float(parts[2]) if len(parts) > 2 else 0.0)
    return grams


def arpa_log10(grams, sentence: str) -> float:
    """log10 P(</s> ... | <s>) by the ARPA back-off rule, computed here independently of KenLM."""
    n = max(grams)
    unigrams = grams[1]

    def prob(history: tuple[str, ...], word: str) -> float:
        if not history:
            return unigrams[(word,)][0]
        if history + (word,) in grams[len(history) + 1]:
            return grams[len(history) + 1][history + (word,)][0]
        backoff = grams[len(history)].get(history, (0.0, 0.0))[1]
        return backoff + prob(history[1:], word)

    words = [w if (w,) in unigrams else "<unk>" for w in sentence.split()] + ["</s>"]
    context = ("<s>",)
    total = 0.0
    for w in words:
        total += prob(context[-(n - 1):], w)
        context += (w,)
    return total


def test_built_model_scores_as_kenlm_says(built):
    import kenlm

    result, clean = built
    assert result.model_path.is_file() and result.arpa_path.is_file() and result.unigrams_path.is_file()
    assert not result.discount_fallback
    grams = read_arpa(result.arpa_path)
    assert result.ngram_counts == tuple(len(grams[k]) for k in (1, 2, 3))
    seen = clean.read_text().splitlines()[:3]
    novel = ["the phone sat in the garden", "zebras painted the quantum kettle", "please leave"]
    binary, arpa = kenlm.Model(str(result.model_path)), kenlm.Model(str(result.arpa_path))
    for sentence in seen + novel:
        expected = arpa_log10(grams, sentence)
        assert binary.score(sentence, bos=True, eos=True) == pytest.approx(expected, abs=1e-4), sentence
        assert arpa.score(sentence, bos=True, eos=True) == pytest.approx(expected, abs=1e-4), sentence
    # a sentence from the corpus is far likelier than the same words shuffled
    words = seen[0].split()
    assert binary.score(seen[0]) > binary.score(" ".join(reversed(words))) + math.log10(10)


def test_unigram_list_matches_the_arpa(built):
    result, _ = built
    listed = result.unigrams_path.read_text().split()
    assert listed == sorted(read_arpa_unigrams(result.arpa_path))
    assert "<s>" not in listed and "<unk>" not in listed and "kettle" in listed


def test_pruning_drops_singletons(built, tmp_path):
    result, clean = built
    pruned = build_lm(clean, tmp_path / "p.arpa", LMBuildConfig(order=3, prune=(0, 1, 1), memory="64M"))
    assert lm_format(pruned.model_path) == "arpa"
    assert pruned.ngram_counts[0] == result.ngram_counts[0]
    assert pruned.ngram_counts[1] < result.ngram_counts[1] / 2
    assert pruned.arpa_path == pruned.model_path and (tmp_path / "p.unigrams.txt").is_file()


def test_tiny_corpus_falls_back_with_a_warning(tmp_path, caplog, kenlm_ready):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("the cat sat\nthe dog sat\n")
    with caplog.at_level(logging.WARNING, logger="ds2ray.lm.build"):
        result = build_lm(corpus, tmp_path / "tiny.bin", LMBuildConfig(order=3, memory="64M"))
    assert result.discount_fallback
    assert "--discount_fallback" in caplog.text
    assert result.model_path.read_bytes().startswith(b"mmap lm ")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # temp files cleaned up


def test_unknown_token_stays_out_of_the_unigram_list(tmp_path, kenlm_ready):
    raw = tmp_path / "raw.txt"
    raw.write_text("the cat sat\nthe cat ran\nthe dog sat\na bird flew\n")
    clean = tmp_path / "clean.txt"
    prepare_corpus([raw], clean, top_n=2)
    result = build_lm(clean, tmp_path / "lm.arpa", LMBuildConfig(order=2, memory="64M"))
    assert "UNKNOWNWORD" in result.model_path.read_text()
    assert result.unigrams_path.read_text().split() == ["cat", "the"]


def test_config_and_prune_validation():
    assert parse_prune("0 1 1 1 1") == (0, 1, 1, 1, 1)
    with pytest.raises(ValueError, match="'x' is not an integer"):
        parse_prune("0 x")
    with pytest.raises(ValueError, match="non-decreasing"):
        LMBuildConfig(order=3, prune=(0, 2, 1))
    with pytest.raises(ValueError, match="at most 3"):
        LMBuildConfig(order=3, prune=(0, 1, 1, 1))


def test_missing_kenlm_says_how_to_install(tmp_path, monkeypatch):
    import ds2ray.lm.build as build

    monkeypatch.setenv("DS2RAY_KENLM_BIN", str(tmp_path))
    monkeypatch.setattr(build, "KENLM_CACHE_BIN", tmp_path / "none")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(KenLMNotFoundError, match="make setup"):
        find_kenlm_binary("lmplz")
