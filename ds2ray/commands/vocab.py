"""``ds2ray vocab``: build a character vocabulary from manifests."""

from __future__ import annotations

import argparse

from ds2ray.commands.common import add_manifest_args, read_manifest_args


def register(sub) -> None:
    p = sub.add_parser("vocab", help="build a character vocabulary from manifests",
                       description="Count normalised transcript characters over manifests and keep those "
                                   "seen more than --count-threshold times. Characters left out are "
                                   "reported with their counts.")
    add_manifest_args(p)
    p.add_argument("--out", "--vocab-path", "--vocab_path", dest="out", required=True,
                   help="vocabulary JSON to write (seed: vocab_path)")
    p.add_argument("--language", choices=("en", "zh", "auto"), default="auto",
                   help="English (letters, apostrophe, space) or Mandarin (characters, no spaces)")
    p.add_argument("--count-threshold", "--count_threshold", type=int, default=0,
                   help="keep characters seen more than this many times (seed: count_threshold)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ds2ray.data.text import detect_language
    from ds2ray.data.vocab import build_vocabulary

    manifest = read_manifest_args(args)
    texts = [e.text for e in manifest]
    if not texts:
        raise ValueError(f"no transcripts in {', '.join(args.manifest)}")
    language = detect_language(texts) if args.language == "auto" else args.language
    report = build_vocabulary(texts, language=language, count_threshold=args.count_threshold)
    report.vocabulary.save(args.out)
    print(f"vocabulary ({language}): {report.summary()} -> {args.out}")
    return 0
