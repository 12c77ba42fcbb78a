"""Data stages of a recipe: manifests, normaliser stats, vocabulary, language model
(:mod:`ds2ray.pipeline.data`).

    python -m jobs.data --config jobs/fsdd/config.yaml --step prepare,mean-std,vocab,lm
    ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml -- \\
        python -m jobs.data --config jobs/librispeech/config.yaml --data /mnt/data/librispeech

Steps (each skips work a previous run finished; ``--force`` redoes it):

- ``prepare``: the builder of ``data.corpus`` with ``data.options`` into ``<exp>/data``;
- ``mean-std``: feature mean/std over ``data.mean_std_samples`` training utterances;
- ``vocab``: the character vocabulary of the training transcripts;
- ``lm``: an n-gram LM of the transcripts of ``lm.splits`` plus the files of ``lm.texts``
  (when ``lm.order`` > 0; ``{exp}`` in a path is the experiment folder).
"""

from __future__ import annotations

from jobs.recipe import load_experiment, run_stages, stage_parser

STEPS = ("prepare", "mean-std", "vocab", "lm")


def main(argv: list[str] | None = None) -> int:
    p = stage_parser("jobs.data", __doc__)
    p.add_argument("--step", default=",".join(STEPS), help=f"comma-separated subset of {list(STEPS)} (default all)")
    p.add_argument("--data", default=None,
                   help="where the corpus is (or is downloaded to); overrides data.source in config.yaml")
    args = p.parse_args(argv)
    wanted = [s.strip() for s in args.step.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(STEPS))
    if unknown:
        p.error(f"unknown step(s) {unknown}; choose from {list(STEPS)}")
    exp = load_experiment(args, p)
    return run_stages(exp, [s for s in STEPS if s in wanted], force=args.force,
                      options={"prepare": {"source": args.data}})


if __name__ == "__main__":
    raise SystemExit(main())
