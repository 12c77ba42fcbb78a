"""Test stage of a recipe: WER/CER of the trained checkpoint on the test splits, per decoder.

    python -m jobs.test --config jobs/fsdd/config.yaml
    ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml -- \\
        python -m jobs.test --config jobs/librispeech/config.yaml --exp-dir /mnt/exp/librispeech

Runs ``ds2ray test`` once per decoder in ``test.decoders``: ``greedy``, and ``beam`` with the
recipe's LM (skipped when the recipe builds none) and (alpha, beta) from the tune stage's
``best.json`` when it exists, else from the ``decoder`` section. With one test split it writes
``<exp>/test/<decoder>.json`` (totals) and ``.jsonl`` (per utterance, worst first); with several
(``data.test: [test_a, test_b]``) each split is scored on its own into
``<exp>/test/<split>/<decoder>.json(l)``, a table prints every split (and the groups of
:data:`jobs.references.GROUPS`) beside the reference recognisers of :mod:`jobs.references`, and the
decoder's totals pool all splits' words. A split whose manifest is missing or empty is skipped with a
note. ``<exp>/test/summary.json`` holds it all; totals that exist are not recomputed (``--force``
redoes them).
"""

from __future__ import annotations

import json
from pathlib import Path

from jobs.recipe import Experiment, ds2ray_cli, load_experiment, run_stage, stage_parser, write_json
from jobs.references import GROUPS, RECOGNISERS, REFERENCE_WER, SOURCE, pooled_reference


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


def run_split(exp: Experiment, manifest: str, decoder: str, flags: list[str], out_dir: Path, force: bool) -> dict:
    """``ds2ray test`` of one decoder on one manifest, unless its totals exist; returns the totals."""
    recipe = exp.recipe
    totals = out_dir / f"{decoder}.json"
    if force or not totals.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        argv = ["test", "--checkpoint", exp.checkpoint(), "--manifest", manifest, *flags,
                "--error-rate-type", recipe.test.error_rate_type, "--num-workers", str(recipe.test.num_workers),
                "--out", str(out_dir / f"{decoder}.jsonl"), "--summary-json", str(totals) + ".tmp", "--no-progress"]
        if recipe.test.use_gpu:
            argv.append("--use-gpu")
        print(f"-- {decoder}: ds2ray {' '.join(argv)}", flush=True)
        code = ds2ray_cli(argv)
        if code:
            raise RuntimeError(f"ds2ray test ({decoder}, {manifest}) exited with {code}")
        Path(str(totals) + ".tmp").replace(totals)  # the totals mark this decoder done
    return json.loads(totals.read_text())


def _brief(data: dict) -> dict:
    return {k: data.get(k) for k in ("wer", "cer", "utterances", "error_rate_type", "decoder", "word_errors",
                                     "char_errors")}


def pool(results: list[dict]) -> dict:
    """Totals of several splits: errors and reference units summed, rates recomputed."""
    out: dict = {"utterances": sum(r["utterances"] for r in results)}
    for unit, rate in (("word_errors", "wer"), ("char_errors", "cer")):
        errors = sum(r[unit]["errors"] for r in results)
        ref_len = sum(r[unit]["ref_len"] for r in results)
        out[unit] = {"errors": errors, "ref_len": ref_len}
        out[rate] = errors / max(ref_len, 1)
    out["error_rate_type"] = results[0].get("error_rate_type")
    return out


def usable_splits(exp: Experiment) -> list[str]:
    """Test splits with a non-empty manifest; the others are named and skipped."""
    keep = []
    for split in exp.recipe.data.test:
        path = exp.manifest(split)
        if not path.exists():
            print(f"-- {split}: skipped ({path} not found; its data was missing when the prepare step ran)")
        elif not path.read_text(encoding="utf-8").strip():
            print(f"-- {split}: skipped ({path} is empty; its data was missing when the prepare step ran)")
        else:
            keep.append(split)
    return keep


