"""``impulse``: convolution with an impulse response drawn from an impulse manifest.

Seed: ImpulseResponseAugmentor (``impulse_manifest_path``). The convolution is causal and keeps
the length: ``y[n] = sum_k h[k] x[n - k]`` for n < N. A unit impulse ``[1, 0, ...]`` leaves the
signal unchanged; an impulse at sample d delays it by d samples. Computed with real FFTs (torch).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ds2ray.augment.base import WaveformAugmentor
from ds2ray.augment.sources import audio_cache, read_audio_list
from ds2ray.data.manifest import ManifestEntry

#: Below this many taps direct convolution beats the FFT.
_DIRECT_MAX_TAPS = 16


@functools.lru_cache(maxsize=512)
def next_fast_len(n: int) -> int:
    """Smallest 5-smooth integer (2^a 3^b 5^c) >= n: a size pocketfft handles fast."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            size = p35
            while size < n:
                size *= 2
            best = min(best, size)
            p35 *= 3
        p5 *= 5
    return best


def fft_convolve(audio: np.ndarray, impulse: np.ndarray) -> np.ndarray:
    """Causal convolution of ``audio`` (N,) or (C, N) with ``impulse`` (M,), truncated to N samples."""
    n = audio.shape[-1]
    if n == 0:
        return audio.copy()
    impulse = impulse[:n]
    if impulse.shape[0] <= _DIRECT_MAX_TAPS:
        out = np.zeros(audio.shape, dtype=np.float64)
        for k, tap in enumerate(impulse):
            if tap:
                out[..., k:] += float(tap) * audio[..., : n - k]
        return out.astype(audio.dtype, copy=False)
    import torch

    # torch's FFT in the audio's own precision: float32 runs about twice as fast as numpy's
    # float64-only pocketfft; the error stays near float32 resolution (~1e-7 of full scale).
    size = next_fast_len(n + impulse.shape[0] - 1)
    x = torch.from_numpy(audio if audio.flags.writeable and audio.flags.c_contiguous else audio.copy())
    h = torch.from_numpy(np.array(impulse, dtype=audio.dtype))  # a copy: cached clips are read-only
    spectrum = torch.fft.rfft(x, size, dim=-1) * torch.fft.rfft(h, size)
    return torch.fft.irfft(spectrum, size, dim=-1)[..., :n].numpy().astype(audio.dtype, copy=False)


@dataclass(frozen=True)
class ImpulseAugmentor(WaveformAugmentor, name="impulse"):
    """Convolve with an impulse response drawn uniformly from ``impulse_manifest_path``."""

    impulse_manifest_path: str
    entries: tuple[ManifestEntry, ...] = field(init=False, repr=False, compare=False)

    path_params: ClassVar[tuple[str, ...]] = ("impulse_manifest_path",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", read_audio_list(self.impulse_manifest_path, what="impulse"))

    def sample(self, rng: np.random.Generator, num_samples: int, sample_rate: int) -> dict[str, Any]:
        return {"index": int(rng.integers(len(self.entries)))}

    def apply(self, audio: np.ndarray, sample_rate: int, *, index: int) -> np.ndarray:
        return fft_convolve(audio, audio_cache().get(self.entries[index], sample_rate))
