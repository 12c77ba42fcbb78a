"""An Opus round trip straight through libopus (the ``opuslib`` binding): raw packets, no Ogg.

Why not soundfile: libsndfile's Ogg/Opus writer runs libopus at its default complexity (10) and
exposes no way to lower it, which made the ``codec`` augmentation the largest cost in the English
recipe's loader processes (~38% of their CPU at prob 0.1). libopus's complexity 0-10 is the
encoder's speed/quality trade-off; real senders use the whole range (WebRTC: 9 on desktops, 5 on
phones), so drawing it is also a realistic augmentation. ``bench/augment.py`` (idle, 8.9 s mean
utterances at levels 0.5-0.95, three runs): libsndfile's Ogg/Opus 146-155 CPU ms per utterance,
this path 51-67 at complexity 10 and 33-46 with the complexity drawn 0-10 (3.4-4.4x less).

Bitrate: :func:`opus_bitrate` maps soundfile's ``compression_level`` the way libsndfile does
(linear from 256 kbit/s at 0 to 6 kbit/s at 1, per channel), so a level means the same bitrate
on either path. Alignment: the decoder's output lags by the encoder's lookahead (reported by
libopus), which is removed; the output has the input's length.

libopus itself comes from the system (Debian ``libopus0``, macOS ``brew install opus``);
``opuslib`` is a small ctypes binding to it (BSD-3).
"""

from __future__ import annotations

import numpy as np

#: The rates libopus encodes at.
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
FRAME_MS = 20
MIN_BITRATE = 6000
MAX_BITRATE = 256000
MAX_COMPLEXITY = 10


class OpusUnavailableError(RuntimeError):
    """libopus or its binding is missing; the message says what to install."""


def _opuslib():
    try:
        import opuslib
    except ImportError as err:
        raise OpusUnavailableError("the opus codec augmentation needs the 'opuslib' package "
                                   "(pip install opuslib; it is a ds2ray dependency)") from err
    except Exception as err:  # opuslib raises a bare Exception when the C library is absent
        raise OpusUnavailableError(f"the opus codec augmentation needs libopus: {err} Install it "
                                   "(Debian/Ubuntu: apt install libopus0; macOS: brew install opus) "
                                   "or leave 'opus' out of the codec formats.") from err
    return opuslib


def opus_bitrate(level: float, channels: int = 1) -> int:
    """Bits per second for soundfile's ``compression_level`` (0 best, 1 smallest), as libsndfile maps it."""
    return int(round(channels * (MIN_BITRATE + (1.0 - level) * (MAX_BITRATE - MIN_BITRATE))))


def opus_round_trip(audio: np.ndarray, sample_rate: int, bitrate: int, complexity: int) -> np.ndarray:
    """(N,) or (C, N) float audio at one of :data:`OPUS_RATES` through an Opus encoder and decoder:
    float64, same shape, lookahead removed. Samples must lie within [-1, 1] (the caller scales).
    ``bitrate`` is for all channels together; more than two are coded as separate mono streams."""
    if sample_rate not in OPUS_RATES:
        raise ValueError(f"opus encodes at {OPUS_RATES} Hz, got {sample_rate}")
    if not 0 <= complexity <= MAX_COMPLEXITY:
        raise ValueError(f"opus complexity must be within 0..{MAX_COMPLEXITY}, got {complexity}")
    opuslib = _opuslib()
    x = np.atleast_2d(audio)
    channels, n = x.shape
    if channels > 2:  # one Opus stream takes mono or stereo: code the channels one by one
        per_channel = int(round(bitrate / channels))
        return np.stack([opus_round_trip(channel, sample_rate, per_channel, complexity) for channel in x])
    encoder = opuslib.Encoder(sample_rate, channels, opuslib.APPLICATION_AUDIO)
    encoder.bitrate = int(bitrate)
    encoder.complexity = int(complexity)
    decoder = opuslib.Decoder(sample_rate, channels)
    lookahead = int(encoder.lookahead)
    frame = sample_rate * FRAME_MS // 1000
    total = -(-(n + lookahead) // frame) * frame
    pcm = np.zeros((total, channels), dtype=np.float32)  # interleaved, zero tail flushes the lookahead
    pcm[:n] = x.T
    out = np.empty((total, channels), dtype=np.float32)
    for start in range(0, total, frame):
        packet = encoder.encode_float(pcm[start:start + frame].tobytes(), frame)
        decoded = np.frombuffer(decoder.decode_float(packet, frame), dtype=np.float32)
        out[start:start + frame] = decoded.reshape(frame, channels)
    y = out[lookahead:lookahead + n].T.astype(np.float64)
    return y if audio.ndim == 2 else y[0]
