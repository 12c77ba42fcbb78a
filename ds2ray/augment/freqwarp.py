"""``freq_warp``: vocal tract length perturbation on features (VTLP, Jaitly & Hinton 2013).

Speakers differ in vocal tract length, which scales every formant frequency by about the same
factor. VTLP draws a factor ``alpha`` per utterance and stretches the frequency axis of the
features by it: a formant at bin ``k`` moves to about ``alpha * k``. Above a boundary the warp
turns into the straight line that pins the top bin in place, so no band falls off the axis
(the paper's piecewise-linear warp, on bin indices)::

    w(k) = alpha * k                                       k <= k0 = boundary * (F - 1) * min(alpha, 1) / alpha
    w(k) = F - 1 - (F - 1 - alpha * k0) * (F - 1 - k) / (F - 1 - k0)    above

The output at bin ``j`` reads the input at ``w^-1(j)`` by linear interpolation between bins.

``min_warp``/``max_warp`` bound ``alpha`` (0.9-1.1 is the paper's range); ``boundary`` is the
fraction of the axis below which the warp is a pure scaling. Works on any (T, F) feature whose
bins are ordered by frequency (linear spectrogram, log-mel), before or after normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ds2ray.augment.base import FeatureAugmentor, check_range


def warp_positions(num_bins: int, alpha: float, boundary: float) -> np.ndarray:
    """Where each output bin reads the input, (F,) fractional bin indices in [0, F - 1]."""
    top = num_bins - 1
    if top < 1 or alpha == 1.0:
        return np.arange(num_bins, dtype=np.float64)
    k0 = boundary * top * min(alpha, 1.0) / alpha
    k = np.arange(num_bins, dtype=np.float64)
    warped = np.where(k <= k0, alpha * k, top - (top - alpha * k0) * (top - k) / max(top - k0, 1e-9))
    return np.interp(k, warped, k)  # w is increasing: invert it by swapping the axes


def warp_features(feats: torch.Tensor, alpha: float, boundary: float) -> torch.Tensor:
    """(T, F) -> (T, F): the frequency axis stretched by ``alpha`` (module docstring)."""
    num_bins = feats.shape[1]
    source = torch.from_numpy(warp_positions(num_bins, alpha, boundary)).to(feats.dtype)
    low = source.floor().long().clamp(0, max(num_bins - 1, 0))
    high = (low + 1).clamp(max=max(num_bins - 1, 0))
    frac = source - low.to(feats.dtype)
    return feats[:, low] * (1 - frac) + feats[:, high] * frac


@dataclass(frozen=True)
class FreqWarpAugmentor(FeatureAugmentor, name="freq_warp"):
    """Stretch the feature frequency axis by a factor drawn uniformly in [min_warp, max_warp]."""

    min_warp: float = 0.9
    max_warp: float = 1.1
    boundary: float = 0.8

    def __post_init__(self) -> None:
        check_range("freq_warp", self.min_warp, self.max_warp, "min_warp", "max_warp", minimum=0.5, maximum=2.0)
        if not 0.0 < self.boundary < 1.0:
            raise ValueError(f"boundary (the fraction of the axis that scales linearly) must be in (0, 1), "
                             f"got {self.boundary}")

    def sample(self, rng: np.random.Generator, num_frames: int, num_bins: int) -> dict[str, Any]:
        return {"alpha": float(rng.uniform(self.min_warp, self.max_warp))}

    def apply(self, feats: torch.Tensor, *, alpha: float) -> torch.Tensor:
        if feats.numel() == 0:
            return feats.clone()
        return warp_features(feats, alpha, self.boundary)
