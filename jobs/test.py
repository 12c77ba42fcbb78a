"""Test stage of a recipe: WER/CER of the trained checkpoint on the test splits, per decoder.

    python -m jobs.test --config jobs/fsdd/config.yaml
    ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml -- \\
        python -m jobs.test --config jobs/librispeech/config.yaml --exp-dir /mnt/exp/librispeech

Runs ``ds2ray test`` once per decoder in ``test.decoders``: ``greedy``, and ``beam`` with the
recipe's LM (skipped when the recipe builds none) and (alpha, beta) from the tune stage's
``best.json`` when it exists, else from the ``decoder`` section. Writes
``<exp>/test/<decoder>.json`` (totals) and ``.jsonl`` (per utterance, worst first), then
``<exp>/test/summary.json``; a decoder whose totals exist is skipped (``--force`` redoes it).
"""

from __future__ import annotations

import json

from jobs.recipe import Experiment, ds2ray_cli, load_experiment, run_stage, stage_parser, write_json


def decoder_args(exp: Experiment, decoder: str) -> list[str] | None:
    """``ds2ray test``/``infer`` decoder flags, or None when ``decoder`` cannot run in this recipe."""
    if decoder == "greedy":
        return ["--decoder", "greedy"]
    lm = exp.lm
    if lm is None or not lm.exists():
        return None
    cfg = exp.recipe.decoder
    argv = ["--decoder", "beam", "--lm", str(lm), "--beam-size", str(cfg.beam_width),
            "--beam-prune-logp", str(cfg.beam_prune_logp), "--token-min-logp", str(cfg.token_min_logp)]
    if exp.best_json.exists():
        argv += ["--tuned", str(exp.best_json)]  # explicit --alpha/--beta would win over it
    else:
        argv += ["--alpha", str(cfg.alpha), "--beta", str(cfg.beta)]
    return argv


def test(exp: Experiment, force: bool) -> str:
    recipe = exp.recipe
    checkpoint = exp.checkpoint()
    manifests = exp.manifests(recipe.data.test)
    exp.test_dir.mkdir(parents=True, exist_ok=True)
    summary = {}
    for decoder in recipe.test.decoders:
        totals = exp.test_dir / f"{decoder}.json"
        flags = decoder_args(exp, decoder)
        if flags is None:
            print(f"-- {decoder}: skipped (no language model: lm.order is 0 or the lm step has not run)")
            continue
        if force or not totals.exists():
            argv = ["test", "--checkpoint", checkpoint, *sum((["--manifest", m] for m in manifests), []),
                    *flags, "--error-rate-type", recipe.test.error_rate_type,
                    "--num-workers", str(recipe.test.num_workers), "--out", str(exp.test_dir / f"{decoder}.jsonl"),
                    "--summary-json", str(totals), "--no-progress"]
            if recipe.test.use_gpu:
                argv.append("--use-gpu")
            print(f"-- {decoder}: ds2ray {' '.join(argv)}", flush=True)
            code = ds2ray_cli(argv)
            if code:
                raise RuntimeError(f"ds2ray test ({decoder}) exited with {code}")
        data = json.loads(totals.read_text())
        summary[decoder] = {k: data.get(k) for k in ("wer", "cer", "utterances", "error_rate_type", "decoder")}
    if not summary:
        raise RuntimeError(f"no decoder of {list(recipe.test.decoders)} could run")
    write_json(exp.test_dir / "summary.json", {"checkpoint": checkpoint, "test": list(recipe.data.test),
                                               "results": summary})
    return "; ".join(f"{d}: WER {s['wer']:.4f} CER {s['cer']:.4f} ({s['utterances']} utt)" for d, s in summary.items())


def main(argv: list[str] | None = None) -> int:
    p = stage_parser("jobs.test", __doc__)
    args = p.parse_args(argv)
    exp = load_experiment(args, p)
    return run_stage("test", lambda: test(exp, args.force))


if __name__ == "__main__":
    raise SystemExit(main())
