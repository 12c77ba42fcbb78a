"""Signal-only waveform augmentors (no external audio): ``volume``, ``speed``, ``shift`` and
``bayesian_normal``, with the seed's parameter names.

Arrays: (N,) mono or (C, N); time is the last axis, N samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ds2ray.augment.base import WaveformAugmentor, check_range


def apply_gain_db(audio: np.ndarray, gain_db: float | np.ndarray) -> np.ndarray:
    """Scale by ``gain_db`` decibels (a scalar, or one value per sample broadcast over channels)."""
    factor = np.power(10.0, np.asarray(gain_db, dtype=np.float64) / 20.0)
    return (audio * factor).astype(audio.dtype, copy=False)


def rms_db(audio: np.ndarray) -> float:
    """Mean power in dB (10 log10 of the mean square); ``-inf`` for silence."""
    mean_square = float(np.mean(np.square(audio, dtype=np.float64))) if audio.size else 0.0
    return 10.0 * np.log10(mean_square) if mean_square > 0 else float("-inf")


def resample(audio: np.ndarray, in_rate: float, out_rate: float, quality: str = "HQ") -> np.ndarray:
    """soxr along the last axis of (N,) or (C, N); float64 out. soxr compensates its filter delay."""
    import soxr

    frames = audio.T if audio.ndim == 2 else audio
    out = soxr.resample(np.ascontiguousarray(frames, dtype=np.float64), in_rate, out_rate, quality=quality)
    return out.T if audio.ndim == 2 else out


def fit_length(audio: np.ndarray, length: int) -> np.ndarray:
    """Cut or zero-pad the last axis to ``length`` samples."""
    n = audio.shape[-1]
    if n >= length:
        return audio[..., :length]
    return np.pad(audio, [(0, 0)] * (audio.ndim - 1) + [(0, length - n)])


@dataclass(frozen=True)
class VolumeAugmentor(WaveformAugmentor, name="volume"):
    """Gain: a level change drawn uniformly from [min_gain_dBFS, max_gain_dBFS] dB, the same for
    the whole utterance (seed: VolumePerturbAugmentor). The augmentor for microphone and
    recording-level variation; nothing clips (float audio), so put it last in a chain."""

    min_gain_dBFS: float
    max_gain_dBFS: float

    def __post_init__(self) -> None:
        check_range("volume", self.min_gain_dBFS, self.max_gain_dBFS, "min_gain_dBFS", "max_gain_dBFS",
                    minimum=-120.0, maximum=60.0)

    def sample(self, rng: np.random.Generator, num_samples: int, sample_rate: int) -> dict[str, Any]:
        return {"gain_db": float(rng.uniform(self.min_gain_dBFS, self.max_gain_dBFS))}

    def apply(self, audio: np.ndarray, sample_rate: int, *, gain_db: float) -> np.ndarray:
        return apply_gain_db(audio, gain_db)


@dataclass(frozen=True)
class SpeedAugmentor(WaveformAugmentor, name="speed"):
    """Speed perturbation by resampling (Ko et al. 2015): rate r from [min_speed_rate, max_speed_rate].

    The signal is read as if recorded at ``r * sample_rate`` and resampled with soxr to
    ``sample_rate``: N samples become about N / r, and every frequency is multiplied by r (tempo
    and pitch change together, as in Kaldi's speed perturbation). r > 1 speeds up.
    """

    min_speed_rate: float
    max_speed_rate: float
    #: soxr quality: QQ, LQ, MQ, HQ or VHQ.
    quality: str = "HQ"

    def __post_init__(self) -> None:
        check_range("speed", self.min_speed_rate, self.max_speed_rate, "min_speed_rate", "max_speed_rate",
                    minimum=0.5, maximum=2.0)
        if self.quality not in ("QQ", "LQ", "MQ", "HQ", "VHQ"):
            raise ValueError(f"quality must be one of QQ, LQ, MQ, HQ, VHQ (soxr), got {self.quality!r}")

    def sample(self, rng: np.random.Generator, num_samples: int, sample_rate: int) -> dict[str, Any]:
        return {"rate": float(rng.uniform(self.min_speed_rate, self.max_speed_rate))}

    def apply(self, audio: np.ndarray, sample_rate: int, *, rate: float) -> np.ndarray:
        if rate == 1.0 or audio.shape[-1] < 2:
            return audio
        import soxr

        # soxr wants (N,) or (N, C); it keeps float32/float64.
        frames = audio.T if audio.ndim == 2 else audio
        out = soxr.resample(np.ascontiguousarray(frames), sample_rate * rate, sample_rate, quality=self.quality)
        out = out.T if audio.ndim == 2 else out
        return np.ascontiguousarray(out, dtype=audio.dtype)


@dataclass(frozen=True)
class ShiftAugmentor(WaveformAugmentor, name="shift"):
    """Time shift drawn from [min_shift_ms, max_shift_ms], zero-padded, length kept.

    The seed's sign: a positive shift advances the signal (content moves ``shift`` earlier and
    zeros fill the end); a negative shift delays it. Samples: ``int(shift_ms * sample_rate / 1000)``.
    """

    min_shift_ms: float
    max_shift_ms: float

    def __post_init__(self) -> None:
        check_range("shift", self.min_shift_ms, self.max_shift_ms, "min_shift_ms", "max_shift_ms")

    def sample(self, rng: np.random.Generator, num_samples: int, sample_rate: int) -> dict[str, Any]:
        return {"shift_ms": float(rng.uniform(self.min_shift_ms, self.max_shift_ms))}

    def apply(self, audio: np.ndarray, sample_rate: int, *, shift_ms: float) -> np.ndarray:
        return shift_samples(audio, int(shift_ms * sample_rate / 1000))


def shift_samples(audio: np.ndarray, shift: int) -> np.ndarray:
    """Advance (``shift`` > 0) or delay (< 0) along the last axis by whole samples, zero-filled."""
    n = audio.shape[-1]
    out = np.zeros_like(audio)
    if shift == 0:
        return audio.copy()
    if abs(shift) >= n:
        return out
    if shift > 0:
        out[..., : n - shift] = audio[..., shift:]
    else:
        out[..., -shift:] = audio[..., : n + shift]
    return out


@dataclass(frozen=True)
class BayesianNormalAugmentor(WaveformAugmentor, name="bayesian_normal"):
    """Online (causal) Bayesian RMS normalisation to ``target_db`` (seed: normalize_online_bayesian).

    The running mean square up to each sample is estimated with a prior of ``prior_db`` worth
    ``prior_samples`` samples; each sample gets the gain that brings that estimate to ``target_db``.
    For the first ``startup_delay`` seconds the statistics of the whole start-up window are used.
    Deterministic: nothing is drawn.
    """

    target_db: float
    prior_db: float
    prior_samples: float
    startup_delay: float = 0.0

    def __post_init__(self) -> None:
        if self.prior_samples <= 0:
            raise ValueError(f"prior_samples must be > 0, got {self.prior_samples}")
        if self.startup_delay < 0:
            raise ValueError(f"startup_delay must be >= 0 seconds, got {self.startup_delay}")

    def sample(self, rng: np.random.Generator, num_samples: int, sample_rate: int) -> dict[str, Any]:
        return {}

    def apply(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        n = audio.shape[-1]
        if n == 0:
            return audio
        power = np.square(audio, dtype=np.float64)
        if power.ndim == 2:
            power = power.mean(axis=0)
        # running mean square with the prior: (cumsum + prior_sum) / (count + prior_samples)
        mean_square = np.cumsum(power, out=power)
        mean_square += 10.0 ** (self.prior_db / 10.0) * self.prior_samples
        count = np.arange(1 + self.prior_samples, n + 1 + self.prior_samples, dtype=np.float64)[:n]
        startup = min(n - 1, int(sample_rate * self.startup_delay))
        if startup > 0:
            mean_square[:startup] = mean_square[startup]
            count[:startup] = count[startup]
        mean_square /= count
        # gain = 10^((target_db - 10 log10(mean_square)) / 20), without a per-sample log and pow
        gain = np.divide(10.0 ** (self.target_db / 10.0), mean_square, out=mean_square)
        gain = np.sqrt(gain, out=gain).astype(audio.dtype, copy=False)
        return (audio * gain).astype(audio.dtype, copy=False)
