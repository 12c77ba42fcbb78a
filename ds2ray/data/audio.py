"""Audio I/O: any soundfile format (WAV, FLAC, OGG/Vorbis, Opus, MP3, NIST SPHERE) from a local
path, fsspec URL or bytes, mixed to mono float32 and resampled with soxr to the target rate."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import soundfile as sf

from ds2ray import fileio

#: How many frames a file may come up short of its header before it counts as truncated.
_TRUNCATION_SLACK_FRAMES = 1152  # one MP3 frame: decoders may drop the padding of the last one


class AudioError(RuntimeError):
    """Audio that cannot be used: missing, empty, truncated, corrupt or silent-by-construction.

    The message names the file, says what is wrong and what to do.
    """

    def __init__(self, path: str, reason: str, hint: str = "") -> None:
        self.path, self.reason = path, reason
        hint = hint or "Check or re-create the file, or drop it from the manifest."
        super().__init__(f"{path}: {reason}. {hint}")


@dataclass(frozen=True)
class AudioInfo:
    sample_rate: int
    channels: int
    frames: int
    format: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def audio_info(path: str) -> AudioInfo:
    """Header information of an audio file, without decoding it."""
    with _open(path) as fh:
        try:
            info = sf.info(fh)
        except (sf.LibsndfileError, RuntimeError, TypeError) as err:
            raise AudioError(path, f"not a readable audio file ({err})") from err
    return AudioInfo(info.samplerate, info.channels, info.frames, info.format)


def load_audio(
    path: str,
    sample_rate: int | None = 16000,
    *,
    offset: float = 0.0,
    duration: float | None = None,
) -> np.ndarray:
    """Read ``path`` as mono float32 in [-1, 1] at ``sample_rate`` (``None`` keeps the file's rate).

    ``offset``/``duration`` (seconds) select a slice. Raises :class:`AudioError` naming the file.
    """
    with _open(path) as fh:
        audio, native_rate = _decode(fh, path, offset, duration)
    return to_mono_resampled(audio, native_rate, sample_rate)


def decode_audio(data: bytes, sample_rate: int | None = 16000, *, name: str = "<bytes>") -> tuple[np.ndarray, int]:
    """Decode in-memory audio bytes. Returns ``(mono float32 at sample_rate, native rate)``."""
    if not data:
        raise AudioError(name, "empty input (0 bytes)", "Send a WAV, FLAC, OGG or MP3 file.")
    audio, native_rate = _decode(io.BytesIO(data), name, 0.0, None)
    return to_mono_resampled(audio, native_rate, sample_rate), native_rate


def to_mono_resampled(audio: np.ndarray, rate: int, target_rate: int | None) -> np.ndarray:
    """Mix (frames, channels) or (frames,) audio down to mono float32 and resample with soxr."""
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    if target_rate is not None and rate != target_rate:
        import soxr

        audio = soxr.resample(audio, rate, target_rate, quality="HQ").astype(np.float32, copy=False)
    return audio


class _open:
    """Context manager: a binary file object for a path/URL, with AudioError for missing files."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._cm = None

    def __enter__(self) -> BinaryIO:
        path = self.path
        if not fileio.is_url(path):
            if not os.path.exists(path):
                raise AudioError(path, "file not found", "Check the path (relative paths resolve "
                                 "against the manifest's folder) or regenerate the manifest.")
            if os.path.getsize(path) == 0:
                raise AudioError(path, "empty file (0 bytes)")
        self._cm = fileio.open_file(path, "rb")
        try:
            return self._cm.__enter__()
        except FileNotFoundError as err:
            raise AudioError(path, "file not found") from err
        except OSError as err:
            raise AudioError(path, f"cannot open ({type(err).__name__}: {err})") from err

    def __exit__(self, *exc) -> None:
        if self._cm is not None:
            self._cm.__exit__(*exc)


def _decode(fh: BinaryIO, name: str, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    try:
        with sf.SoundFile(fh) as snd:
            rate = snd.samplerate
            start = int(round(offset * rate))
            if start > snd.frames > 0:
                raise AudioError(name, f"offset {offset:.3f}s is past the end ({snd.frames / rate:.3f}s)",
                                 "Fix the manifest's 'offset'.")
            if start:
                snd.seek(start)
            want = snd.frames - start if duration is None else min(int(round(duration * rate)),
                                                                   snd.frames - start)
            audio = snd.read(frames=want, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise AudioError(name, f"corrupt or unsupported audio ({err})",
                         "Supported: WAV, FLAC, OGG/Vorbis, Opus, MP3, SPHERE. Re-encode the file.") from err
    if audio.shape[0] == 0:
        raise AudioError(name, "contains no audio samples")
    if want > 0 and audio.shape[0] < want - _TRUNCATION_SLACK_FRAMES:
        raise AudioError(name, f"truncated: header promises {want} frames, only {audio.shape[0]} decode")
    if not np.isfinite(audio).all():
        raise AudioError(name, "contains NaN or infinite samples")
    return audio, rate
