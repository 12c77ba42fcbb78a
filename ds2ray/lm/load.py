"""Load a KenLM model (ARPA or binary) with its unigram list, once per process.

The beam decoder needs the LM's word list ("unigrams") to tell a partial word that can still grow
into a known word from one that cannot. An ARPA file carries it in its ``\\1-grams:`` section; a
binary does not, so ``ds2ray lm build`` writes ``<name>.unigrams.txt`` next to every binary it
builds (see :func:`unigrams_path_for`).

Models are cached per process, keyed by the resolved path, size and modification time, so a decoder
built twice in one worker (or re-tuned with new ``alpha``/``beta``) never reloads a multi-GB file,
and a rebuilt file is picked up.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

log = logging.getLogger(__name__)

#: ARPA tokens that are never words a decoder can produce.
SPECIAL_TOKENS = frozenset({"<s>", "</s>", "<unk>"})
#: What ``ds2ray lm build`` maps words outside its top-N list to (the seed's choice: lmplz refuses a
#: literal ``<unk>`` in its corpus). Upper case, so a lower-case vocabulary can never spell it.
DEFAULT_UNK_TOKEN = "UNKNOWNWORD"
_BINARY_MAGIC = b"mmap lm "
_BUILD_HINT = "Build one with `ds2ray lm build --corpus TEXT --out PATH` (see `ds2ray lm build --help`)."


class LanguageModelError(ValueError):
    """A language model file is unreadable, corrupt, or lacks its unigram list."""


class LanguageModelNotFoundError(LanguageModelError, FileNotFoundError):
    """The language model file does not exist."""


def unigrams_path_for(lm_path: str | os.PathLike) -> Path:
    """Sidecar unigram list of an LM: ``lm.bin`` -> ``lm.unigrams.txt``."""
    return Path(lm_path).with_suffix(".unigrams.txt")


def lm_format(path: str | os.PathLike) -> str:
    """``'binary'`` (KenLM mmap format), ``'arpa'``, or raise :class:`LanguageModelError`."""
    path = Path(path)
    if not path.is_file():
        raise LanguageModelNotFoundError(f"language model not found: {path}. {_BUILD_HINT}")
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(_BINARY_MAGIC):
        return "binary"
    if head.lstrip().startswith(b"\\data\\"):
        return "arpa"
    shown = head[:40].decode("latin-1").splitlines()[0] if head else ""
    raise LanguageModelError(
        f"{path} is neither an ARPA file (first line '\\data\\') nor a KenLM binary "
        f"(starts with {_BINARY_MAGIC.decode()!r}); it starts with {shown!r}"
        + (" (empty file)" if not head else "") + f". The file is corrupt or not a language model. {_BUILD_HINT}"
    )


def is_word(token: str, unk_token: str = DEFAULT_UNK_TOKEN) -> bool:
    return token not in SPECIAL_TOKENS and token != unk_token


def read_arpa_unigrams(path: str | os.PathLike, unk_token: str = DEFAULT_UNK_TOKEN) -> list[str]:
    """Words of the ``\\1-grams:`` section of an ARPA file, in file order, special tokens left out.

    Raises :class:`LanguageModelError` naming the file (and line) when the section is missing or
    malformed.
    """
    words: list[str] = []
    in_unigrams = False
    with open(path, encoding="utf-8", errors="strict") as fh:
        try:
            for line_no, line in enumerate(fh, 1):
                line = line.strip()
                if line == "\\1-grams:":
                    in_unigrams = True
                    continue
                if not in_unigrams:
                    continue
                if not line:
                    continue
                if line.startswith("\\"):  # \2-grams: or \end\
                    break
                parts = line.split("\t")
                if len(parts) not in (2, 3):
                    raise LanguageModelError(
                        f"{path}:{line_no}: malformed 1-gram line {line[:80]!r} "
                        "(expected 'log10prob<TAB>word[<TAB>backoff]'); the ARPA file is corrupt."
                    )
                if is_word(parts[1], unk_token):
                    words.append(parts[1])
        except UnicodeDecodeError as err:
            raise LanguageModelError(f"{path}: not UTF-8 text ({err}); the ARPA file is corrupt") from err
    if not in_unigrams:
        raise LanguageModelError(f"{path}: no '\\1-grams:' section; the ARPA file is corrupt or truncated")
    if not words:
        raise LanguageModelError(f"{path}: the '\\1-grams:' section holds no words")
    return words


def read_unigrams_file(path: str | os.PathLike) -> list[str]:
    """One word per line (blank lines and special tokens skipped)."""
    with open(path, encoding="utf-8") as fh:
        words = [w for w in (line.strip() for line in fh) if w and is_word(w)]
    if not words:
        raise LanguageModelError(f"unigram list {path} is empty")
    return words


def write_unigrams(path: str | os.PathLike, words: Iterable[str]) -> Path:
    """Write a unigram list atomically, one word per line."""
    from ds2ray import fileio

    path = Path(path)
    with fileio.atomic_write(str(path), "wb") as fh:
        fh.write("".join(w + "\n" for w in words).encode("utf-8"))
    os.chmod(path, 0o644)  # atomic_write's temp file is private; the list is as public as the model
    return path


@dataclass(frozen=True, eq=False)
class LoadedLM:
    """A KenLM model plus the words the decoder may complete partial words into.

    ``model`` is a ``kenlm.Model``; ``unigrams`` excludes ``<s>``, ``</s>`` and unknown tokens.
    """

    path: str
    format: str
    model: Any
    unigrams: tuple[str, ...]
    unigrams_source: str

    @property
    def order(self) -> int:
        return int(self.model.order)


_CACHE: dict[tuple, LoadedLM] = {}
_LOCK = threading.Lock()


def _cache_key(path: str, unigrams: str | None) -> tuple:
    real = os.path.realpath(path)
    st = os.stat(real)
    return (real, st.st_size, st.st_mtime_ns, os.path.realpath(unigrams) if unigrams else None)


def resolve_unigrams(path: str, fmt: str, unigrams: str | None) -> tuple[list[str], str]:
    """Unigram list for an LM: the given file, else the ARPA's 1-grams, else the binary's sidecar."""
    if unigrams:
        if not os.path.isfile(unigrams):
            raise LanguageModelNotFoundError(f"unigram list not found: {unigrams}")
        return read_unigrams_file(unigrams), os.path.realpath(unigrams)
    if fmt == "arpa":
        return read_arpa_unigrams(path), f"arpa:{os.path.realpath(path)}"
    sidecar = unigrams_path_for(path)
    if sidecar.is_file():
        return read_unigrams_file(sidecar), os.path.realpath(sidecar)
    raise LanguageModelError(
        f"{path} is a KenLM binary without its unigram list {sidecar}. The beam decoder needs the LM's "
        "words: pass the list explicitly (DecoderConfig.unigrams / --unigrams, one word per line), put "
        f"it at {sidecar}, use the ARPA file instead, or rebuild with `ds2ray lm build` (it writes the list)."
    )


def load_lm(path: str | os.PathLike, unigrams: str | os.PathLike | None = None) -> LoadedLM:
    """Load (or fetch from the per-process cache) an ARPA or binary KenLM model and its unigrams.

    Raises :class:`LanguageModelNotFoundError` for a missing file and :class:`LanguageModelError`
    for a corrupt one, both naming the file.
    """
    path = os.fspath(path)
    unigrams = os.fspath(unigrams) if unigrams is not None else None
    fmt = lm_format(path)
    key = _cache_key(path, unigrams if unigrams else (str(unigrams_path_for(path)) if fmt == "binary" else None))
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            return hit
        words, source = resolve_unigrams(path, fmt, unigrams)
        try:
            import kenlm
        except ImportError as err:  # pragma: no cover - kenlm is a dependency
            raise LanguageModelError("the kenlm Python module is missing: pip install kenlm") from err
        log.info("loading %s language model %s (%d unigrams)", fmt, path, len(words))
        try:
            config = kenlm.Config()
            config.show_progress = False  # KenLM draws a progress bar on stderr while parsing ARPA
            model = kenlm.Model(path, config)
        except (OSError, RuntimeError) as err:
            raise LanguageModelError(
                f"cannot read language model {path}: {err}. The file is corrupt or truncated. {_BUILD_HINT}"
            ) from err
        loaded = LoadedLM(path=os.path.realpath(path), format=fmt, model=model, unigrams=tuple(words),
                          unigrams_source=source)
        _CACHE[key] = loaded
        return loaded


def clear_cache() -> None:
    """Forget every cached model (frees memory once no decoder holds them)."""
    with _LOCK:
        _CACHE.clear()


def cached_paths() -> list[str]:
    """Resolved paths of the models loaded in this process (for tests and diagnostics)."""
    with _LOCK:
        return [k[0] for k in _CACHE]
