"""An uploaded recording of any length -> speech segments for the model replicas, in bounded memory.

The front's long-form path: the body (already size-checked) is sniffed (400 unless WAV, FLAC,
OGG or MP3), its header read (400 if unreadable; 413 if it declares more than ``max_seconds``),
then decoded in blocks (:class:`ds2ray.inference.audio_blocks.AudioReader`, resampled to the
model's rate on the way) and cut at pauses (:func:`ds2ray.inference.segmenter.speech_segments`).
Segments are yielded as they complete, so the caller sends them to the model while the rest is
still being decoded; decoded audio never piles up past one segment and a block. A file corrupt or
truncated part-way is a 400 naming the damage, audio decoding past ``max_seconds`` (headers may
understate) a 413. Nothing touches the disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from ds2ray.data.audio import AudioError
from ds2ray.inference.audio_blocks import AudioReader
from ds2ray.inference.segmenter import SpeechSegment, VadConfig, speech_segments
from serve.validate import SUPPORTED, InputError, sniff_format

#: seconds of the upload decoded at a time
BLOCK_SECONDS = 10.0


@dataclass
class UploadInfo:
    """What the upload turned out to be: ``format``, ``native_rate``, ``duration_s`` (filled as it decodes)."""

    format: str = ""
    native_rate: int = 0
    duration_s: float = 0.0


def too_long(seconds: float, max_seconds: float) -> InputError:
    return InputError(413, f"{seconds:.1f} s audio is longer than the {max_seconds:g} s limit; split it, or "
                           "start the server with a larger --max-seconds")


def upload_segments(data: bytes, sample_rate: int, max_seconds: float, vad: VadConfig,
                    info: UploadInfo) -> Iterator[SpeechSegment]:
    """The speech segments of an uploaded file at ``sample_rate``; raises :class:`InputError`
    (400/413) as described in the module docstring. ``info`` is filled in as decoding goes."""
    if not data:
        raise InputError(400, f"empty input: the request carried no audio; send a {SUPPORTED} file")
    fmt = sniff_format(data)
    if fmt is None:
        raise InputError(400, f"not an audio file we can read (first bytes {data[:8]!r}); send {SUPPORTED}")
    info.format = fmt
    name = f"uploaded {fmt.upper()}"
    try:
        with AudioReader(data, sample_rate, name=name) as reader:
            info.native_rate = reader.info.native_rate
            if reader.info.seconds > max_seconds + 0.05:
                raise too_long(reader.info.seconds, max_seconds)
            decoded = [0]

            def counted() -> Iterator:
                for block in reader.blocks(BLOCK_SECONDS):
                    decoded[0] += len(block)
                    info.duration_s = decoded[0] / sample_rate
                    if info.duration_s > max_seconds + 0.05:
                        raise too_long(info.duration_s, max_seconds)
                    yield block

            yield from speech_segments(counted(), sample_rate, vad)
    except AudioError as err:
        raise InputError(400, f"{err.reason}; send {SUPPORTED}") from err
