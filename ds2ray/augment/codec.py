"""``codec``: a lossy codec round trip (MP3, Opus, Vorbis) in memory.

Per utterance a format is drawn from ``formats`` and a compression level uniformly from
[min_compression_level, max_compression_level] (soundfile's ``compression_level``: 0 is the
highest bitrate, 1 the lowest; the draw is rounded to steps of :data:`LEVEL_STEP`). MP3 and Vorbis
are encoded by soundfile/libsndfile into an ``io.BytesIO`` and decoded back; Opus goes straight
through libopus (:mod:`ds2ray.augment.opus`) at the same bitrate libsndfile would use, with the
encoder complexity drawn from [min_opus_complexity, max_opus_complexity] (libsndfile always uses
10, the slowest: ~3x the CPU of complexity 5). Rough bitrates for 16 kHz mono speech with
libsndfile 1.2 (soundfile 0.13/0.14 wheels)::

    level        0.0     0.5     0.8     0.9     0.95
    mp3 VBR    ~50     ~30     ~26     ~25     ~23  kbit/s
    mp3 CBR   ~165     ~83     ~41     ~25     ~16
    opus      ~256    ~131     ~56     ~31     ~18   (0.98: ~11; packets, no Ogg)
    vorbis     ~72     ~45      -      ~33      -

Alignment: encoders add a delay (LAME: 1105 samples) that decoders remove only when the stream
says so (libsndfile honours LAME's gapless header, but e.g. low-bitrate CBR MP3 keeps the delay).
For MP3 and Vorbis the delay is therefore measured once per process for each (format, rate,
level, mode) by encoding a noise burst and locating the cross-correlation peak
(:func:`codec_delay`), then removed; the output is cut or zero-padded to the input length, so
labels stay aligned. Peaks above :data:`MAX_PEAK` are scaled down before encoding and back up
after (the encoders clip at full scale). Sample rates a codec does not take (Opus: 8, 12, 16, 24
and 48 kHz; MP3: the MPEG rates) go through the next higher one, resampled with soxr.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from ds2ray.augment.base import WaveformAugmentor, check_range
from ds2ray.augment.opus import MAX_COMPLEXITY, OPUS_RATES, opus_bitrate, opus_round_trip
from ds2ray.augment.waveform import fit_length, resample


@dataclass(frozen=True)
class CodecFormat:
    """How soundfile writes one codec, and the sample rates it accepts (``None``: any)."""

    format: str
    subtype: str
    rates: tuple[int, ...] | None


CODECS: dict[str, CodecFormat] = {
    "mp3": CodecFormat("MP3", "MPEG_LAYER_III", (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)),
    # the augmentation codes Opus through libopus (ds2ray.augment.opus); soundfile's Ogg/Opus is the reference
    "opus": CodecFormat("OGG", "OPUS", OPUS_RATES),
    "vorbis": CodecFormat("OGG", "VORBIS", None),
}
#: soundfile's bitrate modes; libsndfile applies them to MP3 only.
BITRATE_MODES = ("CONSTANT", "AVERAGE", "VARIABLE")
LEVEL_STEP = 0.05
#: libsndfile's MP3 encoder refuses compression_level 1.0.
MAX_LEVEL = 0.99
MAX_PEAK = 0.99
#: The longest codec delay searched for (samples at the codec's rate).
MAX_DELAY = 4096


def codec_rate(codec: CodecFormat, sample_rate: int) -> int:
    """The rate to encode at: ``sample_rate`` when the codec takes it, else the next higher one."""
    if codec.rates is None or sample_rate in codec.rates:
        return sample_rate
    higher = [r for r in codec.rates if r > sample_rate]
    return higher[0] if higher else codec.rates[-1]


def encode_decode(audio: np.ndarray, sample_rate: int, codec: CodecFormat, level: float,
                  bitrate_mode: str | None) -> np.ndarray:
    """One round trip of (N,) or (C, N) float64 audio; returns what the decoder gives (delay and
    length as the codec leaves them), float64 with the input's channel layout."""
    import soundfile as sf

    kwargs: dict[str, Any] = {"compression_level": level}
    if bitrate_mode is not None and codec.format == "MP3":
        kwargs["bitrate_mode"] = bitrate_mode
    buffer = io.BytesIO()
    sf.write(buffer, audio.T if audio.ndim == 2 else audio, sample_rate, format=codec.format,
             subtype=codec.subtype, **kwargs)
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float64", always_2d=audio.ndim == 2)
    return decoded.T if audio.ndim == 2 else decoded


@functools.lru_cache(maxsize=512)
def codec_delay(name: str, sample_rate: int, level: float, bitrate_mode: str | None) -> int:
    """Samples by which the decoded signal lags the input for this codec setting, measured on a
    seeded 1 s noise burst: the peak of the cross-correlation within +-MAX_DELAY."""
    n = sample_rate
    burst = 0.1 * np.random.default_rng(0).standard_normal(n)
    decoded = encode_decode(burst, sample_rate, CODECS[name], level, bitrate_mode)
    size = 1 << int(np.ceil(np.log2(n + decoded.shape[-1])))
    corr = np.fft.irfft(np.fft.rfft(decoded, size) * np.conj(np.fft.rfft(burst, size)), size)
    lags = np.concatenate([np.arange(0, MAX_DELAY + 1), np.arange(-MAX_DELAY, 0)])
    values = np.concatenate([corr[: MAX_DELAY + 1], corr[size - MAX_DELAY:]])
    return int(lags[int(np.argmax(values))])


