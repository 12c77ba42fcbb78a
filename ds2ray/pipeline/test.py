"""The test stage: WER/CER of the trained checkpoint on the test splits, per decoder.

Scores once per decoder in ``test.decoders``: ``greedy``, and ``beam`` with the recipe's LM (skipped
when the recipe builds none) and (alpha, beta) from the tune stage's ``best.json`` when it exists,
else from the ``decoder`` section. With one test split it writes ``<exp>/test/<decoder>.json``
(totals) and ``.jsonl`` (per utterance, worst first); with several (``data.test: [test_a, test_b]``)
each split is scored on its own into ``<exp>/test/<split>/<decoder>.json(l)``, a table prints every
split (beside other recognisers' WER when a :class:`ReferenceTable` is given), and the decoder's
totals pool all splits' words. A split whose manifest is missing or empty is skipped with a note.
``<exp>/test/summary.json`` holds it all; totals that exist are not recomputed (``force`` redoes them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ds2ray.decode.base import DecoderConfig
from ds2ray.pipeline.experiment import Experiment, StageResult, is_done, write_json


@dataclass(frozen=True)
class ReferenceTable:
    """Other recognisers' WER on the same test splits, shown beside the recipe's results.

    ``wer``: split -> recogniser -> WER; ``groups``: name -> splits also reported pooled (WER over
    their pooled words); ``source``: where the figures come from."""

    source: str
    recognisers: tuple[str, ...]
    wer: Mapping[str, Mapping[str, float]]
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def pooled(self, splits: tuple[str, ...], words: Mapping[str, int]) -> dict[str, float]:
        """The references' WER over several splits, weighting each split's WER by its reference words."""
        total = sum(words.get(s, 0) for s in splits)
        if total == 0 or any(s not in self.wer for s in splits):
            return {}
        return {r: sum(self.wer[s][r] * words.get(s, 0) for s in splits) / total for r in self.recognisers}


def decoder_for(exp: Experiment, decoder: str) -> DecoderConfig | None:
    """The recipe's ``greedy`` or ``beam`` decoder, or None when ``decoder`` cannot run in this recipe
    (beam without an LM). Beam takes alpha/beta from ``tune/best.json`` when it exists."""
    from ds2ray.decode.options import decoder_config_for

    if decoder == "greedy":
        return DecoderConfig(type="greedy")
    lm = exp.lm
    if lm is None or not lm.exists():
        return None
    cfg = exp.recipe.decoder
    tuned = str(exp.best_json) if exp.best_json.exists() else None
    return decoder_config_for(exp.checkpoint(), decoder="beam", lm=str(lm), tuned=tuned,
                              alpha=None if tuned else cfg.alpha, beta=None if tuned else cfg.beta,
                              beam_width=cfg.beam_width, beam_prune_logp=cfg.beam_prune_logp,
                              token_min_logp=cfg.token_min_logp)


def describe(config: DecoderConfig) -> str:
    """``greedy``, or ``beam (lm ..., alpha ..., beta ..., beam ...)``."""
    if config.type != "beam":
        return config.type
    return f"beam (lm {config.lm_path}, alpha {config.alpha}, beta {config.beta}, beam {config.beam_width})"


def score_split(exp: Experiment, split: str, name: str, config: DecoderConfig, out_dir: Path,
                force: bool) -> dict[str, Any]:
    """One decoder on one split, unless its totals exist; returns the totals."""
    from ds2ray.data.manifest import read_manifest
    from ds2ray.evaluate import evaluate

    test = exp.recipe.test
    totals = out_dir / f"{name}.json"
    if not is_done(totals, force):
        entries = list(read_manifest(str(exp.manifest(split))))
        print(f"-- {name}: scoring {exp.manifest(split)} ({len(entries)} utterances) with {describe(config)}",
              flush=True)
        if test.num_workers > 0:
            from ds2ray.raycluster import connect

            connect(log_to_driver=False, include_dashboard=False)
        report = evaluate(exp.checkpoint(), entries, config, num_workers=test.num_workers, use_gpu=test.use_gpu,
                          progress=False)
        print(report.summary(test.error_rate_type), flush=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        report.write_jsonl(str(out_dir / f"{name}.jsonl"), test.error_rate_type)
        write_json(totals, report.to_dict(test.error_rate_type))  # the totals mark this decoder done
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
            print(f"-- {split}: skipped ({path} not found; its data was missing when the prepare stage ran)")
        elif not path.read_text(encoding="utf-8").strip():
            print(f"-- {split}: skipped ({path} is empty; its data was missing when the prepare stage ran)")
        else:
            keep.append(split)
    return keep


def table(per_split: dict[str, dict[str, dict]], decoders: list[str], references: ReferenceTable | None) -> str:
    """One row per split and group: utterances, WER/CER per decoder, the reference recognisers' WER."""
    refs = references or ReferenceTable("", (), {})
    words = {s: next(iter(r.values()))["word_errors"]["ref_len"] for s, r in per_split.items() if r}
    rows: list[tuple[str, dict[str, dict], Mapping[str, float]]] = [
        (s, r, refs.wer.get(s, {})) for s, r in per_split.items()]
    for name, members in refs.groups.items():
        if len(per_split) > 2 and all(m in per_split for m in members):
            pooled = {d: pool([per_split[m][d] for m in members]) for d in decoders
                      if all(d in per_split[m] for m in members)}
            rows.append((name, pooled, refs.pooled(members, words)))
    if len(per_split) > 1:
        rows.append(("all", {d: pool([r[d] for r in per_split.values() if d in r]) for d in decoders}, {}))
    head = f"{'split':<26}{'utt':>6}" + "".join(f"{d + ' WER':>12}{d + ' CER':>12}" for d in decoders) \
        + "".join(f"{r + ' WER':>22}" for r in refs.recognisers)
    lines = [head, "-" * len(head)]
    for name, results, ref in rows:
        utt = next(iter(results.values()))["utterances"] if results else 0
        line = f"{name:<26}{utt:>6}"
        for d in decoders:
            line += f"{results[d]['wer']:>12.4f}{results[d]['cer']:>12.4f}" if d in results else f"{'-':>12}{'-':>12}"
        line += "".join(f"{ref[r]:>22.3f}" if r in ref else f"{'-':>22}" for r in refs.recognisers)
        lines.append(line)
    if references is not None:
        lines.append(f"references: {references.source}")
    return "\n".join(lines)


