"""Acoustic features in torch, batched on CPU or GPU: the DS2 linear spectrogram, log-mel fbank,
and MFCC with deltas.

Shapes: B batch, N samples, T frames, F features. Frames are not centred: a signal of N samples
gives ``1 + (N - window) // stride`` frames (:meth:`FeatureConfig.num_frames`), as in the seed.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

from ds2ray.config import ConfigBase, ConfigError

FEATURE_KINDS = ("linear", "fbank", "mfcc")


@dataclass(frozen=True)
class FeatureConfig(ConfigBase):
    """How waveforms become features.

    ``linear`` is the DS2 power spectrogram: 20 ms Hann window, 10 ms stride, an FFT the length
    of the window (161 bins at 16 kHz), log power. ``fbank`` and ``mfcc`` default to the next
    power-of-two FFT (512 at 16 kHz): 80 mel filters on a 320-point FFT leave one filter empty.

    ``cmn`` subtracts each utterance's own mean feature vector (over its frames) before the global
    mean/std normalisation: in the log domain a fixed per-band gain (microphone, channel, a voice's
    formant strengths) becomes a constant offset, which this removes.
    """

    kind: str = "linear"
    sample_rate: int = 16000
    window_ms: float = 20.0
    stride_ms: float = 10.0
    n_fft: int | None = None
    max_freq: float | None = None  # linear: drop bins above this frequency (seed's max_freq)
    n_mels: int = 80
    f_min: float = 20.0
    f_max: float | None = None
    n_mfcc: int = 13
    deltas: bool = True  # mfcc: append delta and delta-delta
    eps: float = 1e-10
    cmn: bool = False  # per-utterance mean normalisation

    def __post_init__(self) -> None:
        if self.kind not in FEATURE_KINDS:
            raise ConfigError(f"FeatureConfig.kind must be one of {FEATURE_KINDS}, got {self.kind!r}")
        if self.stride_ms <= 0 or self.window_ms < self.stride_ms:
            raise ConfigError("FeatureConfig needs 0 < stride_ms <= window_ms")
        if self.n_fft is not None and self.n_fft < self.win_length:
            raise ConfigError(f"FeatureConfig.n_fft={self.n_fft} is shorter than the window "
                              f"({self.win_length} samples)")

    @property
    def win_length(self) -> int:
        return int(round(self.sample_rate * self.window_ms / 1000))

    @property
    def hop_length(self) -> int:
        return int(round(self.sample_rate * self.stride_ms / 1000))

    @property
    def fft_size(self) -> int:
        if self.n_fft is not None:
            return self.n_fft
        if self.kind == "linear":
            return self.win_length
        return 1 << (self.win_length - 1).bit_length()

    @property
    def num_linear_bins(self) -> int:
        bins = self.fft_size // 2 + 1
        if self.max_freq is not None:
            bins = min(bins, int(math.floor(self.max_freq / (self.sample_rate / self.fft_size))) + 1)
        return bins

    @property
    def num_features(self) -> int:
        if self.kind == "linear":
            return self.num_linear_bins
        if self.kind == "fbank":
            return self.n_mels
        return self.n_mfcc * (3 if self.deltas else 1)

    def num_frames(self, num_samples):
        """Frames for ``num_samples`` (an int or an integer tensor). Shorter than a window: 0."""
        if isinstance(num_samples, torch.Tensor):
            return torch.clamp((num_samples - self.win_length) // self.hop_length + 1, min=0)
        return max(0, (int(num_samples) - self.win_length) // self.hop_length + 1)

    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length


@functools.lru_cache(maxsize=16)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """HTK-scale triangular filters, shape (n_fft // 2 + 1, n_mels). Raises if a filter is empty."""
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    bins = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    up = (bins[:, None] - lower[None, :]) / (centre - lower)[None, :]
    down = (upper[None, :] - bins[:, None]) / (upper - centre)[None, :]
    fb = np.clip(np.minimum(up, down), 0.0, None)
    empty = np.flatnonzero(fb.sum(axis=0) == 0)
    if empty.size:
        raise ConfigError(f"mel filter(s) {empty.tolist()} cover no FFT bin: use a larger n_fft "
                          f"(now {n_fft}) or fewer mels (now {n_mels})")
    return fb.astype(np.float32)


def dct_matrix(n_mels: int, n_mfcc: int) -> np.ndarray:
    """Orthonormal DCT-II, shape (n_mels, n_mfcc)."""
    n = np.arange(n_mels)
    k = np.arange(n_mfcc)
    m = np.cos(np.pi / n_mels * (n[:, None] + 0.5) * k[None, :]) * math.sqrt(2.0 / n_mels)
    m[:, 0] /= math.sqrt(2.0)
    return m.astype(np.float32)


def deltas(x: torch.Tensor, width: int = 2) -> torch.Tensor:
    """Regression deltas along time. x: (B, T, F) -> (B, T, F); edges are replicated."""
    if x.shape[1] == 0:
        return x
    padded = torch.nn.functional.pad(x.transpose(1, 2), (width, width), mode="replicate").transpose(1, 2)
    t = x.shape[1]
    num = sum(n * (padded[:, width + n: width + n + t] - padded[:, width - n: width - n + t])
              for n in range(1, width + 1))
    return num / (2 * sum(n * n for n in range(1, width + 1)))


def utterance_mean_normalize(feats: torch.Tensor, frames: torch.Tensor | None = None) -> torch.Tensor:
    """Subtract each utterance's mean over its valid frames. feats: (B, T, F); frames: (B,) or None
    (no padding). Padding frames are left as they are."""
    if feats.shape[1] == 0:
        return feats
    if frames is None:
        return feats - feats.mean(dim=1, keepdim=True)
    frames = frames.to(feats.device)
    valid = (torch.arange(feats.shape[1], device=feats.device)[None, :] < frames[:, None]).unsqueeze(-1)
    mean = (feats * valid).sum(dim=1, keepdim=True) / frames.clamp(min=1).to(feats.dtype)[:, None, None]
    return torch.where(valid, feats - mean, feats)


class FeatureExtractor(torch.nn.Module):
    """Waveforms -> features. Call with (B, N) or (N,) float tensors; returns (B, T, F) or (T, F)."""

    def __init__(self, config: FeatureConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or FeatureConfig()
        window = torch.hann_window(cfg.win_length, periodic=False, dtype=torch.float32)
        self.register_buffer("window", window, persistent=False)
        # The seed's scaling: power / (sum(w^2) * sr), doubled for all bins but DC and Nyquist.
        scale = torch.full((cfg.fft_size // 2 + 1,), 2.0 / (float((window ** 2).sum()) * cfg.sample_rate))
        scale[0] /= 2
        if cfg.fft_size % 2 == 0:
            scale[-1] /= 2
        self.register_buffer("scale", scale, persistent=False)
        if cfg.kind in ("fbank", "mfcc"):
            f_max = cfg.f_max or cfg.sample_rate / 2
            fb = mel_filterbank(cfg.sample_rate, cfg.fft_size, cfg.n_mels, cfg.f_min, f_max)
            self.register_buffer("mel", torch.from_numpy(fb), persistent=False)
        if cfg.kind == "mfcc":
            self.register_buffer("dct", torch.from_numpy(dct_matrix(cfg.n_mels, cfg.n_mfcc)), persistent=False)

    def forward(self, waves: torch.Tensor, lengths: torch.Tensor | None = None):
        """waves: (B, N) or (N,). With ``lengths`` (B,) returns ``(features, frame_lengths)``."""
        cfg = self.config
        single = waves.dim() == 1
        if single:
            waves = waves.unsqueeze(0)
        waves = waves.to(torch.float32)
        if waves.shape[1] < cfg.win_length:  # too short for one frame
            feats = waves.new_zeros((waves.shape[0], 0, cfg.num_features))
        else:
            feats = self._features(waves)
        frames = None if lengths is None else cfg.num_frames(lengths)
        if cfg.cmn:
            feats = utterance_mean_normalize(feats, frames)
        if single:
            feats = feats[0]
        if lengths is None:
            return feats
        return feats, frames

    def _features(self, waves: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        frames = waves.unfold(1, cfg.win_length, cfg.hop_length) * self.window  # (B, T, win)
        spec = torch.fft.rfft(frames, n=cfg.fft_size)  # (B, T, fft//2+1)
        power = spec.real.square() + spec.imag.square()
        if cfg.kind == "linear":
            power = power[..., : cfg.num_linear_bins] * self.scale[: cfg.num_linear_bins]
            return torch.log(power + cfg.eps)
        logmel = torch.log(torch.clamp(power @ self.mel, min=cfg.eps))
        if cfg.kind == "fbank":
            return logmel
        mfcc = logmel @ self.dct
        if not cfg.deltas:
            return mfcc
        d1 = deltas(mfcc)
        return torch.cat([mfcc, d1, deltas(d1)], dim=-1)

    def numpy(self, wave: np.ndarray) -> np.ndarray:
        """Convenience: one mono float waveform -> (T, F) float32 array."""
        with torch.no_grad():
            return self.forward(torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))).numpy()
