"""Per-feature mean/std normalisation: computed over a random sample of utterances, in parallel
processes, saved as ``.npz`` together with the feature config it belongs to."""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import multiprocessing
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ds2ray.data.audio import AudioError, load_audio
from ds2ray.data.features import FeatureConfig, FeatureExtractor
from ds2ray.data.manifest import ManifestEntry

log = logging.getLogger(__name__)

#: Floor for the std: a constant feature (an empty filter, digital silence) must not divide by 0.
MIN_STD = 1e-3


@dataclass(frozen=True)
class NormalizerStats:
    mean: np.ndarray  # (F,)
    std: np.ndarray  # (F,)
    feature_config: FeatureConfig
    num_utterances: int = 0
    num_frames: int = 0
    num_skipped: int = 0

    def apply(self, feats: torch.Tensor) -> torch.Tensor:
        """(..., F) -> (..., F), normalised. Works on any device."""
        mean = torch.as_tensor(self.mean, dtype=feats.dtype, device=feats.device)
        std = torch.as_tensor(self.std, dtype=feats.dtype, device=feats.device)
        return (feats - mean) / std

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(),
                "feature_config": self.feature_config.to_dict(),
                "num_utterances": self.num_utterances, "num_frames": self.num_frames,
                "num_skipped": self.num_skipped}

    @classmethod
    def from_dict(cls, d: dict) -> "NormalizerStats":
        return cls(np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32),
                   FeatureConfig.from_dict(d["feature_config"]), d.get("num_utterances", 0),
                   d.get("num_frames", 0), d.get("num_skipped", 0))

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.npz")
        np.savez(tmp, mean=self.mean, std=self.std,
                 feature_config=json.dumps(self.feature_config.to_dict()),
                 counts=np.array([self.num_utterances, self.num_frames, self.num_skipped]))
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> "NormalizerStats":
        try:
            with np.load(path) as z:
                counts = z["counts"].tolist() if "counts" in z else [0, 0, 0]
                cfg = FeatureConfig.from_dict(json.loads(str(z["feature_config"])))
                return cls(z["mean"].astype(np.float32), z["std"].astype(np.float32), cfg, *counts)
        except (OSError, KeyError, ValueError) as err:
            raise ValueError(f"{path}: not a ds2ray mean/std file ({err}). Re-create it with "
                             "`ds2ray mean-std`.") from err

    def check_compatible(self, config: FeatureConfig) -> None:
        if self.feature_config != config:
            raise ValueError(f"normaliser stats were computed for {self.feature_config}, but the "
                             f"features are {config}; recompute them with `ds2ray mean-std`")


def _accumulate(args: tuple[list[tuple[str, float, float]], dict]) -> tuple[np.ndarray, np.ndarray, int, int, list[str]]:
    items, cfg_dict = args
    torch.set_num_threads(1)
    cfg = FeatureConfig.from_dict(cfg_dict)
    extractor = FeatureExtractor(cfg)
    total = np.zeros(cfg.num_features, np.float64)
    total_sq = np.zeros(cfg.num_features, np.float64)
    frames = 0
    ok = 0
    errors = []
    for path, offset, duration in items:
        try:
            wave = load_audio(path, cfg.sample_rate, offset=offset, duration=duration if offset else None)
        except AudioError as err:
            errors.append(str(err))
            continue
        feats = extractor.numpy(wave).astype(np.float64)
        total += feats.sum(axis=0)
        total_sq += np.square(feats).sum(axis=0)
        frames += feats.shape[0]
        ok += 1
    return total, total_sq, frames, ok, errors


def compute_mean_std(
    entries: Sequence[ManifestEntry],
    feature_config: FeatureConfig,
    *,
    num_samples: int = 2000,
    num_workers: int = 2,
    seed: int = 0,
    progress: bool = True,
) -> NormalizerStats:
    """Mean/std of features over ``num_samples`` randomly chosen utterances (all if fewer).

    Unreadable audio is skipped and counted (``num_skipped``); it fails only if nothing is readable.
    """
    if not entries:
        raise ValueError("cannot compute mean/std: the manifest has no utterances")
    rng = random.Random(seed)
    chosen = list(entries) if num_samples <= 0 or num_samples >= len(entries) else rng.sample(list(entries), num_samples)
    items = [(e.audio_filepath, e.offset, e.duration) for e in chosen]
    n_chunks = max(1, min(len(items), num_workers * 8))
    chunks = [items[i::n_chunks] for i in range(n_chunks)]
    cfg_dict = feature_config.to_dict()
    total = np.zeros(feature_config.num_features, np.float64)
    total_sq = np.zeros_like(total)
    frames = ok = 0
    errors: list[str] = []

    from tqdm import tqdm

    bar = tqdm(total=len(items), desc="mean/std", unit="utt", disable=not progress)
    if num_workers <= 1:
        results = (_accumulate((c, cfg_dict)) for c in chunks)
        pool = None
    else:
        pool = cf.ProcessPoolExecutor(num_workers, mp_context=multiprocessing.get_context("spawn"))
        results = pool.map(_accumulate, [(c, cfg_dict) for c in chunks])
    try:
        for (t, tsq, f, k, errs), chunk in zip(results, chunks):
            total += t
            total_sq += tsq
            frames += f
            ok += k
            errors.extend(errs)
            bar.update(len(chunk))
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
    for err in errors[:10]:
        log.warning("skipped: %s", err)
    if errors:
        log.warning("mean/std: %d of %d utterances skipped (unreadable audio)", len(errors), len(items))
    if frames == 0:
        raise ValueError(f"no usable audio among {len(items)} sampled utterances"
                         + (f"; first error: {errors[0]}" if errors else ""))
    mean = total / frames
    var = np.maximum(total_sq / frames - mean ** 2, 0.0)
    std = np.maximum(np.sqrt(var), MIN_STD)
    return NormalizerStats(mean.astype(np.float32), std.astype(np.float32), feature_config, ok, frames, len(errors))
