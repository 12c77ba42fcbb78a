"""Client side of ``/stream`` (the protocol is in :mod:`serve.stream`), shared by ``ds2ray transcribe
--stream FILE`` and ``ds2ray mic --stream``.

:func:`stream_pcm` opens the WebSocket, sends ``start``, then each PCM16 chunk of an (async or
plain) iterable as a binary frame, then ``stop``, while a second task reads the server's messages
and hands partials and finals to ``on_event``. :func:`paced` releases a file's chunks at real-time
pace (or ``pace`` times faster); :class:`LiveText` prints partials over one another on a terminal
and finals on lines of their own.

Built on the ``websockets`` package (its asyncio client): the same library Ray Serve's proxy
(uvicorn) speaks WebSocket with, maintained, and with the close code and reason exposed.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Iterable, TextIO

import numpy as np

DEFAULT_CHUNK_MS = 100
#: close codes that mean the client sent something wrong (exit status 2), as in serve.stream.Close
BAD_INPUT_CODES = (1003, 1007, 1008, 1009)


class StreamError(RuntimeError):
    """The server closed the stream with a code other than 1000 (or could not be reached: code ``None``).
    ``result`` holds what arrived before (a duration limit still sends its final)."""

    def __init__(self, message: str, code: int | None, result: "StreamResult | None" = None) -> None:
        super().__init__(message)
        self.code = code
        self.result = result


@dataclass
class StreamResult:
    """What a stream brought back: ``start_ok`` (the server's rate and limits), the ``finals`` in
    order (``{segment, text, start, end, words}``), how many ``partials``, the close code."""

    start_ok: dict[str, Any] = field(default_factory=dict)
    finals: list[dict[str, Any]] = field(default_factory=list)
    partials: int = 0
    close_code: int | None = None
    error: str | None = None

    def answer(self, duration_s: float) -> dict[str, Any]:
        """The finals in the shape of ``POST /transcribe``'s JSON (``text``, ``segments``, ``words``)."""
        segments = [{k: f[k] for k in ("start", "end", "text", "words")} for f in self.finals if f["text"]]
        return {"text": " ".join(s["text"] for s in segments), "segments": segments,
                "words": [w for s in segments for w in s["words"]], "duration_s": round(duration_s, 3)}


def stream_url(url: str) -> str:
    """``http(s)://host:port[/prefix]`` (or its ``/transcribe``) -> ``ws(s)://host:port[/prefix]/stream``."""
    url = url.rstrip("/")
    for suffix in ("/transcribe", "/stream"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    if url.startswith("https://"):
        url = "wss://" + url[len("https://"):]
    elif url.startswith("http://"):
        url = "ws://" + url[len("http://"):]
    elif not url.startswith(("ws://", "wss://")):
        url = "ws://" + url
    return url + "/stream"


def pcm16(audio: np.ndarray) -> bytes:
    """Float samples in [-1, 1] (or int16) -> 16-bit little-endian PCM bytes."""
    audio = np.asarray(audio)
    if audio.dtype != np.int16:
        audio = np.round(np.clip(audio, -1.0, 32767 / 32768) * 32768).astype(np.int16)
    return audio.astype("<i2", copy=False).tobytes()


def chunks_of(audio: np.ndarray, sample_rate: int, chunk_ms: float = DEFAULT_CHUNK_MS) -> list[bytes]:
    """``audio`` cut into PCM16 frames of ``chunk_ms`` milliseconds (the last may be shorter)."""
    step = max(1, int(round(sample_rate * chunk_ms / 1000)))
    return [pcm16(audio[i: i + step]) for i in range(0, len(audio), step)]


async def paced(chunks: Iterable[bytes], sample_rate: int, pace: float = 1.0) -> AsyncIterator[bytes]:
    """Yield each chunk when its audio would have been spoken, ``pace`` times real time (0: at once)."""
    t0 = time.monotonic()
    sent = 0
    for chunk in chunks:
        sent += len(chunk) // 2
        if pace > 0:
            await asyncio.sleep(max(0.0, t0 + sent / sample_rate / pace - time.monotonic()))
        else:
            await asyncio.sleep(0)
        yield chunk


async def _aiter(chunks: Iterable[bytes] | AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if hasattr(chunks, "__aiter__"):
        async for c in chunks:  # type: ignore[union-attr]
            yield c
    else:
        for c in chunks:  # type: ignore[union-attr]
            yield c


async def stream_pcm(url: str, chunks: Iterable[bytes] | AsyncIterator[bytes], sample_rate: int, *,
                     api_key: str | None = None, on_event: Callable[[dict[str, Any]], None] | None = None,
                     timeout: float = 60.0) -> StreamResult:
    """Stream PCM16 ``chunks`` at ``sample_rate`` to ``url``'s ``/stream``; returns the finals.

    Raises :class:`StreamError` when the server refuses or ends the stream early (its message and
    close code), or cannot be reached.
    """
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

    target = stream_url(url)
    headers = {"X-API-Key": api_key} if api_key else None
    result = StreamResult()
    try:
        ws = await connect(target, additional_headers=headers, open_timeout=timeout, max_size=2**22)
    except (OSError, InvalidHandshake, InvalidURI, asyncio.TimeoutError) as err:
        raise StreamError(f"cannot open {target} ({err}); is `ds2ray serve` running there?", None) from err
    started = asyncio.Event()

    async def receive() -> None:
        import json

        try:
            async for raw in ws:
                msg = json.loads(raw)
                kind = msg.get("type")
                if kind == "start_ok":
                    result.start_ok = msg
                    started.set()
                    continue
                if kind == "final":
                    result.finals.append(msg)
                elif kind == "partial":
                    result.partials += 1
                elif kind == "error":
                    result.error = msg.get("message")
                if on_event is not None and kind in ("partial", "final"):
                    on_event(msg)
        except ConnectionClosed:
            pass
        finally:
            started.set()

    receiver = asyncio.create_task(receive())
    try:
        await ws.send(_json({"type": "start", "sample_rate": int(sample_rate), "encoding": "pcm16"}))
        await asyncio.wait_for(started.wait(), timeout)
        if result.start_ok:
            async for chunk in _aiter(chunks):
                if receiver.done():  # the server ended the stream
                    break
                await ws.send(chunk)
            if not receiver.done():
                await ws.send(_json({"type": "stop"}))
        await asyncio.wait_for(receiver, timeout)
    except ConnectionClosed:
        await receiver
    except asyncio.TimeoutError as err:
        raise StreamError(f"{target}: no answer within {timeout:g} s", None, result) from err
    finally:
        if not receiver.done():
            receiver.cancel()
        await ws.close()
    result.close_code = ws.close_code
    if result.close_code != 1000:
        why = result.error or ws.close_reason or "connection lost"
        raise StreamError(f"stream closed with {result.close_code}: {why}", result.close_code, result)
    return result


def _json(message: dict[str, Any]) -> str:
    import json

    return json.dumps(message)


class LiveText:
    """Prints a stream's text as it comes: on a terminal the partial rewrites its line and a final
    ends it; elsewhere one line per change (``partial<TAB>text``, ``final<TAB>text``)."""

    def __init__(self, out: TextIO | None = None, label: str = "") -> None:
        self.out = out or sys.stderr
        self.tty = self.out.isatty()
        self.label = label
        self._last = ""

    def __call__(self, event: dict[str, Any]) -> None:
        text = event.get("text", "")
        if event["type"] == "partial":
            if text == self._last:
                return
            self._last = text
            if self.tty:
                self.out.write(f"\r\033[K{self.label}... {text}")
            else:
                self.out.write(f"{self.label}partial\t{text}\n")
        else:
            self._last = ""
            line = f"[{event['start']:.2f}-{event['end']:.2f}] {text}" if text else ""
            if self.tty:
                self.out.write(f"\r\033[K{self.label}{line}\n" if line else "\r\033[K")
            else:
                self.out.write(f"{self.label}final\t{text}\n")
        self.out.flush()


def add_stream_args(p: Any, file_pace: bool) -> None:
    """``--stream`` (and, for files, ``--pace`` and ``--chunk-ms``)."""
    p.add_argument("--stream", action="store_true",
                   help="stream over the WebSocket /stream (the server needs --stream-checkpoint): partial text "
                        "while the audio goes, a final at each pause")
    if file_pace:
        p.add_argument("--pace", type=float, default=1.0,
                       help="with --stream: send the file at this many times real time (default 1.0; 0 = as fast "
                            "as possible)")
        p.add_argument("--chunk-ms", type=float, default=DEFAULT_CHUNK_MS,
                       help=f"with --stream: milliseconds of audio per frame (default {DEFAULT_CHUNK_MS:g})")


def run_stream_files(args: Any, api_key: str | None) -> int:
    """``ds2ray transcribe --stream FILE...``: stream each file, print partials and finals to stderr as
    they come and the transcript to stdout (or ``--out``) in ``--format``. Exit status as without
    ``--stream``: 2 bad input, 1 server refused or unreachable."""
    from ds2ray.data.audio import AudioError, load_audio
    from ds2ray.transcript_formats import Transcript
    from serve.client import emit, output_format

    fmt = output_format(args)
    if args.pace < 0 or args.chunk_ms <= 0:
        print("ds2ray transcribe: --pace must be >= 0 and --chunk-ms > 0", file=sys.stderr)
        return 2
    rate = 16000  # sent at 16 kHz; the server resamples to its model's rate if that differs
    status = 0
    for i, path in enumerate(args.files):
        try:
            audio = load_audio(path, rate)
        except (AudioError, OSError) as err:
            print(f"{path}: error: {err}", file=sys.stderr)
            status = 2
            continue
        live = LiveText(sys.stderr, label=f"{os.path.basename(path)}: " if len(args.files) > 1 else "")
        try:
            result = asyncio.run(stream_pcm(args.url, paced(chunks_of(audio, rate, args.chunk_ms), rate, args.pace),
                                            rate, api_key=api_key, on_event=live, timeout=args.timeout))
        except StreamError as err:
            print(f"{path}: error: {err}", file=sys.stderr)
            status = 2 if err.code in BAD_INPUT_CODES else max(status, 1)
            if err.code is None:
                rest = len(args.files) - i - 1
                if rest:
                    print(f"skipping the {rest} remaining file(s)", file=sys.stderr)
                break
            if not (err.result and err.result.finals):
                continue
            result = err.result  # a limit reached: what was recognised until then
        answer = result.answer(len(audio) / rate)
        emit(args, path, fmt, Transcript.from_dict(answer), {"streamed": True, "partials": result.partials})
    return status
