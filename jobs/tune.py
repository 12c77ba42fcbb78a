"""Tune stage of a recipe: the (alpha, beta) grid of ``ds2ray tune`` on the dev splits.

    python -m jobs.tune --config jobs/librispeech/config.yaml
    ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml -- \\
        python -m jobs.tune --config jobs/librispeech/config.yaml --exp-dir /mnt/exp/librispeech

The grid is the config's ``tune`` section, the beam width the ``decoder`` section's. The best
point lands in ``<exp>/tune/best.json``, which the test and infer stages then use. Skipped when
``best.json`` exists (``--force`` redoes it), when the recipe builds no LM (alpha and beta weigh
the LM) or has no dev split, or when this ds2ray has no ``tune`` command.
"""

from __future__ import annotations

from jobs.recipe import Experiment, ds2ray_cli, load_experiment, run_stage, stage_parser


def tune(exp: Experiment, force: bool) -> str:
    from ds2ray.cli import COMMANDS

    recipe = exp.recipe
    if "tune" not in COMMANDS:
        return "skipped: this ds2ray has no `tune` command"
    if exp.lm is None or not exp.lm.exists():
        return "skipped: no language model (lm.order is 0 or the lm step has not run)"
    if not recipe.data.dev:
        return "skipped: the recipe has no dev split to tune on (data.dev is empty)"
    if exp.best_json.exists() and not force:
        return f"exists ({exp.best_json})"
    grid, dec, test = recipe.tune, recipe.decoder, recipe.test
    argv = ["tune", "--checkpoint", exp.checkpoint(), *sum((["--manifest", m] for m in exp.manifests(recipe.data.dev)), []),
            "--lm", str(exp.lm), "--alpha-from", str(grid.alpha_from), "--alpha-to", str(grid.alpha_to),
            "--num-alphas", str(grid.num_alphas), "--beta-from", str(grid.beta_from), "--beta-to", str(grid.beta_to),
            "--num-betas", str(grid.num_betas), "--beam-size", str(dec.beam_width),
            "--beam-prune-logp", str(dec.beam_prune_logp), "--token-min-logp", str(dec.token_min_logp),
            "--error-rate-type", test.error_rate_type, "--acoustic-workers", str(test.num_workers),
            "--out", str(exp.tune_dir)]
    if grid.num_batches:
        argv += ["--num-batches", str(grid.num_batches)]
    if test.use_gpu:
        argv.append("--use-gpu")
    code = ds2ray_cli(argv)
    if code:
        raise RuntimeError(f"ds2ray tune exited with {code}")
    if not exp.best_json.exists():
        raise RuntimeError(f"ds2ray tune finished but wrote no {exp.best_json}")
    return exp.best_json.read_text().strip()


def main(argv: list[str] | None = None) -> int:
    p = stage_parser("jobs.tune", __doc__)
    args = p.parse_args(argv)
    exp = load_experiment(args, p)
    return run_stage("tune", lambda: tune(exp, args.force))


if __name__ == "__main__":
    raise SystemExit(main())
