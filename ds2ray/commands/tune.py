"""``ds2ray tune``: grid search of the beam decoder's LM weight (alpha) and word bonus (beta) on a dev set.

The acoustic model runs once; its log-probs go into the Ray object store once, and Ray Tune decodes
the dev set at every grid point on warm decoder actors (:mod:`ds2ray.tune.search`).
"""

from __future__ import annotations

import argparse

from ds2ray.commands.common import add_manifest_args
from ds2ray.commands.test import CHECKPOINT_HELP
from ds2ray.tune.grid import TuneGridConfig

#: the grid's defaults (the seed's), shared with a recipe's ``tune`` section
GRID = TuneGridConfig()


def register(sub) -> None:
    p = sub.add_parser(
        "tune", help="tune the LM weight alpha and word bonus beta on a dev set (Ray Tune grid)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Run the checkpoint's acoustic model over the dev manifest once, then decode the dev set with beam\n"
            "search + the KenLM LM at every (alpha, beta) of a grid, on --num-workers Ray Tune decoder actors\n"
            "that each load the LM once. Prints WER and CER at every point as it finishes (with the running\n"
            "best, progress and an ETA) and writes to --out:\n"
            "  points.csv, points.json   every point (alpha, beta, WER, CER, error counts)\n"
            "  best.json                 the best alpha/beta and the decoder settings: pass it as\n"
            "                            --tuned to `ds2ray test`, `ds2ray infer` and `ds2ray serve`\n"
            "  error_surface.png         the error rate over (alpha, beta), minimum marked\n"
            "Ties are broken by fewer errors of the other rate, then smaller alpha, then smaller beta.\n\n"
            "--num-batches K tunes on the first K x --batch-size utterances. --two-stage follows the seed's\n"
            "advice: the grid on those first batches (default: a quarter of the set), then a --fine-alphas x\n"
            "--fine-betas grid one coarse step around its best on the whole set (stage1_coarse/, stage2_fine/).\n\n"
            "example: ds2ray tune --checkpoint ckpt/ --manifest dev.jsonl --lm lm.bin --alpha-from 1.0 \\\n"
            "           --alpha-to 3.2 --num-alphas 45 --beta-from 0.1 --beta-to 0.45 --num-betas 8 --out tune/"),
    )
    p.add_argument("--checkpoint", "--model-path", "--model_path", dest="checkpoint", required=True,
                   help=CHECKPOINT_HELP)
    add_manifest_args(p, required=False)
    p.add_argument("--tune-manifest", "--tune_manifest", dest="tune_manifest", action="append", default=None,
                   help="the seed's name for --manifest (dev set to tune on)")
    g = p.add_argument_group("grid (the seed's defaults)")
    g.add_argument("--alpha-from", "--alpha_from", dest="alpha_from", type=float, default=GRID.alpha_from,
                   help=f"smallest LM weight (default {GRID.alpha_from})")
    g.add_argument("--alpha-to", "--alpha_to", dest="alpha_to", type=float, default=GRID.alpha_to,
                   help=f"largest LM weight (default {GRID.alpha_to})")
    g.add_argument("--num-alphas", "--num_alphas", dest="num_alphas", type=int, default=GRID.num_alphas,
                   help=f"alphas, evenly spaced, ends included (default {GRID.num_alphas})")
    g.add_argument("--beta-from", "--beta_from", dest="beta_from", type=float, default=GRID.beta_from,
                   help=f"smallest word bonus (default {GRID.beta_from})")
    g.add_argument("--beta-to", "--beta_to", dest="beta_to", type=float, default=GRID.beta_to,
                   help=f"largest word bonus (default {GRID.beta_to})")
    g.add_argument("--num-betas", "--num_betas", dest="num_betas", type=int, default=GRID.num_betas,
                   help=f"betas, evenly spaced, ends included (default {GRID.num_betas})")
    g.add_argument("--num-batches", "--num_batches", dest="num_batches", type=int, default=GRID.num_batches,
                   help=f"tune on the first K batches of --batch-size utterances (default {GRID.num_batches}: "
                        "the whole set)")
    g.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int, default=GRID.batch_size,
                   help=f"utterances per batch for --num-batches (default {GRID.batch_size})")
    g.add_argument("--two-stage", action="store_true",
                   help="coarse grid on the first batches, then a fine grid around its best on the whole set")
    g.add_argument("--fine-alphas", type=int, default=5, help="alphas of the --two-stage fine grid (default 5)")
    g.add_argument("--fine-betas", type=int, default=5, help="betas of the --two-stage fine grid (default 5)")
    d = p.add_argument_group("decoder")
    d.add_argument("--lm", "--lang-model-path", "--lang_model_path", dest="lm", default=None,
                   help="KenLM language model, ARPA or binary (ds2ray lm build); required unless the checkpoint is "
                        "a shipped model (its LM is the default)")
    d.add_argument("--unigrams", default=None,
                   help="the LM's word list, one a line (default: from the ARPA, or <lm>.unigrams.txt)")
    d.add_argument("--beam-size", "--beam_size", dest="beam_size", type=int, default=None,
                   help="beam width (default 100)")
    d.add_argument("--beam-prune-logp", type=float, default=None,
                   help="drop prefixes scoring this far below the best (default -10)")
    d.add_argument("--token-min-logp", type=float, default=None,
                   help="characters below this log-prob in a frame are not expanded (default -5)")
    d.add_argument("--hotwords", default=None, metavar="'WORD,PHRASE:WEIGHT,...'",
                   help="words or phrases to favour while tuning, e.g. 'kubernetes,new york:8' (weight default 10)")
    d.add_argument("--error-rate-type", "--error_rate_type", dest="error_rate_type", choices=("wer", "cer"),
                   default=None, help="the rate to minimise (default: wer for English, cer for Mandarin)")
    r = p.add_argument_group("workers")
    r.add_argument("--num-workers", "--num-proc-bsearch", "--num_proc_bsearch", dest="num_workers", type=int,
                   default=2, help="Ray Tune decoder actors = trials run at once (default 2)")
    r.add_argument("--acoustic-workers", "--trainer-count", "--trainer_count", dest="acoustic_workers", type=int,
                   default=2, help="Ray actors running the acoustic model (default 2; 0 = in this process)")
    r.add_argument("--use-gpu", "--use_gpu", dest="use_gpu", action="store_true",
                   help="one GPU per acoustic worker")
    r.add_argument("--engine", choices=("tune", "plain"), default="tune",
                   help="tune: Ray Tune over decoder actors (default); plain: a loop in this process, no Ray")
    p.add_argument("--out", default="tune_out",
                   help="folder for points.csv/json, best.json and error_surface.png (default tune_out)")
    p.set_defaults(func=run)


