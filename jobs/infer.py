"""Infer stage of a recipe (:func:`ds2ray.pipeline.infer.infer`): show N test utterances,
reference against hypothesis (as the seed's ``infer.py`` did), or transcribe audio files given on
the command line.

    python -m jobs.infer --config jobs/fsdd/config.yaml
    python -m jobs.infer --config jobs/fsdd/config.yaml --decoder greedy my_recording.wav

Uses the trained checkpoint of the experiment and the best decoder the recipe has (beam with the
LM and tuned (alpha, beta) when they exist, else greedy). Nothing is skipped: it only prints.
"""

from __future__ import annotations

from jobs.recipe import load_experiment, run_stages, stage_parser


def main(argv: list[str] | None = None) -> int:
    p = stage_parser("jobs.infer", __doc__, force=False)
    p.add_argument("--decoder", choices=("greedy", "beam"), default=None,
                   help="decoder (default: beam when the recipe has an LM, else greedy)")
    p.add_argument("files", nargs="*", metavar="FILE", help="audio files to transcribe instead of test samples")
    args = p.parse_args(argv)
    exp = load_experiment(args, p)
    return run_stages(exp, ["infer"], options={"infer": {"decoder": args.decoder, "files": args.files}})


if __name__ == "__main__":
    raise SystemExit(main())
