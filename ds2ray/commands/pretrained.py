"""``ds2ray pretrained list|pack``: the shipped models, and packing a trained model into one."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser(
        "pretrained", help="shipped models: list them, or pack a trained model into one",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Shipped models live in ds2ray/pretrained/<name>/ (package data; today 'en') and are used by name\n"
            "wherever a checkpoint is taken: `ds2ray test --checkpoint en ...`, `ds2ray serve` (default),\n"
            "`ds2ray transcribe --local a.wav`. With a shipped model, beam search with its LM and tuned\n"
            "alpha/beta is the default decoder unless --lm or --tuned is given.\n\n"
            "Extra model folders are searched first in $DS2RAY_PRETRAINED_DIR (os.pathsep-separated).\n"
            "`ds2ray pretrained pack --help` for making one."),
    )
    act = p.add_subparsers(dest="pretrained_command", metavar="ACTION", required=True)
    ls = act.add_parser("list", help="the shipped models found, with their sizes and files")
    ls.set_defaults(func=run_list)

    pk = act.add_parser(
        "pack", help="pack a checkpoint, LM, tuned alpha/beta and model card into a shipped model folder",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Write a shipped model folder: model.pt with float16 weights (upcast to float32 on load), lm.bin\n"
            "(from an ARPA file: KenLM build_binary -a 22 -q 8 -b 8 trie, the seed's quantised trie; a binary\n"
            "is copied) with lm.unigrams.txt, tuned.json (alpha/beta of `ds2ray tune`'s best.json, its lm_path\n"
            "dropped), card.json and MODEL.md rendered from it. The folder is replaced only when everything is\n"
            "written, and nothing is written past the size limit (20 MB): prune the LM harder then.\n\n"
            "card.json schema: see ds2ray/pretrained/card.py (data sources with hours and licence, recipe\n"
            "command, training steps / cpu_hours / audio_hours_seen, results per real set and decoder,\n"
            "weaknesses). --measure DATA_DIR fills `results` by running the packed model (greedy, and beam\n"
            "with the packed LM) on real sets under DATA_DIR, and compares float16 with float32 outputs.\n\n"
            "example:\n"
            "  ds2ray pretrained pack --checkpoint runs/english/best --lm lm/en.arpa --tuned tune/best.json \\\n"
            "      --card card.json --measure ../shared/data --out ds2ray/pretrained/en"),
    )
    pk.add_argument("--checkpoint", required=True, help="the trained checkpoint (folder, model.pt or URL)")
    pk.add_argument("--lm", required=True,
                    help="the LM: an ARPA file (pruned when built; pack quantises it into a trie) or a KenLM binary")
    pk.add_argument("--unigrams", default=None,
                    help="the LM's word list, for a binary LM without <lm>.unigrams.txt beside it")
    pk.add_argument("--tuned", required=True, help="best.json of `ds2ray tune` with this checkpoint and LM")
    pk.add_argument("--card", required=True, help="card.json: the model card's numbers (schema in --help above)")
    pk.add_argument("--out", required=True,
                    help="the model folder to write; its name is the model's name (ds2ray/pretrained/en)")
    pk.add_argument("--measure", metavar="DATA_DIR", default=None,
                    help="real-speech folder (../shared/data): measure WER/CER of the packed model into the card")
    pk.add_argument("--measure-sets", default="pocketsphinx,speechbrain",
                    help="comma-separated sets to measure (default pocketsphinx,speechbrain; also an4, alsa_sounds, "
                         "speech_commands, fsdd, speechocean762)")
    pk.add_argument("--check-manifest", default=None,
                    help="compare float16 with float32 outputs on the first 20 utterances of this manifest "
                         "(default with --measure: the first measured set)")
    pk.add_argument("--max-mb", type=float, default=None, help="size limit in MB (default 20)")
    pk.set_defaults(func=run_pack)


def run_list(args: argparse.Namespace) -> int:
    from ds2ray.pretrained import available, get, search_path

    names = available()
    if not names:
        print("no shipped models found in " + ", ".join(str(p) for p in search_path()))
        return 0
    for name in names:
        model = get(name)
        card = model.card()
        files = ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in model.files().items())
        print(f"{name}\t{model.size_bytes / 1e6:.1f} MB\t{model.folder}\t{card.get('title', '')}\n  {files}")
    return 0


def run_pack(args: argparse.Namespace) -> int:
    from ds2ray.pretrained import MAX_BYTES
    from ds2ray.pretrained.pack import pack_model

    sets = tuple(s.strip() for s in args.measure_sets.split(",") if s.strip())
    result = pack_model(args.checkpoint, args.out, card=args.card, lm=args.lm, tuned=args.tuned,
                        unigrams=args.unigrams, measure_data=args.measure, measure_sets=sets,
                        check_manifest=args.check_manifest,
                        max_bytes=int(args.max_mb * 1e6) if args.max_mb else MAX_BYTES)
    print(result.summary())
    print(f"model card -> {result.folder / 'MODEL.md'}")
    return 0
