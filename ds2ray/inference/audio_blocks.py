"""Audio of any length in bounded memory: a file (or bytes, or an array) as consecutive mono blocks.

Shapes: each block is ``(N,)`` float32 at the target rate; ``N`` is about ``block_seconds`` of it.

:func:`audio_blocks` opens the file once with soundfile (libsndfile: WAV, FLAC, OGG/Vorbis, Opus,
MP3), reads ``block_seconds`` at a time (``SoundFile.read(frames=...)``), mixes to mono and, when
the file's rate differs from the target, resamples block by block with ``soxr.ResampleStream``
(the same soxr HQ filter :func:`ds2ray.data.audio.to_mono_resampled` uses, with its state carried
across blocks, so the joined blocks equal the whole file resampled at once up to the filter's edges).
Memory stays at a few blocks however long the recording is.

A file that breaks part-way raises :class:`~ds2ray.data.audio.AudioError` naming it, when the
damage is reached: a decoder error mid-stream ("corrupt"), or fewer frames than the header promised
("truncated"). Blocks already yielded were good audio.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from typing import BinaryIO, Iterator, Union

import numpy as np
import soundfile as sf

from ds2ray import fileio
from ds2ray.data.audio import AudioError

#: How many frames a file may come up short of its header before it counts as truncated: one MP3
#: frame (decoders may drop the padding of the last one), as :mod:`ds2ray.data.audio` allows.
TRUNCATION_SLACK_FRAMES = 1152
#: What :func:`audio_blocks` reads: a path or fsspec URL, encoded bytes, or an open binary file.
AudioSource = Union[str, os.PathLike, bytes, BinaryIO]
#: libsndfile's log line for a WAV/AIFF whose data chunk is shorter than its header says
_SHORT_DATA = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


@dataclass(frozen=True)
class StreamInfo:
    """What the header says: ``native_rate``, ``frames`` at that rate (``0``: unknown), ``format``."""

    native_rate: int
    frames: int
    format: str

    @property
    def seconds(self) -> float:
        return self.frames / self.native_rate if self.native_rate else 0.0


def source_name(source: AudioSource, name: str | None = None) -> str:
    """How errors name ``source``: ``name`` if given, else the path, else ``<bytes>``/``<stream>``."""
    if name:
        return name
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return "<bytes>" if isinstance(source, (bytes, bytearray)) else "<stream>"


class AudioReader:
    """A context manager over one encoded source: ``info`` from its header, :meth:`blocks` to read it.

    ::

        with AudioReader("meeting.ogg", 16000) as reader:
            print(reader.info.seconds)
            for block in reader.blocks(30.0):
                ...
    """

    def __init__(self, source: AudioSource, sample_rate: int, *, name: str | None = None) -> None:
        self.source, self.sample_rate, self.name = source, int(sample_rate), source_name(source, name)
        self._file_cm = None
        self._snd: sf.SoundFile | None = None
        self.info = StreamInfo(0, 0, "")
        self.promised_frames = 0  # what the header says, where it says more than the file holds

    def __enter__(self) -> "AudioReader":
        fh = self._open()
        try:
            self._snd = sf.SoundFile(fh)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
            self.__exit__(None, None, None)
            raise AudioError(self.name, f"not a readable audio file ({err})",
                             "Supported: WAV, FLAC, OGG/Vorbis, Opus, MP3. Re-encode the file.") from err
        snd = self._snd
        frames = snd.frames if 0 < snd.frames < 2**62 else 0  # libsndfile reports huge counts when unknown
        self.info = StreamInfo(int(snd.samplerate), int(frames), str(snd.format))
        self.promised_frames = frames
        # a cut WAV: libsndfile counts the frames present, its log keeps what the header said
        short = _SHORT_DATA.search(snd.extra_info or "")
        if frames and short:
            said, present = int(short.group(1)), int(short.group(2))
            if present < said < 0xFFFFFFF0:  # 0xFFFFFFFF: a streamed WAV, length unknown by design
                self.promised_frames = int(frames * said / max(present, 1))
        return self
        return self

    def __exit__(self, *exc) -> None:
        if self._snd is not None:
            self._snd.close()
            self._snd = None
        if self._file_cm is not None:
            self._file_cm.__exit__(*exc)
            self._file_cm = None

    def _open(self) -> BinaryIO:
        src = self.source
        if isinstance(src, (bytes, bytearray)):
            if not src:
                raise AudioError(self.name, "empty input (0 bytes)", "Send a WAV, FLAC, OGG or MP3 file.")
            return io.BytesIO(src)
        if not isinstance(src, (str, os.PathLike)):
            return src  # an open binary file
        path = os.fspath(src)
        if not fileio.is_url(path):
            if not os.path.exists(path):
                raise AudioError(path, "file not found", "Check the path.")
            if os.path.getsize(path) == 0:
                raise AudioError(path, "empty file (0 bytes)")
        self._file_cm = fileio.open_file(path, "rb")
        try:
            return self._file_cm.__enter__()
        except OSError as err:
            self._file_cm = None
            raise AudioError(path, f"cannot open ({type(err).__name__}: {err})") from err

    def blocks(self, block_seconds: float = 30.0) -> Iterator[np.ndarray]:
        """Consecutive ``(N,)`` float32 mono blocks at ``sample_rate``, about ``block_seconds`` each."""
        if self._snd is None:
            raise RuntimeError("AudioReader.blocks() outside its `with` block")
        snd, rate = self._snd, self.info.native_rate
        per_block = max(1, int(block_seconds * rate))
        resampler = None
        if rate != self.sample_rate:
            import soxr

            resampler = soxr.ResampleStream(rate, self.sample_rate, 1, dtype="float32", quality="HQ")
        read = 0
        while True:
            try:
                chunk = snd.read(frames=per_block, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
                raise AudioError(self.name, f"corrupt audio after {read / rate:.1f} s ({err})",
                                 "Re-encode or re-record the file.") from err
            n = chunk.shape[0]
            last = n < per_block
            if n and not np.isfinite(chunk).all():
                raise AudioError(self.name, f"NaN or infinite samples after {read / rate:.1f} s")
            read += n
            mono = chunk.mean(axis=1) if chunk.shape[1] > 1 else chunk[:, 0]
            mono = np.ascontiguousarray(mono, dtype=np.float32)
            if resampler is not None:
                mono = resampler.resample_chunk(mono, last=last).astype(np.float32, copy=False)
            if len(mono):
                yield mono
            if last:
                break
        if read == 0:
            raise AudioError(self.name, "contains no audio samples")
        promised = self.promised_frames
        if promised and read < promised - TRUNCATION_SLACK_FRAMES:
            raise AudioError(self.name, f"truncated or damaged: the header promises {promised / rate:.1f} s "
                                        f"({promised} frames), only {read / rate:.1f} s ({read}) decode",
                             "The file was cut short (an interrupted copy or recording?) or is damaged part-way; "
                             "re-copy or re-encode it.")


def array_blocks(audio: np.ndarray, rate: int, sample_rate: int, block_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """An in-memory ``(N,)`` or ``(N, C)`` array as the same blocks :meth:`AudioReader.blocks` gives."""
    audio = np.asarray(audio)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if audio.ndim != 1:
        raise ValueError(f"audio must be (N,) or (N, channels), got shape {audio.shape}")
    per_block = max(1, int(block_seconds * rate))
    resampler = None
    if rate != sample_rate:
        import soxr

        resampler = soxr.ResampleStream(rate, sample_rate, 1, dtype="float32", quality="HQ")
    starts = range(0, max(len(audio), 1), per_block)
    for start in starts:
        block = np.ascontiguousarray(audio[start:start + per_block], dtype=np.float32)
        if resampler is not None:
            block = resampler.resample_chunk(block, last=start + per_block >= len(audio)).astype(np.float32,
                                                                                                copy=False)
        if len(block):
            yield block
