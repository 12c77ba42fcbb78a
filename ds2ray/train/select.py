"""Which checkpoint a run hands on: the last one, the lowest-dev-CER one (``<run>/best``) or the
average of the last few (``<run>/averaged``), each decoded greedily on the same dev utterances.

The loop's own dev figures cannot rank them: the averaged model never ran in the loop, and the
loop's figures for the others come from different moments. So all candidates are measured here,
on the same utterances, with the same decoder.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def _same_weights(a: dict[str, "torch.Tensor"], b: dict[str, "torch.Tensor"]) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@dataclass
class Selection:
    name: str  # the chosen candidate: last, best or averaged
    checkpoint: str
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)  # candidate -> path, dev_cer, dev_wer


def dev_entries(manifests: Sequence[str]) -> list:
    """Every dev entry of ``manifests``: not the loop's per-epoch sample (``dev_max_utterances``), so
    the loop's best checkpoint, picked on that sample, gains nothing from having been picked there."""
    from ds2ray.data.manifest import read_manifest

    return list(read_manifest(list(manifests), skip_bad=True))


def select_checkpoint(candidates: Mapping[str, str | None], entries: Sequence[Any]) -> Selection:
    """The candidate with the lowest greedy dev CER on ``entries`` (ties: the earlier in ``candidates``).

    ``candidates`` maps a name to a checkpoint (``None``: absent); checkpoints holding the same
    weights are decoded once."""
    from ds2ray.decode.base import DecoderConfig
    from ds2ray.evaluate import evaluate
    from ds2ray.model.checkpoint import load_checkpoint

    present = {name: path for name, path in candidates.items() if path}
    if not present:
        raise ValueError("select_checkpoint: no candidate checkpoints")
    if len(set(present.values())) == 1 or not entries:
        name, path = next(iter(present.items()))
        return Selection(name, path, {n: {"checkpoint": p} for n, p in present.items()})
    scores: dict[str, dict[str, Any]] = {}
    scored: list[tuple[dict[str, torch.Tensor], dict[str, Any]]] = []  # (weights, figures) decoded so far
    for name, path in present.items():
        weights = load_checkpoint(path).model_state
        figures = next((f for w, f in scored if _same_weights(w, weights)), None)
        if figures is None:  # e.g. the last checkpoint is also the best: the same weights are decoded once
            report = evaluate(path, entries, DecoderConfig(type="greedy"), progress=False)
            figures = {"dev_cer": round(report.char.rate, 4), "dev_wer": round(report.word.rate, 4)}
            scored.append((weights, figures))
        scores[name] = {"checkpoint": path, **figures}
        log.info("checkpoint %s (%s): dev CER %.4f, WER %.4f on %d utterances", name, path,
                 scores[name]["dev_cer"], scores[name]["dev_wer"], len(entries))
    name = min(scores, key=lambda n: scores[n]["dev_cer"])  # min keeps the first of equals
    return Selection(name, present[name], scores)
