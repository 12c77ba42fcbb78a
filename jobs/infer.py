"""Infer stage of a recipe: show N test utterances, reference against hypothesis (as the seed's
``infer.py`` did), or transcribe audio files given on the command line.

    python -m jobs.infer --config jobs/fsdd/config.yaml
    python -m jobs.infer --config jobs/fsdd/config.yaml --decoder greedy my_recording.wav

Uses the trained checkpoint of the experiment and the best decoder the recipe has (beam with the
LM and tuned (alpha, beta) when they exist, else greedy). Nothing is skipped: it only prints.
"""

from __future__ import annotations

from jobs.recipe import Experiment, ds2ray_cli, load_experiment, run_stage, stage_parser
from jobs.test import decoder_args


def infer(exp: Experiment, decoder: str | None, files: list[str]) -> str:
    recipe = exp.recipe
    choice = decoder or ("beam" if decoder_args(exp, "beam") is not None else "greedy")
    flags = decoder_args(exp, choice)
    if flags is None:
        raise ValueError(f"--decoder {choice}: this experiment has no language model (lm.order 0 or lm step not run)")
    argv = ["infer", "--checkpoint", exp.checkpoint(), *flags, "--error-rate-type", recipe.test.error_rate_type]
    if files:
        argv += files
    else:
        argv += ["--manifest", exp.manifests(recipe.data.test)[0], "--num-samples", str(recipe.test.infer_samples)]
    if recipe.test.use_gpu:
        argv.append("--use-gpu")
    code = ds2ray_cli(argv)
    if code:
        raise RuntimeError(f"ds2ray infer exited with {code}")
    return f"{choice} decoder, {len(files) or recipe.test.infer_samples} utterance(s)"


def main(argv: list[str] | None = None) -> int:
    p = stage_parser("jobs.infer", __doc__, force=False)
    p.add_argument("--decoder", choices=("greedy", "beam"), default=None,
                   help="decoder (default: beam when the recipe has an LM, else greedy)")
    p.add_argument("files", nargs="*", metavar="FILE", help="audio files to transcribe instead of test samples")
    args = p.parse_args(argv)
    exp = load_experiment(args, p)
    return run_stage("infer", lambda: infer(exp, args.decoder, args.files))


if __name__ == "__main__":
    raise SystemExit(main())
