"""``ds2ray infer``: show N manifest samples, reference against hypothesis, and transcribe files."""

from __future__ import annotations

import argparse

from ds2ray.commands.test import CHECKPOINT_HELP, add_decoder_args


def register(sub) -> None:
    p = sub.add_parser(
        "infer", help="transcribe audio files, or show manifest samples: reference vs hypothesis",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "With --manifest, decode the first --num-samples utterances and print each target and output\n"
            "transcription with its error rate (as the seed's infer.py did). Audio files given as arguments\n"
            "are transcribed and printed as 'FILE<TAB>text'. With --json, one JSON line per utterance instead\n"
            "(audio_filepath, ref, hyp, error rates, words: [{word, start, end}] in seconds). The checkpoint\n"
            "carries its own features, normaliser and vocabulary.\n\n"
            "examples:\n"
            "  ds2ray infer --checkpoint ckpt/ --manifest dev.jsonl --num-samples 10\n"
            "  ds2ray infer --checkpoint ckpt/ --decoder beam --lm lm.bin a.wav b.flac"),
    )
    p.add_argument("files", nargs="*", metavar="FILE", help="audio files to transcribe (any format soundfile reads)")
    p.add_argument("--checkpoint", "--model-path", "--model_path", dest="checkpoint", required=True,
                   help=CHECKPOINT_HELP)
    p.add_argument("--manifest", "--infer-manifest", "--infer_manifest", dest="manifest", default=None,
                   help="JSON-lines manifest to take samples from")
    p.add_argument("--num-samples", "--num_samples", dest="num_samples", type=int, default=10,
                   help="how many manifest utterances to show, from the top (default 10)")
    add_decoder_args(p)
    p.add_argument("--error-rate-type", "--error_rate_type", dest="error_rate_type", choices=("wer", "cer"),
                   default=None, help="rate shown per sample (default: wer for English, cer for Mandarin)")
    p.add_argument("--json", action="store_true",
                   help="one JSON line per utterance, with each word's start and end in seconds")
    p.add_argument("--num-workers", type=int, default=0,
                   help="Ray actors for the acoustic model (default 0: in this process)")
    p.add_argument("--use-gpu", action="store_true", help="run the acoustic model on a GPU")
    p.set_defaults(func=run)


def _file_entries(paths: list[str]) -> list:
    from ds2ray import fileio
    from ds2ray.data.audio import audio_info
    from ds2ray.data.manifest import ManifestEntry

    entries = []
    for path in paths:
        if not fileio.exists(path):
            raise FileNotFoundError(f"audio file not found: {path}")
        entries.append(ManifestEntry(path, audio_info(path).duration, ""))
    return entries


def run(args: argparse.Namespace) -> int:
    from ds2ray.commands.test import decoder_config_from_args, load_vocab_arg
    from ds2ray.data.manifest import read_manifest
    from ds2ray.evaluate import evaluate
    from ds2ray.metrics import default_error_rate_type
    from ds2ray.pipeline.infer import show_results
    from ds2ray.raycluster import connect

    if not args.manifest and not args.files:
        raise ValueError("nothing to transcribe: give audio files and/or --manifest")
    if args.num_samples < 1:
        raise ValueError(f"--num-samples must be >= 1, got {args.num_samples}")
    samples = []
    if args.manifest:
        samples = list(read_manifest(args.manifest))[: args.num_samples]
        if not samples:
            raise ValueError(f"no utterances in {args.manifest}")
    files = _file_entries(args.files)
    config = decoder_config_from_args(args)
    if args.num_workers > 0:
        connect(log_to_driver=False, include_dashboard=False)
    # one acoustic pass and one decode over samples and files together; files have no reference
    report = evaluate(args.checkpoint, samples + files, config, vocab=load_vocab_arg(args),
                      vocab_source=f"--vocab {args.vocab}", num_workers=args.num_workers, use_gpu=args.use_gpu,
                      decode_workers=args.decode_workers)
    if args.json:
        import json

        for r in report.results:
            print(json.dumps(r.to_dict(), ensure_ascii=False))
        return 0
    show_results(report, len(samples), args.error_rate_type or default_error_rate_type(report.language))
    return 0
