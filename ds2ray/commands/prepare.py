"""``ds2ray prepare CORPUS``: build manifests for a corpus (see :mod:`ds2ray.data.corpora`).

Each corpus's flags are its options dataclass's fields (:mod:`ds2ray.data.corpora.flags`) plus
the flags its :class:`~ds2ray.data.corpora.Corpus` names for ``out_dir``, ``source`` and
``overwrite``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ds2ray.data.corpora import Corpus, PathFlag, corpus_names, get_corpus


def register(sub) -> None:
    p = sub.add_parser("prepare", help="build manifests for a corpus (download, extract or synthesize)",
                       description="Build JSON-lines manifests for a corpus. Re-running skips finished work.")
    corpora = p.add_subparsers(dest="corpus", metavar="CORPUS", required=True)
    for name in corpus_names():
        corpus = get_corpus(name)
        cp = corpora.add_parser(name, help=corpus.help, description=corpus.help)
        add_corpus_arguments(cp, corpus)
        cp.set_defaults(func=_runner(corpus))


def add_corpus_arguments(p: argparse.ArgumentParser, corpus: Corpus) -> None:
    """``out_dir``'s flag, ``source``'s flag, one flag per options field, then ``overwrite``'s flag."""
    from ds2ray.data.corpora.flags import add_option_flags

    groups: dict[str, Any] = {}  # group name -> argparse mutually exclusive group

    def path_flag(spec: PathFlag, dest: str, **kwargs) -> None:
        target = p
        if spec.group:
            target = groups.setdefault(spec.group, p.add_mutually_exclusive_group())
        if kwargs.get("action") is None:
            kwargs["metavar"] = spec.metavar or spec.flag.lstrip("-").replace("-", "_").upper()
        target.add_argument(spec.flag, dest=dest, required=spec.required, help=spec.help, **kwargs)

    path_flag(corpus.out_flag, "out_dir")
    if corpus.source_flag is not None:
        path_flag(corpus.source_flag, "source", default=None)
    add_option_flags(p, corpus.options, groups)
    path_flag(corpus.overwrite_flag, "overwrite", action="store_true")


def run_corpus(corpus: Corpus, args: argparse.Namespace) -> dict[str, Path]:
    """Build the corpus from parsed flags (a bad option value raises ``ConfigError`` naming it)."""
    from ds2ray.data.corpora.flags import options_from_args

    options = options_from_args(corpus.options, args)
    source = Path(args.source).expanduser() if getattr(args, "source", None) else None
    return corpus.prepare(Path(args.out_dir).expanduser(), source, options, overwrite=args.overwrite)


def _runner(corpus: Corpus):
    def run(args: argparse.Namespace) -> int:
        for split, path in run_corpus(corpus, args).items():
            print(f"{split}: {path}")
        return 0

    return run
