"""Request validation for ``POST /transcribe``, all in memory: nothing received touches the disk.

Order of checks: API key (401), body size (413, from ``Content-Length`` before reading, then while
streaming), multipart unwrapping (400), format by magic bytes (400), duration from the header
(413) and decoding with soundfile (400). Every error is an :class:`InputError` whose message says
what was wrong and what to send instead.
"""

from __future__ import annotations

import hmac
import io
import math
import re
from dataclasses import dataclass
from typing import AsyncIterator, Mapping

import numpy as np

SUPPORTED = "WAV, FLAC, OGG (Vorbis/Opus) or MP3"


class InputError(Exception):
    """A request the service refuses: ``status`` is the HTTP status, ``message`` the reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def to_json(self) -> dict:
        return {"error": self.message, "status": self.status}


def check_api_key(headers: Mapping[str, str], expected_sha256: str | None) -> None:
    """Accept ``X-API-Key: KEY`` or ``Authorization: Bearer KEY`` matching ``expected_sha256``.

    No expected hash means the service is open. Comparison is constant-time on the digests.
    """
    if not expected_sha256:
        return
    from serve.config import hash_api_key

    key = headers.get("x-api-key", "")
    auth = headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    if not key:
        raise InputError(401, "missing API key: send it as 'X-API-Key: KEY' or 'Authorization: Bearer KEY'")
    if not hmac.compare_digest(hash_api_key(key), expected_sha256):
        raise InputError(401, "wrong API key")


async def read_body(chunks: AsyncIterator[bytes], content_length: str | None, limit: int) -> bytes:
    """The request body from its chunks, refusing (413) past ``limit`` bytes without reading on."""
    too_big = f"request body is larger than the {limit / 2**20:g} MiB limit; send a shorter or compressed clip"
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise InputError(400, f"bad Content-Length header {content_length!r}") from None
        if declared > limit:
            raise InputError(413, too_big)
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise InputError(413, too_big)
        parts.append(chunk)
    return b"".join(parts)


@dataclass(frozen=True)
class Part:
    """One part of a ``multipart/form-data`` body."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


_PARAM = re.compile(r';\s*([\w*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def header_params(value: str) -> dict[str, str]:
    """``form-data; name="file"; filename="a.wav"`` -> ``{"name": "file", "filename": "a.wav"}``."""
    out = {}
    for key, val in _PARAM.findall(value):
        val = val.strip()
        if len(val) >= 2 and val[0] == val[-1] == '"':
            val = val[1:-1].replace('\\"', '"')
        out[key.lower()] = val
    return out


def parse_multipart(body: bytes, content_type: str) -> list[Part]:
    """Split a ``multipart/form-data`` body into parts (in memory; RFC 7578)."""
    boundary = header_params(content_type).get("boundary")
    if not boundary:
        raise InputError(400, "multipart/form-data request without a boundary parameter in Content-Type")
    delimiter = b"--" + boundary.encode("latin-1")
    pieces = body.split(delimiter)
    if len(pieces) < 3:
        raise InputError(400, "malformed multipart body: boundary not found; send the file as a form field "
                              "named 'file' or as the raw request body")
    parts = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):  # closing delimiter
            break
        piece = piece[2:] if piece.startswith(b"\r\n") else piece
        head, sep, data = piece.partition(b"\r\n\r\n")
        if not sep:
            raise InputError(400, "malformed multipart body: a part has no header/body separator")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = header_params(headers.get("content-disposition", ""))
        parts.append(Part(disposition.get("name", ""), disposition.get("filename"), headers.get("content-type"), data))
    return parts


def audio_from_request(body: bytes, content_type: str) -> bytes:
    """The audio bytes of a request: the raw body, or the file part of a multipart form.

    A form's audio is the part named ``file`` or ``audio``, else the first part with a filename.
    """
    return audio_and_fields(body, content_type)[0]


