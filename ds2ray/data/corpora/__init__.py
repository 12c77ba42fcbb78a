"""Corpus builders: each turns a corpus (downloaded, already extracted, or synthesized) into
manifests. ``ds2ray prepare NAME`` and the recipes run them through :func:`get_corpus`.

Every builder module defines

- ``<Corpus>Options``: a frozen dataclass of its settings
  (:class:`~ds2ray.data.corpora.flags.CorpusOptions`, a :class:`ds2ray.config.ConfigBase`), one
  field per ``ds2ray prepare NAME`` flag (``--synth-hours`` -> ``synth_hours``), type- and
  range-checked in ``__post_init__`` (errors name the field and its flag);
- ``prepare_<corpus>(out_dir, source, options, *, overwrite=False) -> {split: manifest path}``,
  writing ``out_dir/manifest.<split>.jsonl`` (the audio lists ``noise`` and ``impulse`` write one
  manifest: their ``out_dir`` argument is that file, ``ds2ray prepare noise --out``);
- ``CORPUS``: the :class:`Corpus` that ties them together, with the CLI's names for ``out_dir``,
  ``source`` and ``overwrite``.

Builders are re-runnable: finished work is skipped, and a run that dies leaves nothing that looks
finished (files are written to temp names and renamed). The registry is lazy: importing this
package (or a builder module) imports nothing heavy.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class PathFlag:
    """The CLI flag of one of ``prepare``'s fixed parameters (``out_dir``, ``source``, ``overwrite``)."""

    flag: str
    help: str
    required: bool = False
    group: str | None = None  # flags (and options fields) sharing a group are mutually exclusive
    metavar: str | None = None  # default: the flag in capitals (--out-dir -> OUT_DIR)


@dataclass(frozen=True)
class Corpus:
    """A registered builder: ``prepare(out_dir, source, options, *, overwrite=False)``."""

    name: str
    help: str
    options: type  # the <Corpus>Options dataclass
    prepare: Callable[..., dict[str, Path]]
    #: How ``ds2ray prepare NAME`` spells the fixed parameters; ``source=None``: the builder takes none.
    out_flag: PathFlag = PathFlag("--out-dir", "folder for the manifests (manifest.<split>.jsonl)", required=True)
    source_flag: PathFlag | None = None
    overwrite_flag: PathFlag = PathFlag("--overwrite", "rebuild manifests that already exist")


#: name -> module defining ``CORPUS``, in the order ``ds2ray prepare --help`` lists them.
_MODULES: dict[str, str] = {
    "synth": "ds2ray.data.corpora.synth",
    "librispeech": "ds2ray.data.corpora.librispeech",
    "aishell": "ds2ray.data.corpora.aishell",
    "voxforge": "ds2ray.data.corpora.voxforge",
    "an4": "ds2ray.data.corpora.an4",
    "folder": "ds2ray.data.corpora.folder",
    "fsdd": "ds2ray.data.corpora.fsdd",
    "english": "ds2ray.data.corpora.english",
    "noise": "ds2ray.data.corpora.noise",
    "impulse": "ds2ray.data.corpora.impulse",
}


def corpus_names() -> list[str]:
    """Every registered corpus name."""
    return list(_MODULES)


def get_corpus(name: str) -> Corpus:
    """The builder registered as ``name`` (its module is imported now). Unknown name: ``ValueError``."""
    if name not in _MODULES:
        raise ValueError(f"unknown corpus {name!r}; choose one of {', '.join(_MODULES)}")
    corpus = importlib.import_module(_MODULES[name]).CORPUS
    assert corpus.name == name, f"{_MODULES[name]}.CORPUS is named {corpus.name!r}, registered as {name!r}"
    return corpus
