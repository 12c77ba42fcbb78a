"""Listen to and look at an augmentation config: a few augmented WAVs and one PNG with each
original and augmented spectrogram side by side (``ds2ray augment preview``).

Writes into ``out_dir``: ``NN_original.wav``, ``NN_augmented.wav`` (32-bit float, so gains above
full scale are kept, not clipped), ``preview.png`` and ``preview.json`` (what fired, with the
drawn values, per utterance).

Spectrograms are shown normalised, as the model sees them and as ``specaugment`` expects them
(a mask of zeros is a mask at the mean): with the training mean/std when given, else per
utterance.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ds2ray.augment.pipeline import Applied, AugmentPipeline
from ds2ray.data.manifest import ManifestEntry


@dataclass
class PreviewItem:
    source: str
    original_wav: str
    augmented_wav: str
    original_seconds: float
    augmented_seconds: float
    applied: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Preview:
    png: str
    items: list[PreviewItem]

    def to_dict(self) -> dict[str, Any]:
        return {"png": self.png, "items": [vars(i) for i in self.items]}


def describe(applied: Sequence[Applied]) -> str:
    """One short line: ``speed(rate=1.03) shift(shift_ms=-2.1)``."""
    parts = []
    for a in applied:
        values = ", ".join(f"{k}={_short(v)}" for k, v in a.choice.items())
        parts.append(f"{a.type}({values})")
    return " ".join(parts) or "(nothing fired)"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_short(v) for v in value) + "]"
    return str(value)


def utterance_normalize(feats):
    """Per-utterance mean/variance normalisation of (T, F) features (the fallback for previews)."""
    if feats.shape[0] < 2:
        return feats - feats.mean(dim=0, keepdim=True)
    return (feats - feats.mean(dim=0, keepdim=True)) / feats.std(dim=0, keepdim=True).clamp_min(1e-3)


def render_preview(pipeline: AugmentPipeline, entries: Sequence[ManifestEntry], out_dir: str | Path, *,
                   feature_config=None, normalize: Callable | None = None, seed: int = 0) -> Preview:
    """Augment each entry once (generator ``rng_for(seed, 0, i)``) and write WAVs, PNG and JSON.

    ``normalize`` maps (T, F) features to normalised ones before the feature stage (e.g.
    ``NormalizerStats.apply``); default: :func:`utterance_normalize`.
    """
    import soundfile as sf
    import torch

    from ds2ray.data.audio import load_audio
    from ds2ray.data.features import FeatureConfig, FeatureExtractor

    if not entries:
        raise ValueError("nothing to preview: the manifest selection is empty")
    cfg = feature_config or FeatureConfig()
    normalize = normalize or utterance_normalize
    extractor = FeatureExtractor(cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    items, panels = [], []
    for i, entry in enumerate(entries):
        audio = load_audio(entry.audio_filepath, cfg.sample_rate, offset=entry.offset, duration=entry.duration)
        rng = AugmentPipeline.rng_for(seed, 0, i)
        trace: list[Applied] = []
        augmented = pipeline.process_waveform(audio, cfg.sample_rate, rng, trace)
        with torch.no_grad():
            feats = normalize(extractor(torch.from_numpy(audio)))
            aug_feats = pipeline.process_features(normalize(extractor(torch.from_numpy(augmented))), rng, trace)
        names = (out / f"{i:02d}_original.wav", out / f"{i:02d}_augmented.wav")
        sf.write(str(names[0]), audio, cfg.sample_rate, subtype="FLOAT")
        sf.write(str(names[1]), augmented, cfg.sample_rate, subtype="FLOAT")
        items.append(PreviewItem(
            source=entry.audio_filepath, original_wav=str(names[0]), augmented_wav=str(names[1]),
            original_seconds=len(audio) / cfg.sample_rate, augmented_seconds=len(augmented) / cfg.sample_rate,
            applied=[{"type": a.type, **a.choice} for a in trace]))
        panels.append((Path(entry.audio_filepath).name, feats.numpy(), aug_feats.numpy(), describe(trace)))
    png = out / "preview.png"
    _plot(panels, png, cfg.kind)
    result = Preview(str(png), items)
    (out / "preview.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result


def _plot(panels: list[tuple[str, np.ndarray, np.ndarray, str]], path: Path, kind: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 2, figsize=(12, 2.6 * len(panels)), squeeze=False)
    for row, (name, original, augmented, what) in enumerate(panels):
        finite = original[np.isfinite(original)]
        vmin, vmax = (np.percentile(finite, [2, 99.5]) if finite.size else (None, None))
        for col, (feats, title) in enumerate(((original, f"original: {name}"),
                                              (augmented, f"augmented: {what}"))):
            ax = axes[row][col]
            ax.imshow(feats.T, origin="lower", aspect="auto", interpolation="nearest", vmin=vmin, vmax=vmax)
            ax.set_title(title, fontsize=8, loc="left", wrap=True)
            ax.set_xlabel("frame", fontsize=7)
            ax.set_ylabel(f"{kind} bin", fontsize=7)
            ax.tick_params(labelsize=6)
    fig.tight_layout()
    fig.savefig(str(path), dpi=90)
    plt.close(fig)