def soundfile_round_trip(audio: np.ndarray, sample_rate: int, name: str, level: float,
                         bitrate_mode: str | None) -> np.ndarray:
    """(N,) or (C, N) float64 audio at a rate the codec takes through soundfile and back, with the
    codec delay removed and the input's length: MP3 and Vorbis here, and libsndfile's Ogg/Opus
    (the reference the libopus path is measured against)."""
    y = encode_decode(audio, sample_rate, CODECS[name], level, bitrate_mode)
    delay = codec_delay(name, sample_rate, level, bitrate_mode)
    if delay > 0:
        y = y[..., delay:]
    elif delay < 0:
        y = np.pad(y, [(0, 0)] * (y.ndim - 1) + [(-delay, 0)])
    return fit_length(y, audio.shape[-1])


def codec_round_trip(audio: np.ndarray, sample_rate: int, name: str, level: float,
                     bitrate_mode: str | None = None, opus_complexity: int = MAX_COMPLEXITY) -> np.ndarray:
    """(N,) or (C, N) audio through codec ``name`` and back: same shape, dtype and alignment."""
    n = audio.shape[-1]
    x = audio.astype(np.float64)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    scale = peak / MAX_PEAK if peak > MAX_PEAK else 1.0
    x = x / scale
    rate = codec_rate(CODECS[name], sample_rate)
    if rate != sample_rate:
        x = resample(x, sample_rate, rate)
    if name == "opus":
        y = opus_round_trip(x, rate, opus_bitrate(level, 1 if x.ndim == 1 else x.shape[0]), opus_complexity)
    else:
        y = soundfile_round_trip(x, rate, name, level, bitrate_mode)
    if rate != sample_rate:
        y = fit_length(resample(y, rate, sample_rate), n)
    return np.ascontiguousarray(y * scale, dtype=audio.dtype)


@dataclass(frozen=True)
class CodecAugmentor(WaveformAugmentor, name="codec"):
    """Round trip through a lossy codec drawn from ``formats`` (mp3, opus, vorbis) at a
    compression level drawn from [min_compression_level, max_compression_level]; Opus at an encoder
    complexity drawn from [min_opus_complexity, max_opus_complexity]."""

    formats: tuple[str, ...] = ("mp3", "opus")
    min_compression_level: float = 0.5
    max_compression_level: float = 0.95
    #: MP3 only: CONSTANT, AVERAGE or VARIABLE (soundfile's bitrate_mode).
    mp3_bitrate_mode: str = "VARIABLE"
    #: Opus only: libopus's speed/quality trade-off, 0 (fastest) to 10 (libsndfile's fixed choice).
    min_opus_complexity: int = 0
    max_opus_complexity: int = 10

    def __post_init__(self) -> None:
        if isinstance(self.formats, str) or not self.formats:
            raise ValueError(f"formats must be a non-empty list of {', '.join(CODECS)}, got {self.formats!r}")
        unknown = [f for f in self.formats if f not in CODECS]
        if unknown:
            raise ValueError(f"formats: unknown codec {unknown[0]!r}; expected some of {', '.join(CODECS)}")
        object.__setattr__(self, "formats", tuple(self.formats))
        check_range("codec", self.min_compression_level, self.max_compression_level, "min_compression_level",
                    "max_compression_level", minimum=0.0, maximum=MAX_LEVEL)
        check_range("codec", self.min_opus_complexity, self.max_opus_complexity, "min_opus_complexity",
                    "max_opus_complexity", minimum=0, maximum=MAX_COMPLEXITY)
        if self.mp3_bitrate_mode not in BITRATE_MODES:
            raise ValueError(f"mp3_bitrate_mode must be one of {', '.join(BITRATE_MODES)}, "
                             f"got {self.mp3_bitrate_mode!r}")

    def sample(self, rng: np.random.Generator, num_samples: int, sample_rate: int) -> dict[str, Any]:
        name = self.formats[int(rng.integers(len(self.formats)))]
        level = round(float(rng.uniform(self.min_compression_level, self.max_compression_level)) / LEVEL_STEP)
        level = min(max(level * LEVEL_STEP, self.min_compression_level), self.max_compression_level)
        choice: dict[str, Any] = {"format": name, "compression_level": round(level, 4)}
        if name == "opus":
            choice["opus_complexity"] = int(rng.integers(self.min_opus_complexity, self.max_opus_complexity + 1))
        return choice

    def apply(self, audio: np.ndarray, sample_rate: int, *, format: str, compression_level: float,
              opus_complexity: int = MAX_COMPLEXITY) -> np.ndarray:
        if audio.shape[-1] == 0:
            return audio.copy()
        mode = self.mp3_bitrate_mode if format == "mp3" else None
        return codec_round_trip(audio, sample_rate, format, compression_level, mode, opus_complexity)