def table(per_split: dict[str, dict[str, dict]], decoders: list[str]) -> str:
    """One row per split and group: utterances, WER/CER per decoder, the reference recognisers' WER."""
    words = {s: next(iter(r.values()))["word_errors"]["ref_len"] for s, r in per_split.items() if r}
    rows: list[tuple[str, dict[str, dict], dict[str, float]]] = [
        (s, r, REFERENCE_WER.get(s, {})) for s, r in per_split.items()]
    for name, members in GROUPS.items():
        if len(per_split) > 2 and all(m in per_split for m in members):
            pooled = {d: pool([per_split[m][d] for m in members]) for d in decoders
                      if all(d in per_split[m] for m in members)}
            rows.append((name, pooled, pooled_reference(members, words)))
    if len(per_split) > 1:
        rows.append(("all", {d: pool([r[d] for r in per_split.values() if d in r]) for d in decoders}, {}))
    head = f"{'split':<26}{'utt':>6}" + "".join(f"{d + ' WER':>12}{d + ' CER':>12}" for d in decoders) \
        + "".join(f"{r + ' WER':>22}" for r in RECOGNISERS)
    lines = [head, "-" * len(head)]
    for name, results, ref in rows:
        utt = next(iter(results.values()))["utterances"] if results else 0
        line = f"{name:<26}{utt:>6}"
        for d in decoders:
            line += f"{results[d]['wer']:>12.4f}{results[d]['cer']:>12.4f}" if d in results else f"{'-':>12}{'-':>12}"
        line += "".join(f"{ref[r]:>22.3f}" if r in ref else f"{'-':>22}" for r in RECOGNISERS)
        lines.append(line)
    lines.append(f"references: {SOURCE}")
    return "\n".join(lines)


def test(exp: Experiment, force: bool) -> str:
    recipe = exp.recipe
    checkpoint = exp.checkpoint()
    exp.test_dir.mkdir(parents=True, exist_ok=True)
    splits = usable_splits(exp)
    if not splits:
        raise FileNotFoundError(f"no test manifest with utterances among {list(recipe.data.test)}: "
                                "run the prepare step first")
    several = len(recipe.data.test) > 1
    decoders = []
    per_split: dict[str, dict[str, dict]] = {s: {} for s in splits}
    for decoder in recipe.test.decoders:
        flags = decoder_args(exp, decoder)
        if flags is None:
            print(f"-- {decoder}: skipped (no language model: lm.order is 0 or the lm step has not run)")
            continue
        decoders.append(decoder)
        for split in splits:
            out_dir = exp.test_dir / split if several else exp.test_dir
            per_split[split][decoder] = run_split(exp, str(exp.manifest(split)), decoder, flags, out_dir, force)
    if not decoders:
        raise RuntimeError(f"no decoder of {list(recipe.test.decoders)} could run")
    summary = {d: _brief(pool([per_split[s][d] for s in splits]) if several else per_split[splits[0]][d])
               for d in decoders}
    report = {"checkpoint": checkpoint, "test": list(recipe.data.test), "results": summary}
    if several:
        report["splits"] = {s: {d: _brief(r) for d, r in per_split[s].items()} for s in splits}
        report["references"] = {"source": SOURCE, "wer": {s: REFERENCE_WER[s] for s in splits if s in REFERENCE_WER}}
        print(table(per_split, decoders), flush=True)
    write_json(exp.test_dir / "summary.json", report)
    return "; ".join(f"{d}: WER {s['wer']:.4f} CER {s['cer']:.4f} ({s['utterances']} utt)" for d, s in summary.items())


def main(argv: list[str] | None = None) -> int:
    p = stage_parser("jobs.test", __doc__)
    args = p.parse_args(argv)
    exp = load_experiment(args, p)
    return run_stage("test", lambda: test(exp, args.force))


if __name__ == "__main__":
    raise SystemExit(main())
