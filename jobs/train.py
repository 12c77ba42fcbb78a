"""Train stage of a recipe (:func:`ds2ray.pipeline.train.train`): Ray Train on the recipe's
manifests, vocabulary and normaliser.

    python -m jobs.train --config jobs/fsdd/config.yaml
    ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml -- \\
        python -m jobs.train --config jobs/librispeech/config.yaml --set train.use_gpu=true \\
        --set train.num_workers=8 --set train.storage_path=s3://bucket/ds2ray/runs

Runs on the cluster in ``RAY_ADDRESS`` (``ray job submit`` sets it), else on a local Ray. Re-running
resumes the run of the same ``train.run_name``; once ``<exp>/train.json`` records the checkpoint the
stage is skipped (``--force`` resumes the run again, e.g. after raising ``train.max_minutes``).
"""

from __future__ import annotations

from jobs.recipe import load_experiment, run_stages, stage_parser


def main(argv: list[str] | None = None) -> int:
    p = stage_parser("jobs.train", __doc__)
    args = p.parse_args(argv)
    exp = load_experiment(args, p)
    return run_stages(exp, ["train"], force=args.force)


if __name__ == "__main__":
    raise SystemExit(main())
