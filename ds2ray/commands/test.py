"""``ds2ray test``: WER/CER of a checkpoint on a manifest, with a per-utterance file worst first.

Also holds the decoder flags ``test`` and ``infer`` share (:func:`add_decoder_args`,
:func:`decoder_config_from_args`).
"""

from __future__ import annotations

import argparse
import json
import os

from ds2ray.commands.common import add_manifest_args
from ds2ray.config import MODEL_BACKENDS

_DECODER_ALIASES = ("ctc_greedy", "ctc_beam_search")  # the seed's names: ds2ray.decode.options maps them

#: ``--checkpoint`` help, shared by the commands that take one
CHECKPOINT_HELP = ("checkpoint folder (or its model.pt), local or URL, or the name of a shipped model (en: "
                   "its LM and tuned alpha/beta then decode by default)")


def add_decoder_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("decoding")
    g.add_argument("--decoder", "--decoding-method", "--decoding_method", dest="decoder", default=None,
                   choices=("greedy", "beam", *_DECODER_ALIASES), metavar="{greedy,beam}",
                   help="greedy (best path) or beam (prefix beam search, with --lm a KenLM LM). "
                        "Default: beam when --lm or --tuned is given or the checkpoint is a shipped model, else greedy")
    g.add_argument("--lm", "--lang-model-path", "--lang_model_path", dest="lm", default=None,
                   help="KenLM language model, ARPA or binary (ds2ray lm build); default with a shipped model: its "
                        "LM and tuned.json")
    g.add_argument("--unigrams", default=None,
                   help="the LM's word list, one a line (default: from the ARPA, or <lm>.unigrams.txt)")
    g.add_argument("--alpha", type=float, default=None, help="LM weight (default 0.5, or from --tuned)")
    g.add_argument("--beta", type=float, default=None, help="word insertion bonus (default 1.5, or from --tuned)")
    g.add_argument("--beam-size", "--beam_size", dest="beam_size", type=int, default=None,
                   help="beam width (default 100)")
    g.add_argument("--beam-prune-logp", type=float, default=None,
                   help="drop prefixes scoring this far below the best (default -10)")
    g.add_argument("--token-min-logp", type=float, default=None,
                   help="characters below this log-prob in a frame are not expanded (default -5)")
    g.add_argument("--hotwords", default=None, metavar="'WORD,PHRASE:WEIGHT,...'",
                   help="words or phrases to favour, comma-separated, each with an optional ':weight' (natural-log "
                        "score per occurrence, default 10), e.g. 'kubernetes,new york:8'; implies --decoder beam")
    g.add_argument("--tuned", default=None,
                   help="JSON from `ds2ray tune` with at least {\"alpha\", \"beta\"} (also lm_path, beam_width "
                        "if present); explicit flags win")
    g.add_argument("--vocab", "--vocab-path", "--vocab_path", dest="vocab", default=None,
                   help="vocabulary the decoder should use; it must equal the checkpoint's (which is used anyway)")
    g.add_argument("--decode-workers", "--num-proc-bsearch", "--num_proc_bsearch", dest="decode_workers",
                   type=int, default=None, help="parallel beam-search workers (default: --num-workers, at least 1)")


def decoder_config_from_args(args: argparse.Namespace):
    """Flags > ``--tuned`` file > a shipped model's LM and tuned alpha/beta > :class:`DecoderConfig`
    defaults (:func:`ds2ray.decode.options.decoder_config_for`)."""
    from ds2ray.decode.options import decoder_config_for

    return decoder_config_for(getattr(args, "checkpoint", None), decoder=args.decoder, lm=args.lm, tuned=args.tuned,
                              unigrams=args.unigrams, alpha=args.alpha, beta=args.beta, beam_width=args.beam_size,
                              beam_prune_logp=args.beam_prune_logp, token_min_logp=args.token_min_logp,
                              hotwords=getattr(args, "hotwords", None))


def load_vocab_arg(args: argparse.Namespace):
    if not args.vocab:
        return None
    from ds2ray.data.vocab import Vocabulary

    if not os.path.isfile(args.vocab):
        raise FileNotFoundError(f"--vocab: {args.vocab} not found")
    return Vocabulary.load(args.vocab)


def register(sub) -> None:
    p = sub.add_parser(
        "test", help="WER/CER of a checkpoint on a manifest",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Run the acoustic model of a checkpoint over a manifest (batched, on Ray actors, CPU or GPU),\n"
            "decode the log-probs (greedy, or beam search with a KenLM LM), and print WER and CER with their\n"
            "substitution/deletion/insertion counts. Writes one JSON line per utterance (ref, hyp, errors),\n"
            "worst first.\n\n"
            "example: ds2ray test --checkpoint ckpt/ --manifest test.jsonl --decoder beam --lm lm.bin "
            "--alpha 0.8 --beta 1.0"),
    )
    p.add_argument("--checkpoint", "--model-path", "--model_path", dest="checkpoint", required=True,
                   help=CHECKPOINT_HELP)
    add_manifest_args(p)
    add_decoder_args(p)
    p.add_argument("--error-rate-type", "--error_rate_type", dest="error_rate_type", choices=("wer", "cer"),
                   default=None, help="the headline rate and the sort key (default: wer for English, cer for Mandarin)")
    p.add_argument("--out", default="test_results.jsonl",
                   help="per-utterance results, worst first (default test_results.jsonl)")
    p.add_argument("--summary-json", default=None, help="also write the totals as JSON here")
    p.add_argument("--num-workers", "--trainer-count", "--trainer_count", dest="num_workers", type=int, default=2,
                   help="Ray actors running the acoustic model (default 2; 0 = in this process, no Ray)")
    p.add_argument("--use-gpu", action="store_true", help="one GPU per acoustic worker")
    p.add_argument("--backend", choices=MODEL_BACKENDS, default="auto",
                   help="run the acoustic model with torch, or with onnxruntime on a file from `ds2ray export` "
                        "(default auto: onnx when --checkpoint ends in .onnx)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ds2ray.commands.common import read_manifest_args
    from ds2ray.evaluate import evaluate
    from ds2ray.pipeline.test import describe
    from ds2ray.raycluster import connect

    manifest = read_manifest_args(args)
    entries = list(manifest)
    if not entries:
        raise ValueError(f"no utterances in {', '.join(args.manifest)} (empty, or all filtered out by "
                         "--min-duration/--max-duration)")
    config = decoder_config_from_args(args)
    vocab = load_vocab_arg(args)
    if args.num_workers > 0:
        connect(log_to_driver=False, include_dashboard=False)
    report = evaluate(args.checkpoint, entries, config, vocab=vocab, num_workers=args.num_workers,
                      use_gpu=args.use_gpu, decode_workers=args.decode_workers,
                      progress=False if args.no_progress else None, backend=args.backend)
    kind = args.error_rate_type
    print(f"decoder: {describe(config)}")
    print(report.summary(kind))
    report.write_jsonl(args.out, kind)
    print(f"per-utterance results (worst first) -> {args.out}")
    if args.summary_json:
        with open(args.summary_json, "w", encoding="utf-8") as fh:
            json.dump(report.to_dict(kind), fh, indent=2)
    return 0
