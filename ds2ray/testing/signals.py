"""Seeded test signals (float32 mono unless stated) and a WAV writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def sine(freq: float, duration: float = 1.0, sample_rate: int = 16000, amplitude: float = 0.5,
         phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(round(duration * sample_rate))) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def noise(duration: float = 1.0, sample_rate: int = 16000, amplitude: float = 0.1, seed: int = 0) -> np.ndarray:
    """White Gaussian noise with standard deviation ``amplitude``."""
    rng = np.random.default_rng(seed)
    return (amplitude * rng.standard_normal(int(round(duration * sample_rate)))).astype(np.float32)


def sweep(f0: float = 100.0, f1: float = 4000.0, duration: float = 1.0, sample_rate: int = 16000,
          amplitude: float = 0.5) -> np.ndarray:
    """Linear chirp from ``f0`` to ``f1`` Hz."""
    t = np.arange(int(round(duration * sample_rate))) / sample_rate
    phase = 2 * np.pi * (f0 * t + (f1 - f0) / (2 * duration) * t ** 2)
    return (amplitude * np.sin(phase)).astype(np.float32)


def click(position: int, length: int, amplitude: float = 1.0) -> np.ndarray:
    """Zeros with a single sample of ``amplitude`` at ``position``."""
    x = np.zeros(length, np.float32)
    x[position] = amplitude
    return x


def room_impulse(length: int = 4000, seed: int = 0, sample_rate: int = 16000, rt60: float = 0.06,
                 tail: float = 0.25) -> np.ndarray:
    """A room impulse response: a direct path of 1 at sample 0 plus a Gaussian diffuse tail of scale
    ``tail`` decaying by 60 dB in ``rt60`` seconds."""
    rng = np.random.default_rng(seed)
    n = np.arange(length)
    h = tail * rng.standard_normal(length) * np.exp(-n / (rt60 * sample_rate / 6.9))
    h[0] = 1.0
    return h.astype(np.float32)


def speechlike(duration: float = 1.0, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Harmonic buzz with a wandering pitch and syllable-rate amplitude envelope: cheap, non-stationary."""
    rng = np.random.default_rng(seed)
    n = int(round(duration * sample_rate))
    t = np.arange(n) / sample_rate
    f0 = 120 + 30 * np.sin(2 * np.pi * rng.uniform(0.5, 2.0) * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(3, 5) * t + rng.uniform(0, np.pi)))
    return (0.2 * voiced * envelope + 0.01 * rng.standard_normal(n)).astype(np.float32)


def write_audio(path: str | Path, audio: np.ndarray, sample_rate: int = 16000, **kwargs) -> Path:
    """Write with soundfile; the format follows the extension (.wav, .flac, .ogg, .mp3, .sph)."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".sph":
        kwargs.setdefault("format", "NIST")
        kwargs.setdefault("subtype", "PCM_16")
    sf.write(str(path), audio, sample_rate, **kwargs)
    return path
