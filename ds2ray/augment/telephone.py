"""``telephone``: a narrowband telephone channel (resample to 8 kHz and back, band-pass, G.711).

The chain, at ``narrowband_rate`` (8 kHz by default):

1. resample down with soxr (its anti-aliasing filter removes everything above ~3.7 kHz);
2. optionally band-pass ``low_hz``-``high_hz`` (300-3400 Hz: the telephone band of ITU-T G.712),
   a Butterworth filter run forwards and backwards (zero phase: nothing is delayed);
3. optionally G.711 companding: mu-law (North America, Japan) or A-law (elsewhere), the
   logarithmic 8-bit quantisation of a digital phone line, relative to full scale +-1;
4. resample back with soxr to the input rate, cut or zero-padded to the input length.

soxr compensates its own filter delay, so the output stays aligned with the labels. Deterministic:
nothing is drawn. Audio at or below the narrowband rate is not resampled.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from ds2ray.augment.base import WaveformAugmentor, check_range
from ds2ray.augment.waveform import fit_length, resample

G711_LAWS = ("none", "mulaw", "alaw")
MU = 255.0
A = 87.6
#: Butterworth order of each band edge (the forward-backward run doubles it).
BANDPASS_ORDER = 4


def mulaw(x: np.ndarray) -> np.ndarray:
    """G.711 mu-law round trip: compress, quantise to 8 bits (255 levels), expand. Clips at +-1."""
    x = np.clip(x, -1.0, 1.0)
    y = np.sign(x) * np.log1p(MU * np.abs(x)) / np.log1p(MU)
    y = np.round(y * 127.0) / 127.0
    return np.clip(np.sign(y) * np.expm1(np.abs(y) * np.log1p(MU)) / MU, -1.0, 1.0)


def alaw(x: np.ndarray) -> np.ndarray:
    """G.711 A-law round trip: compress, quantise to 8 bits, expand. Clips at +-1."""
    x = np.clip(x, -1.0, 1.0)
    ax = np.abs(x)
    norm = 1.0 + np.log(A)
    y = np.where(ax < 1.0 / A, A * ax / norm, (1.0 + np.log(np.maximum(A * ax, 1.0))) / norm)
    y = np.round(y * 127.0) / 127.0
    out = np.where(y < 1.0 / norm, y * norm / A, np.exp(y * norm - 1.0) / A)
    return np.sign(x) * np.minimum(out, 1.0)


@functools.lru_cache(maxsize=32)
def bandpass_sos(sample_rate: int, low_hz: float, high_hz: float) -> np.ndarray:
    """Second-order sections of the band-pass filter (scipy is imported on first use)."""
    from scipy.signal import butter

    return butter(BANDPASS_ORDER, [low_hz, high_hz], btype="bandpass", fs=sample_rate, output="sos")


def bandpass(audio: np.ndarray, sample_rate: int, low_hz: float, high_hz: float) -> np.ndarray:
    """Zero-phase band-pass along the last axis; clips shorter than the filter's padding are
    padded less (a 2-sample clip still works)."""
    from scipy.signal import sosfiltfilt

    n = audio.shape[-1]
    if n < 2:
        return audio.copy()
    sos = bandpass_sos(sample_rate, low_hz, high_hz)
    return sosfiltfilt(sos, audio, axis=-1, padlen=min(3 * (2 * len(sos) + 1), n - 1))


@dataclass(frozen=True)
class TelephoneAugmentor(WaveformAugmentor, name="telephone"):
    """Telephone channel: 8 kHz band limit, optional 300-3400 Hz band-pass and G.711 companding."""

    narrowband_rate: int = 8000
    bandpass: bool = True
    low_hz: float = 300.0
    high_hz: float = 3400.0
    #: G.711 companding: none, mulaw or alaw.
    g711: str = "mulaw"
    #: soxr quality: QQ, LQ, MQ, HQ or VHQ.
    quality: str = "HQ"

    def __post_init__(self) -> None:
        if not 4000 <= self.narrowband_rate <= 48000:
            raise ValueError(f"narrowband_rate must be in [4000, 48000] Hz, got {self.narrowband_rate}")
        check_range("telephone", self.low_hz, self.high_hz, "low_hz", "high_hz", minimum=1.0)
        if self.low_hz >= self.high_hz:
            raise ValueError(f"low_hz={self.low_hz} must be below high_hz={self.high_hz}")
        if self.high_hz >= self.narrowband_rate / 2:
            raise ValueError(f"high_hz={self.high_hz} must be below half the narrowband_rate "
                             f"({self.narrowband_rate / 2:g} Hz)")
        if self.g711 not in G711_LAWS:
            raise ValueError(f"g711 must be one of {', '.join(G711_LAWS)}, got {self.g711!r}")
        if self.quality not in ("QQ", "LQ", "MQ", "HQ", "VHQ"):
            raise ValueError(f"quality must be one of QQ, LQ, MQ, HQ, VHQ (soxr), got {self.quality!r}")

    def sample(self, rng: np.random.Generator, num_samples: int, sample_rate: int) -> dict[str, Any]:
        return {}

    def apply(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        n = audio.shape[-1]
        if n == 0:
            return audio.copy()
        rate = min(sample_rate, self.narrowband_rate)
        x = audio.astype(np.float64)
        if rate < sample_rate:
            x = resample(x, sample_rate, rate, self.quality)
        if self.bandpass and self.high_hz < rate / 2:
            x = bandpass(x, rate, self.low_hz, self.high_hz)
        if self.g711 == "mulaw":
            x = mulaw(x)
        elif self.g711 == "alaw":
            x = alaw(x)
        if rate < sample_rate:
            x = fit_length(resample(x, rate, sample_rate, self.quality), n)
        return np.ascontiguousarray(x, dtype=audio.dtype)