def audio_and_fields(body: bytes, content_type: str) -> tuple[bytes, dict[str, str]]:
    """As :func:`audio_from_request`, with the form's text fields (parts without a filename, other
    than the audio), e.g. ``hotwords``; a raw body has none."""
    if not content_type.lower().startswith("multipart/form-data"):
        return body, {}
    parts = parse_multipart(body, content_type)
    audio = next((p for p in parts if p.name in ("file", "audio")), None)
    audio = audio or next((p for p in parts if p.filename is not None), None)
    if audio is None:
        names = [p.name for p in parts]
        raise InputError(400, f"multipart form has no audio file (fields: {names}); upload it as a field named 'file'")
    fields = {p.name: p.data.decode("utf-8", "replace") for p in parts if p is not audio and p.filename is None}
    return audio.data, fields


def request_hotwords(query: str | None, form: str | None, decoder: str, default_weight: float) -> tuple:
    """A request's hotwords, from the ``hotwords`` query parameter or form field (not both):
    ``"word,phrase:weight,..."`` -> ``((phrase, weight), ...)``. 400 when malformed, or when the
    server decodes greedily (hotwords need the beam decoder)."""
    from ds2ray.decode.hotwords import coerce_hotwords

    if query is not None and form is not None:
        raise InputError(400, "hotwords given both as a query parameter and as a form field; send one")
    spec = query if query is not None else form
    if spec is None or not spec.strip():
        return ()
    if decoder == "greedy":
        raise InputError(400, "hotwords need the beam decoder; this server decodes greedily (start it with "
                              "--decoder beam)")
    try:
        return coerce_hotwords(spec, default_weight, where="hotwords")
    except ValueError as err:
        raise InputError(400, str(err)) from None


def sniff_format(data: bytes) -> str | None:
    """``wav``/``flac``/``ogg``/``mp3`` from the first bytes, or ``None`` for anything else."""
    head = data[:12]
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3":
        return "mp3"
    # MPEG audio frame header: 11 sync bits, a valid version (not 01), layer (not 00), bitrate
    # index (not 1111) and sample-rate index (not 11)
    if len(head) >= 3 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x18) != 0x08 \
            and (head[1] & 0x06) != 0 and (head[2] >> 4) != 0xF and (head[2] >> 2) & 0x3 != 0x3:
        return "mp3"
    return None


@dataclass(frozen=True)
class DecodedAudio:
    """A validated clip: mono float32 ``audio`` (N,) at ``sample_rate``, from ``native_rate``."""

    audio: np.ndarray
    sample_rate: int
    native_rate: int
    format: str
    duration_s: float


def decode_request_audio(data: bytes, sample_rate: int, max_seconds: float) -> DecodedAudio:
    """Validate and decode audio bytes to mono float32 at ``sample_rate``; raises :class:`InputError`."""
    import soundfile as sf

    from ds2ray.data.audio import AudioError, decode_audio

    if not data:
        raise InputError(400, f"empty input: the request carried no audio; send a {SUPPORTED} file")
    fmt = sniff_format(data)
    if fmt is None:
        raise InputError(400, f"not an audio file we can read (first bytes {data[:8]!r}); send {SUPPORTED}")
    try:
        info = sf.info(io.BytesIO(data))
    except Exception as err:  # libsndfile raises several types for garbage
        raise InputError(400, f"looks like {fmt.upper()} but its header is unreadable ({err}); re-encode it as "
                              f"{SUPPORTED}") from err
    too_long = f"audio longer than the {max_seconds:g} s limit; split it into shorter clips"
    if info.samplerate > 0 and info.frames / info.samplerate > max_seconds + 0.05:
        raise InputError(413, f"{info.frames / info.samplerate:.1f} s {too_long}")
    try:
        audio, native_rate = decode_audio(data, sample_rate, name=f"uploaded {fmt.upper()}")
    except AudioError as err:
        raise InputError(400, f"{err.reason}; send {SUPPORTED}") from err
    duration = len(audio) / sample_rate
    if duration > max_seconds + 0.05:  # headers can understate (e.g. MP3 without a length tag)
        raise InputError(413, f"{duration:.1f} s {too_long}")
    if not math.isfinite(duration) or len(audio) == 0:
        raise InputError(400, f"no audio samples decoded; send {SUPPORTED}")
    return DecodedAudio(audio, sample_rate, native_rate, fmt, duration)
