"""Loading LMs: clear errors for missing or corrupt files, one load per process."""

from __future__ import annotations

import os
import shutil

import pytest

from ds2ray.lm.load import (
    LanguageModelError,
    LanguageModelNotFoundError,
    cached_paths,
    clear_cache,
    load_lm,
    read_arpa_unigrams,
)
from ds2ray.testing.lm import build_tiny_lm


@pytest.fixture(scope="module")
def small_lm(tmp_path_factory, kenlm_ready):
    sentences = ["the cat sat on the mat", "the dog sat", "a cat ran on the mat"]
    return build_tiny_lm(tmp_path_factory.mktemp("load"), sentences, order=2, language=None, repeat=2, keep_arpa=True)


def test_missing_file(tmp_path):
    with pytest.raises(LanguageModelNotFoundError, match=r"not found: .*nope\.bin.*ds2ray lm build"):
        load_lm(tmp_path / "nope.bin")


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"PK\x03\x04 not an lm", "neither an ARPA file"),
])
def test_not_a_language_model(tmp_path, content, message):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(content)
    with pytest.raises(LanguageModelError, match=message):
        load_lm(bad)


def test_truncated_binary(tmp_path, small_lm):
    cut = tmp_path / "cut.bin"
    cut.write_bytes(small_lm.model_path.read_bytes()[:200])
    shutil.copyfile(small_lm.unigrams_path, tmp_path / "cut.unigrams.txt")
    with pytest.raises(LanguageModelError, match=r"cannot read language model .*cut\.bin.*corrupt"):
        load_lm(cut)


def test_corrupt_arpa_names_the_line(tmp_path, small_lm):
    lines = small_lm.arpa_path.read_text().splitlines()
    at = lines.index("\\1-grams:") + 2
    lines[at] = "garbage-without-tabs"
    bad = tmp_path / "bad.arpa"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(LanguageModelError, match=rf"bad\.arpa:{at + 1}: malformed 1-gram line"):
        read_arpa_unigrams(bad)
    with pytest.raises(LanguageModelError, match="malformed"):
        load_lm(bad)


def test_loaded_once_per_process_and_reloaded_when_rebuilt(tmp_path, small_lm):
    clear_cache()
    path = tmp_path / "lm.bin"
    shutil.copyfile(small_lm.model_path, path)
    shutil.copyfile(small_lm.unigrams_path, tmp_path / "lm.unigrams.txt")
    first = load_lm(path)
    assert load_lm(str(path)) is first
    assert cached_paths() == [os.path.realpath(path)]
    assert first.order == 2 and "cat" in first.unigrams and "<s>" not in first.unigrams
    # a rebuilt file (new mtime) is loaded afresh
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert load_lm(path) is not first


def test_explicit_unigram_list(tmp_path, small_lm):
    words = tmp_path / "w.txt"
    words.write_text("cat\n\nmat\n<s>\n")
    assert load_lm(small_lm.model_path, words).unigrams == ("cat", "mat")
    with pytest.raises(LanguageModelNotFoundError, match="unigram list not found"):
        load_lm(small_lm.model_path, tmp_path / "none.txt")