def test(exp: Experiment, *, force: bool = False, references: ReferenceTable | None = None) -> StageResult:
    """Score every decoder of ``test.decoders`` on every usable test split (see the module docstring)."""
    recipe = exp.recipe
    checkpoint = exp.checkpoint()
    exp.test_dir.mkdir(parents=True, exist_ok=True)
    splits = usable_splits(exp)
    if not splits:
        raise FileNotFoundError(f"no test manifest with utterances among {list(recipe.data.test)}: "
                                "run the prepare stage first")
    several = len(recipe.data.test) > 1
    decoders = []
    per_split: dict[str, dict[str, dict]] = {s: {} for s in splits}
    for name in recipe.test.decoders:
        config = decoder_for(exp, name)
        if config is None:
            print(f"-- {name}: skipped (no language model: lm.order is 0 or the lm stage has not run)")
            continue
        decoders.append(name)
        for split in splits:
            out_dir = exp.test_dir / split if several else exp.test_dir
            per_split[split][name] = score_split(exp, split, name, config, out_dir, force)
    if not decoders:
        raise RuntimeError(f"no decoder of {list(recipe.test.decoders)} could run")
    summary = {d: _brief(pool([per_split[s][d] for s in splits]) if several else per_split[splits[0]][d])
               for d in decoders}
    report: dict[str, Any] = {"checkpoint": checkpoint, "test": list(recipe.data.test), "results": summary}
    if several:
        report["splits"] = {s: {d: _brief(r) for d, r in per_split[s].items()} for s in splits}
        if references is not None:
            report["references"] = {"source": references.source,
                                    "wer": {s: dict(references.wer[s]) for s in splits if s in references.wer}}
        print(table(per_split, decoders, references), flush=True)
    write_json(exp.test_dir / "summary.json", report)
    return StageResult("; ".join(f"{d}: WER {s['wer']:.4f} CER {s['cer']:.4f} ({s['utterances']} utt)"
                                 for d, s in summary.items()))