def _decoder_base(args: argparse.Namespace):
    from ds2ray.decode.base import DecoderConfig
    from ds2ray.decode.hotwords import parse_hotwords

    fields = {name: value for name, value in (("beam_width", args.beam_size), ("unigrams", args.unigrams),
                                              ("beam_prune_logp", args.beam_prune_logp),
                                              ("token_min_logp", args.token_min_logp)) if value is not None}
    return DecoderConfig(type="beam", lm_path=args.lm, hotwords=parse_hotwords(args.hotwords), **fields)


def run(args: argparse.Namespace) -> int:
    from ds2ray.commands.common import read_manifest_args
    from ds2ray.pipeline.tune import tune_lm_weights

    args.manifest = (args.manifest or []) + (args.tune_manifest or [])
    if not args.manifest:
        raise ValueError("give the dev set to tune on with --manifest (or --tune-manifest)")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    entries = list(read_manifest_args(args))
    if not entries:
        raise ValueError(f"the dev set is empty: no utterances in {', '.join(args.manifest)} (empty, or all filtered "
                         "out by --min-duration/--max-duration)")
    grid = TuneGridConfig(args.alpha_from, args.alpha_to, args.num_alphas, args.beta_from, args.beta_to,
                          args.num_betas, num_batches=max(args.num_batches, 0), batch_size=args.batch_size)
    outcome = tune_lm_weights(args.checkpoint, entries, grid, _decoder_base(args), args.out,
                              num_workers=args.num_workers, acoustic_workers=args.acoustic_workers,
                              use_gpu=args.use_gpu, engine=args.engine, error_rate_type=args.error_rate_type,
                              two_stage=(args.fine_alphas, args.fine_betas) if args.two_stage else None)
    for name, path in sorted(outcome.result.files.items()):
        print(f"{name:<18} -> {path}")
    print(f"use it: ds2ray test --checkpoint {args.checkpoint} --manifest TEST --tuned {outcome.best_json}")
    return 0
