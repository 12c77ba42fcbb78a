"""``specaugment``: time warp, frequency masks and time masks on features (Park et al. 2019).

Parameter names follow the seed's later SpecAugmentor: ``F`` and ``n_freq_masks``, ``T`` and
``n_time_masks``, ``p`` (a time mask covers at most ``p`` of the frames), ``W`` (time warp; 0 turns
it off), ``adaptive_number_ratio``/``adaptive_size_ratio``/``max_n_time_masks`` (adaptive
SpecAugment, Park et al. 2020) and ``replace_with_zero`` (else masks take the utterance mean).

Shapes: feats (T, F), T frames, F feature bins. A mask width is drawn uniformly from
{0, ..., F} (or {0, ..., min(T, p * frames)}), its start uniformly among the positions where it fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ds2ray.augment.base import FeatureAugmentor

Mask = tuple[int, int]  # (start, width)


def draw_masks(rng: np.random.Generator, size: int, max_width: int, count: int) -> list[Mask]:
    """``count`` masks over an axis of ``size``: width uniform in [0, min(max_width, size)]."""
    masks = []
    limit = max(0, min(max_width, size))
    for _ in range(count):
        width = int(rng.integers(0, limit + 1))
        start = int(rng.integers(0, size - width + 1))
        masks.append((start, width))
    return masks


def time_warp(feats: torch.Tensor, centre: int, target: int) -> torch.Tensor:
    """Move frame ``centre`` to ``target`` by stretching [0, centre) onto [0, target) and
    [centre, T) onto [target, T) with linear interpolation. feats (T, F) -> (T, F)."""
    num_frames = feats.shape[0]
    if centre == target or not 0 < centre < num_frames or not 0 < target < num_frames:
        return feats
    x = feats.t().unsqueeze(0)  # (1, F, T)
    left = torch.nn.functional.interpolate(x[..., :centre], size=target, mode="linear", align_corners=False)
    right = torch.nn.functional.interpolate(x[..., centre:], size=num_frames - target, mode="linear",
                                            align_corners=False)
    return torch.cat([left, right], dim=-1)[0].t().contiguous()


@dataclass(frozen=True)
class SpecAugmentor(FeatureAugmentor, name="specaugment"):
    """Masks (and optionally warps) a (T, F) feature tensor. Widths in bins/frames."""

    F: int = 0
    n_freq_masks: int = 0
    T: int = 0
    n_time_masks: int = 0
    p: float = 1.0
    W: int = 0
    adaptive_number_ratio: float = 0.0
    adaptive_size_ratio: float = 0.0
    max_n_time_masks: int = 20
    replace_with_zero: bool = True

    def __post_init__(self) -> None:
        for name in ("F", "n_freq_masks", "T", "n_time_masks", "W", "max_n_time_masks"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"p (largest fraction of frames a time mask may cover) must be in [0, 1], "
                             f"got {self.p}")
        for name in ("adaptive_number_ratio", "adaptive_size_ratio"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")

    def time_mask_limits(self, num_frames: int) -> tuple[int, int]:
        """(number of time masks, largest width) for an utterance of ``num_frames``."""
        count = self.n_time_masks
        if self.adaptive_number_ratio > 0:
            count = min(int(num_frames * self.adaptive_number_ratio), self.max_n_time_masks)
        width = int(self.adaptive_size_ratio * num_frames) if self.adaptive_size_ratio > 0 else self.T
        return count, min(width, int(num_frames * self.p))

    def sample(self, rng: np.random.Generator, num_frames: int, num_bins: int) -> dict[str, Any]:
        warp = None
        if self.W > 0 and num_frames > 2 * self.W + 1:
            centre = int(rng.integers(self.W, num_frames - self.W))
            warp = (centre, centre + int(rng.integers(-self.W, self.W + 1)))
        count, width = self.time_mask_limits(num_frames)
        return {
            "warp": warp,
            "freq_masks": draw_masks(rng, num_bins, self.F, self.n_freq_masks),
            "time_masks": draw_masks(rng, num_frames, width, count),
        }

    def apply(self, feats: torch.Tensor, *, warp: tuple[int, int] | None, freq_masks: list[Mask],
              time_masks: list[Mask]) -> torch.Tensor:
        out = time_warp(feats, *warp) if warp else feats.clone()
        if out.numel() == 0:
            return out
        fill = 0.0 if self.replace_with_zero else float(out.mean())
        for start, width in freq_masks:
            out[:, start: start + width] = fill
        for start, width in time_masks:
            out[start: start + width, :] = fill
        return out
