"""Build KenLM n-gram models with ``lmplz`` and ``build_binary``.

The binaries are found in ``$DS2RAY_KENLM_BIN``, then ``~/.cache/ds2ray/kenlm/bin`` (where
``make setup`` builds them), then ``PATH``. Outputs are written under temporary names and renamed
at the end, so an interrupted build leaves nothing that looks finished. Next to the model goes
``<name>.unigrams.txt``, the word list the beam decoder needs with a binary LM.

Modified Kneser-Ney needs counts-of-counts that tiny or repetitive corpora lack; lmplz then stops
with "discount out of range" / "Could not calculate Kneser-Ney discounts". The build retries once
with ``--discount_fallback`` and logs a warning.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ds2ray.config import ConfigBase, ConfigError
from ds2ray.lm.load import read_arpa_unigrams, unigrams_path_for, write_unigrams

if TYPE_CHECKING:
    from ds2ray.lm.corpus import CorpusStats

log = logging.getLogger(__name__)

KENLM_BIN_ENV = "DS2RAY_KENLM_BIN"
KENLM_CACHE_BIN = Path.home() / ".cache" / "ds2ray" / "kenlm" / "bin"
#: The seed's English LM: a quantised trie ("-a 22 -q 8 -b 8"); Mandarin used probing defaults.
TRIE_ARGS = ("-a", "22", "-q", "8", "-b", "8")


#: KenLM's ``ModelType`` enum, stored as a little-endian int32 at byte 96 of a binary (format version 5)
BINARY_MODEL_TYPES = ("probing", "rest_probing", "trie", "quant_trie", "array_trie", "quant_array_trie")
_MODEL_TYPE_OFFSET = 96


def binary_model_type(path: str | os.PathLike) -> str:
    """The data structure of a KenLM binary: ``probing``, ..., ``quant_array_trie`` (what ``trie`` with
    ``-a 22 -q 8 -b 8`` builds). Raises ``ValueError`` for a file that is not a version-5 KenLM binary."""
    with open(path, "rb") as fh:
        head = fh.read(_MODEL_TYPE_OFFSET + 4)
    if not head.startswith(b"mmap lm http://kheafield.com/code format version 5\n") or len(head) < 100:
        raise ValueError(f"{path}: not a KenLM binary of format version 5")
    code = int.from_bytes(head[_MODEL_TYPE_OFFSET:_MODEL_TYPE_OFFSET + 4], "little")
    if code >= len(BINARY_MODEL_TYPES):
        raise ValueError(f"{path}: unknown KenLM model type {code}")
    return BINARY_MODEL_TYPES[code]


class KenLMNotFoundError(RuntimeError):
    """lmplz or build_binary is not installed where we look."""


@dataclass(frozen=True)
class LMBuildConfig(ConfigBase):
    """``order``: n-gram order. ``prune``: lmplz count thresholds per order (``(0, 1, 1, 1, 1)``
    drops singleton 2-grams and above; non-decreasing, at most ``order`` values; empty = none).
    ``memory``: lmplz sort memory (GNU sort style: ``10%``, ``1G``). ``binary_type``: ``probing``
    (fastest) or ``trie`` (smallest; quantised like the seed's English LM)."""

    order: int = 5
    prune: tuple[int, ...] = ()
    memory: str = "10%"
    binary_type: str = "probing"

    def __post_init__(self) -> None:
        object.__setattr__(self, "prune", tuple(int(p) for p in self.prune))
        if not 1 <= int(self.order) <= 10:
            raise ConfigError(f"LMBuildConfig.order must be 1..10, got {self.order}")
        if len(self.prune) > self.order:
            raise ConfigError(f"LMBuildConfig.prune: {len(self.prune)} thresholds for an order-{self.order} model; "
                              f"give at most {self.order} (one per order)")
        if any(p < 0 for p in self.prune) or list(self.prune) != sorted(self.prune):
            raise ConfigError(f"LMBuildConfig.prune must be non-negative and non-decreasing, got {self.prune}")
        if self.binary_type not in ("probing", "trie"):
            raise ConfigError(f"LMBuildConfig.binary_type must be 'probing' or 'trie', got {self.binary_type!r}")


def parse_prune(text: str | None) -> tuple[int, ...]:
    """``"0 1 1 1 1"`` -> ``(0, 1, 1, 1, 1)``; raises ``ValueError`` naming the bad item."""
    if not text:
        return ()
    out = []
    for item in text.replace(",", " ").split():
        try:
            out.append(int(item))
        except ValueError:
            raise ValueError(f"--prune: {item!r} is not an integer; expected e.g. \"0 1 1 1 1\"") from None
    return tuple(out)


def find_kenlm_binary(name: str) -> Path:
    """Locate ``lmplz`` or ``build_binary``; raise :class:`KenLMNotFoundError` with an install hint."""
    tried = []
    env = os.environ.get(KENLM_BIN_ENV)
    for folder in ([Path(env)] if env else []) + [KENLM_CACHE_BIN]:
        candidate = folder / name
        tried.append(str(candidate))
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    raise KenLMNotFoundError(
        f"KenLM's {name} not found (looked at {', '.join(tried)} and PATH). Run `make setup`, which builds "
        f"lmplz and build_binary into {KENLM_CACHE_BIN} (about 2 minutes), or set {KENLM_BIN_ENV} to the "
        "folder that holds them."
    )


@dataclass(frozen=True)
class LMBuildResult:
    model_path: Path  # the binary, or the ARPA when only ARPA was asked for
    arpa_path: Path | None  # kept ARPA file, if any
    unigrams_path: Path
    ngram_counts: tuple[int, ...]  # n-grams per order, from the ARPA header
    discount_fallback: bool  # lmplz needed --discount_fallback

    def summary(self) -> str:
        counts = ", ".join(f"{n} {k + 1}-grams" for k, n in enumerate(self.ngram_counts))
        note = " (with --discount_fallback)" if self.discount_fallback else ""
        return f"{self.model_path}: {counts}{note}; unigram list {self.unigrams_path}"


def _is_discount_error(stderr: str) -> bool:
    return "discount" in stderr.lower()


def run_lmplz(corpus: Path, arpa_out: Path, config: LMBuildConfig, temp_dir: Path) -> bool:
    """Run lmplz on a preprocessed corpus; return whether ``--discount_fallback`` was needed."""
    lmplz = find_kenlm_binary("lmplz")
    cmd = [str(lmplz), "-o", str(config.order), "-S", config.memory, "-T", str(temp_dir) + os.sep,
           "--text", str(corpus), "--arpa", str(arpa_out)]
    if config.prune:
        cmd += ["--prune", *map(str, config.prune)]
    for fallback in (False, True):
        full = cmd + (["--discount_fallback"] if fallback else [])
        log.debug("running %s", " ".join(full))
        proc = subprocess.run(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
        if proc.returncode == 0:
            return fallback
        if not fallback and _is_discount_error(proc.stderr):
            log.warning("lmplz could not estimate Kneser-Ney discounts (the corpus is too small or repetitive); "
                        "retrying with --discount_fallback: the model will be of lower quality")
            continue
        tail = "\n".join(line for line in proc.stderr.splitlines()[-8:] if not set(line) <= set("-*0123456789 "))
        raise RuntimeError(f"lmplz failed (exit {proc.returncode}) on {corpus}:\n{tail}")
    raise AssertionError("unreachable")


def run_build_binary(arpa: Path, out: Path, config: LMBuildConfig, temp_dir: Path) -> None:
    """Convert ARPA to KenLM's binary format (``probing``, or the seed's quantised ``trie``)."""
    tool = find_kenlm_binary("build_binary")
    cmd = [str(tool), "-S", config.memory, "-T", str(temp_dir) + os.sep]
    if config.binary_type == "trie":
        cmd += [*TRIE_ARGS, "trie"]
    else:
        cmd += ["probing"]
    cmd += [str(arpa), str(out)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"build_binary failed (exit {proc.returncode}) on {arpa}:\n{proc.stderr[-2000:]}")


def arpa_ngram_counts(arpa: Path) -> tuple[int, ...]:
    counts = []
    with open(arpa, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            if line.startswith("ngram ") and "=" in line:
                counts.append(int(line.split("=", 1)[1]))
            elif line.startswith("\\1-grams:"):
                break
    return tuple(counts)


def build_lm(corpus: str | Path, out: str | Path, config: LMBuildConfig = LMBuildConfig(), *,
             keep_arpa: bool = False, unk_token: str | None = None) -> LMBuildResult:
    """Build an LM from an already preprocessed corpus (see :func:`ds2ray.lm.corpus.prepare_corpus`).

    ``out`` ending in ``.arpa`` writes only the ARPA file; otherwise a KenLM binary, plus the ARPA
    next to it (``<name>.arpa``) when ``keep_arpa``. ``<name>.unigrams.txt`` is always written.
    """
    corpus, out = Path(corpus), Path(out)
    if not corpus.is_file():
        raise FileNotFoundError(f"corpus not found: {corpus}")
    out.parent.mkdir(parents=True, exist_ok=True)
    arpa_only = out.suffix == ".arpa"
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        tmp = Path(tmp)
        arpa_tmp = tmp / "model.arpa"
        fallback = run_lmplz(corpus, arpa_tmp, config, tmp)
        words = read_arpa_unigrams(arpa_tmp, **({"unk_token": unk_token} if unk_token else {}))
        counts = arpa_ngram_counts(arpa_tmp)
        model_tmp = arpa_tmp
        if not arpa_only:
            model_tmp = tmp / "model.bin"
            run_build_binary(arpa_tmp, model_tmp, config, tmp)
        # The model is renamed last: its presence means the whole build finished.
        unigrams = write_unigrams(unigrams_path_for(out), sorted(words))
        arpa_final: Path | None = out if arpa_only else None
        if keep_arpa and not arpa_only:
            arpa_final = out.with_suffix(".arpa")
            os.replace(arpa_tmp, arpa_final)
        os.replace(model_tmp, out)
    return LMBuildResult(out, arpa_final, unigrams, counts, fallback)


@dataclass(frozen=True)
class TextLMResult:
    """:func:`build_lm_from_text`'s outcome: the corpus language, its statistics and the build."""

    language: str
    corpus: "CorpusStats"
    build: LMBuildResult


def build_lm_from_text(corpora: list[str | Path], out: str | Path, config: LMBuildConfig = LMBuildConfig(), *,
                       language: str = "auto", top_n: int | None = None, unk_token: str | None = None,
                       keep_arpa: bool = False, keep_corpus: str | Path | None = None) -> TextLMResult:
    """Preprocess text files or manifests (:func:`ds2ray.lm.corpus.prepare_corpus`; ``language``
    ``auto`` detects it from the first 2000 lines) into a temp file beside ``out``, then
    :func:`build_lm`. ``keep_corpus`` also saves the clean corpus there."""
    from ds2ray.data.text import detect_language
    from ds2ray.lm.corpus import prepare_corpus, read_corpus_lines
    from ds2ray.lm.load import DEFAULT_UNK_TOKEN

    if not corpora:
        raise ValueError("no corpus to build the language model from")
    unk = unk_token or DEFAULT_UNK_TOKEN
    if language == "auto":
        sample = []
        for line in read_corpus_lines(corpora[0]):
            sample.append(line)
            if len(sample) >= 2000:
                break
        language = detect_language(sample)
    out_dir = Path(out).resolve().parent
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".lm-corpus.") as tmp:
        clean = Path(tmp) / "corpus.txt"
        stats = prepare_corpus(corpora, clean, language=language, top_n=top_n, unk_token=unk)
        if keep_corpus:
            shutil.copyfile(clean, keep_corpus)
        result = build_lm(clean, out, config, keep_arpa=keep_arpa, unk_token=unk)
    return TextLMResult(language, stats, result)
