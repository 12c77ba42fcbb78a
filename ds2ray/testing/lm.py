"""Tiny n-gram LMs from a few sentences, for decoder, tuning, packing and serving tests and benches.

:func:`build_tiny_lm` runs the real KenLM tools (``lmplz``/``build_binary``, built by ``make setup``)
through :func:`ds2ray.lm.build.build_lm`; :func:`write_bigram_arpa` writes an ARPA file by hand
where KenLM's binaries may be missing (loading it needs only the ``kenlm`` Python module).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ds2ray.lm.build import LMBuildResult


def build_tiny_lm(folder: str | Path, sentences: Sequence[str], *, name: str = "lm", order: int = 3,
                  language: str | None = "en", repeat: int = 1, suffix: str = ".bin", keep_arpa: bool = False,
                  memory: str = "64M") -> LMBuildResult:
    """Build ``folder/{name}{suffix}`` (``.bin``: KenLM binary; ``.arpa``: ARPA) from ``sentences``.

    The sentences, repeated ``repeat`` times, go one a line to ``folder/{name}.raw.txt``. With a
    ``language`` (``"en"``, ``"zh"``) that text is cleaned first by
    :func:`ds2ray.lm.corpus.prepare_corpus` into ``folder/{name}.clean.txt``; with ``None`` it is
    used as written. The unigram list (and with ``keep_arpa`` the ARPA file) lands beside the model.
    """
    from ds2ray.lm.build import LMBuildConfig, build_lm
    from ds2ray.lm.corpus import prepare_corpus

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / f"{name}.raw.txt"
    raw.write_text("\n".join(list(sentences) * repeat) + "\n", encoding="utf-8")
    corpus = raw
    if language is not None:
        corpus = folder / f"{name}.clean.txt"
        prepare_corpus([raw], corpus, language=language)
    return build_lm(corpus, folder / f"{name}{suffix}", LMBuildConfig(order=order, memory=memory),
                    keep_arpa=keep_arpa)


def write_bigram_arpa(path: str | Path, sentences: Sequence[str]) -> str:
    """A hand-written order-2 ARPA model of ``sentences`` at ``path`` (KenLM needs at least bigrams):
    every word and ``<unk>`` at log10 p -1.5 with backoff -0.3, every bigram seen (``<s>``/``</s>``
    included) at -0.3. Returns the path."""
    path = Path(path)
    words = sorted({w for s in sentences for w in s.split()})
    bigrams = sorted({pair for s in sentences for pair in zip(["<s>", *s.split()], [*s.split(), "</s>"], strict=True)})
    unigrams = ["<unk>", "<s>", "</s>", *words]
    lines = ["\\data\\", f"ngram 1={len(unigrams)}", f"ngram 2={len(bigrams)}", "", "\\1-grams:"]
    lines += [f"{'-99' if w == '<s>' else '-1.5'}\t{w}\t-0.3" for w in unigrams]
    lines += ["", "\\2-grams:"] + [f"-0.3\t{a} {b}" for a, b in bigrams] + ["", "\\end\\", ""]
    path.write_text("\n".join(lines))
    return str(path)
