"""Endpoints by trailing silence: where a stream's segment ends and its final text is due.

The audio is cut into blocks (10 ms by default) and a block is silent when its RMS level is below
``silence_dbfs`` (dB relative to full scale). After at least ``min_speech`` seconds of non-silent
blocks, ``min_trailing_silence`` seconds of silent blocks in a row make an endpoint at the end of
the last of them; counting then starts afresh, so silence alone never makes another.

Why energy and not a neural VAD (silero-vad, webrtcvad): it needs no model and no extra
dependency, its two thresholds are easy to reason about, and it is exact and deterministic — an
endpoint falls on the same sample whatever the chunking, which the recognizer's equality with
offline decoding relies on. A microphone's noise floor sits well below -40 dBFS and speech well
above it; for noisy input raise ``silence_dbfs``. A different detector plugs in through the same
``accept(samples) -> [sample positions]`` shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ds2ray.config import ConfigBase, ConfigError


@dataclass(frozen=True)
class EndpointConfig(ConfigBase):
    """When a segment ends. ``enabled=False``: one segment per stream, final at ``finish()``."""

    enabled: bool = True
    silence_dbfs: float = -40.0  # a block quieter than this (RMS, dB re full scale) is silence
    min_trailing_silence: float = 0.6  # seconds of silence after speech that end a segment
    min_speech: float = 0.1  # seconds of non-silent audio a segment needs before it can end
    block_ms: float = 10.0  # the energy measurement's block

    def __post_init__(self) -> None:
        if self.block_ms <= 0 or self.min_trailing_silence <= 0 or self.min_speech < 0:
            raise ConfigError("EndpointConfig: block_ms and min_trailing_silence must be > 0, min_speech >= 0; got "
                              f"{self.block_ms}, {self.min_trailing_silence}, {self.min_speech}")


class EnergyEndpointer:
    """Samples in, endpoint positions out: ``accept(samples (N,) float) -> [sample index, ...]``,
    each the number of samples from the stream's start to the end of the endpoint's last block."""

    def __init__(self, config: EndpointConfig, sample_rate: int) -> None:
        self.config = config
        self.block = max(1, int(round(sample_rate * config.block_ms / 1000)))
        self._need_silence = max(1, int(np.ceil(config.min_trailing_silence * sample_rate / self.block)))
        self._need_speech = int(np.ceil(config.min_speech * sample_rate / self.block))
        self._threshold = 10.0 ** (config.silence_dbfs / 20.0)  # RMS amplitude
        self._pending = np.zeros(0, np.float32)
        self._position = 0  # samples before the pending ones
        self._speech = 0  # non-silent blocks in the segment
        self._silence = 0  # silent blocks in a row

    def accept(self, samples: np.ndarray) -> list[int]:
        buf = np.concatenate((self._pending, samples)) if self._pending.size else samples
        n = len(buf) // self.block
        self._pending = np.array(buf[n * self.block:], dtype=np.float32, copy=True)
        if not self.config.enabled or n == 0:
            self._position += n * self.block
            return []
        blocks = np.asarray(buf[: n * self.block], dtype=np.float64).reshape(n, self.block)
        loud = np.sqrt(np.mean(blocks * blocks, axis=1)) >= self._threshold  # (n,)
        found = []
        for i, is_loud in enumerate(loud):
            if is_loud:
                self._speech += 1
                self._silence = 0
                continue
            self._silence += 1
            if self._speech >= max(1, self._need_speech) and self._silence >= self._need_silence:
                found.append(self._position + (i + 1) * self.block)
                self._speech = self._silence = 0
        self._position += n * self.block
        return found
