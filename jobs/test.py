"""Test stage of a recipe (:func:`ds2ray.pipeline.test.test`): WER/CER of the trained checkpoint
on the test splits, per decoder.

    python -m jobs.test --config jobs/fsdd/config.yaml
    ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml -- \\
        python -m jobs.test --config jobs/librispeech/config.yaml --exp-dir /mnt/exp/librispeech

Scores ``greedy``, and ``beam`` with the recipe's LM and the tuned (alpha, beta) when they exist,
into ``<exp>/test/``. With several test splits, a table prints each beside the reference
recognisers of :mod:`jobs.references`. Totals that exist are not recomputed (``--force`` redoes them).
"""

from __future__ import annotations

from jobs.recipe import load_experiment, run_stages, stage_parser


def main(argv: list[str] | None = None) -> int:
    p = stage_parser("jobs.test", __doc__)
    args = p.parse_args(argv)
    exp = load_experiment(args, p)
    return run_stages(exp, ["test"], force=args.force)


if __name__ == "__main__":
    raise SystemExit(main())
