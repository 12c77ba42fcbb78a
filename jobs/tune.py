"""Tune stage of a recipe (:func:`ds2ray.pipeline.tune.tune`): the (alpha, beta) grid of the
``tune`` section on the dev splits.

    python -m jobs.tune --config jobs/librispeech/config.yaml
    ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml -- \\
        python -m jobs.tune --config jobs/librispeech/config.yaml --exp-dir /mnt/exp/librispeech

The beam width is the ``decoder`` section's. The best point lands in ``<exp>/tune/best.json``, which
the test and infer stages then use. Skipped when ``best.json`` exists (``--force`` redoes it), when
the recipe builds no LM (alpha and beta weigh the LM) or has no dev split.
"""

from __future__ import annotations

from jobs.recipe import load_experiment, run_stages, stage_parser


def main(argv: list[str] | None = None) -> int:
    p = stage_parser("jobs.tune", __doc__)
    args = p.parse_args(argv)
    exp = load_experiment(args, p)
    return run_stages(exp, ["tune"], force=args.force)


if __name__ == "__main__":
    raise SystemExit(main())
