"""The infer stage: show N test utterances, reference against hypothesis (as the seed's
``infer.py`` did), or transcribe audio files.

Uses the trained checkpoint of the experiment and the best decoder the recipe has (beam with the
LM and tuned (alpha, beta) when they exist, else greedy). Nothing is skipped: it only prints.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from ds2ray.pipeline.experiment import Experiment, StageResult
from ds2ray.pipeline.test import decoder_for


def show_results(report: Any, num_samples: int, kind: str) -> None:
    """Print an :class:`~ds2ray.evaluate.EvalReport` the seed's infer.py way: the first
    ``num_samples`` results as reference, hypothesis and error rate, then their total rate; the
    results after them (audio files, no reference) as ``FILE<TAB>text``."""
    from ds2ray.metrics import total

    results = report.results[:num_samples]
    for r in results:
        print(f"\nTarget Transcription: {r.ref}\nOutput Transcription: {r.hyp}")
        print(f"Current error rate [{kind}] = {r.rate(kind):.6f}")
    if results:
        counts = total((r.word if kind == "wer" else r.char) for r in results)
        print(f"\n{len(results)} samples: error rate [{kind}] = {counts.rate:.6f}")
    for r in report.results[num_samples:]:
        print(f"{r.audio_filepath}\t{r.hyp}")


def infer(exp: Experiment, *, decoder: str | None = None, files: Sequence[str] = ()) -> StageResult:
    """``test.infer_samples`` utterances of the first test split, or ``files``, with ``decoder``
    (``greedy``/``beam``; default: beam when the recipe has an LM)."""
    from ds2ray.data.manifest import ManifestEntry, read_manifest
    from ds2ray.evaluate import evaluate

    recipe = exp.recipe
    choice = decoder or ("beam" if decoder_for(exp, "beam") is not None else "greedy")
    config = decoder_for(exp, choice)
    if config is None:
        raise ValueError(f"decoder {choice}: this experiment has no language model (lm.order 0 or lm stage not run)")
    checkpoint = exp.checkpoint()
    if files:
        from ds2ray.data.audio import audio_info

        missing = [f for f in files if not os.path.exists(f)]
        if missing:
            raise FileNotFoundError(f"audio file(s) not found: {missing}")
        entries = [ManifestEntry(f, audio_info(f).duration, "") for f in files]
    else:
        entries = list(read_manifest(exp.manifests(recipe.data.test)[0]))[: recipe.test.infer_samples]
        if not entries:
            raise ValueError(f"no utterances in {exp.manifests(recipe.data.test)[0]}")
    report = evaluate(checkpoint, entries, config, use_gpu=recipe.test.use_gpu)
    show_results(report, 0 if files else len(entries), recipe.test.error_rate_type)
    return StageResult(f"{choice} decoder, {len(entries)} utterance(s)")
