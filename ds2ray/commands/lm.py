"""``ds2ray lm build``: preprocess a text corpus and build a KenLM n-gram model."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("lm", help="build KenLM n-gram language models",
                       description="Language-model tools. `ds2ray lm build --help` for details.")
    lm_sub = p.add_subparsers(dest="lm_command", metavar="ACTION", required=True)
    b = lm_sub.add_parser(
        "build", help="preprocess a corpus and build an ARPA/binary KenLM model",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Preprocess a text corpus the way the seed did, run KenLM's lmplz (and build_binary), and write\n"
            "<out>.unigrams.txt next to the model (the beam decoder needs it with a binary LM).\n\n"
            "English: lower case, numbers spelled out, only [a-z0-9' ] kept, spaces collapsed; with --top-n,\n"
            "the rarest words become the unknown token. Mandarin: punctuation removed, characters separated\n"
            "by spaces (a character LM). If the corpus is too small for Kneser-Ney discounts, the build\n"
            "retries with --discount_fallback and warns.\n\n"
            "KenLM binaries come from $DS2RAY_KENLM_BIN, ~/.cache/ds2ray/kenlm/bin (`make setup`) or PATH.\n\n"
            "examples:\n"
            "  ds2ray lm build --corpus text.txt --order 5 --prune \"0 1 1 1 1\" --out lm.bin\n"
            "  ds2ray lm build --corpus text.txt --order 4 --prune \"0 1 1 2\" --top-n 100000 --quantize --out lm.bin"),
    )
    b.add_argument("--corpus", required=True, action="append",
                   help="text file, one sentence a line, or a JSON-lines manifest (its 'text' fields); repeatable")
    b.add_argument("--out", required=True,
                   help="model to write: a KenLM binary (e.g. lm.bin), or an ARPA file if it ends in .arpa")
    b.add_argument("--order", type=int, default=5, help="n-gram order (default 5)")
    b.add_argument("--prune", default="",
                   help="lmplz count thresholds per order, e.g. \"0 1 1 1 1\" drops singleton 2-grams and up "
                        "(default: no pruning)")
    b.add_argument("--language", choices=("en", "zh", "auto"), default="auto",
                   help="corpus preprocessing: English word LM or Mandarin character LM (default: detect)")
    b.add_argument("--top-n", type=int, default=None,
                   help="keep the N most frequent words, map the rest to --unk-token (seed: 400000)")
    b.add_argument("--unk-token", default=None,
                   help="replacement for words outside --top-n (default UNKNOWNWORD; lmplz rejects <unk>)")
    b.add_argument("--arpa", action="store_true", help="also keep the ARPA file next to the binary (<name>.arpa)")
    b.add_argument("--no-preprocess", action="store_true",
                   help="the corpus is already clean, one sentence a line: pass it to lmplz as is")
    b.add_argument("--binary-type", choices=("probing", "trie"), default="probing",
                   help="binary format: probing (fastest) or trie quantised with -a 22 -q 8 -b 8 (smallest)")
    b.add_argument("--quantize", "--quantise", action="store_true",
                   help="the seed's English LM format: --binary-type trie (build_binary -a 22 -q 8 -b 8 trie), "
                        "the smallest binary; what a shipped model uses")
    b.add_argument("--memory", default="10%", help="lmplz/build_binary sort memory, e.g. 10%% or 2G (default 10%%)")
    b.add_argument("--keep-corpus", default=None, help="also save the preprocessed corpus to this file")
    b.set_defaults(func=run_build)


def run_build(args: argparse.Namespace) -> int:
    from ds2ray.lm.build import LMBuildConfig, build_lm, build_lm_from_text, parse_prune
    from ds2ray.lm.load import DEFAULT_UNK_TOKEN

    config = LMBuildConfig(order=args.order, prune=parse_prune(args.prune), memory=args.memory,
                           binary_type="trie" if args.quantize else args.binary_type)
    if args.no_preprocess:
        if len(args.corpus) != 1:
            raise ValueError("--no-preprocess takes exactly one --corpus (the clean text lmplz reads)")
        if args.top_n is not None:
            raise ValueError("--top-n needs preprocessing; drop --no-preprocess")
        result = build_lm(args.corpus[0], args.out, config, keep_arpa=args.arpa,
                          unk_token=args.unk_token or DEFAULT_UNK_TOKEN)
        print(result.summary())
        return 0
    built = build_lm_from_text(args.corpus, args.out, config, language=args.language, top_n=args.top_n,
                               unk_token=args.unk_token, keep_arpa=args.arpa, keep_corpus=args.keep_corpus)
    print(f"corpus ({built.language}): {built.corpus.summary()}")
    print(built.build.summary())
    return 0
