"""``/stream``: streaming recognition over a WebSocket — the protocol, its limits, one session per connection.

Protocol (the client speaks first; every text message is a JSON object with a ``type``)::

    client                                          server
    {"type": "start", "sample_rate": 16000,   ->
     "encoding": "pcm16", "api_key": "..."}   <-    {"type": "start_ok", "sample_rate": 16000, ...limits}
    binary frame: PCM16 little-endian mono    <-    {"type": "partial", "segment": 0, "text": ..., "start", "end"}
    binary frame ...                          <-    {"type": "final", "segment": 0, "text": ..., "words": [...]}
    {"type": "stop"}                          <-    the last {"type": "final", ...}, then close 1000

``sample_rate`` is the client's (8000-96000 Hz; resampled here to the model's with soxr's streaming
resampler when it differs). The API key is the HTTP endpoint's: ``X-API-Key`` or ``Authorization:
Bearer`` on the handshake, or ``api_key`` in ``start`` (browsers cannot set WebSocket headers).

Refusals: an ``{"type": "error", "code": C, "message": ...}`` message (the whole explanation), then
a close with code ``C`` and the message cut to the 123 bytes a close reason may hold (:class:`Close`
lists the codes). A refusal ends its own connection only: each connection runs in its own task and
every exception in it ends in a close, so a bad client never takes the replica or other streams down.
When a stream reaches the idle timeout or the duration limit, the server first sends the final of
what it received.

Where the model runs: in the ingress (``Frontend``) replica itself, one :class:`~ds2ray.streaming.
StreamingRecognizer` per replica and a :class:`~ds2ray.streaming.RecognizerStream` per connection.
A stream is stateful (conv context, GRU state, decoder state) and its chunks are small and frequent,
so sending each chunk to a separate model deployment would need session affinity (Ray Serve routes
each call to any replica) and would put an actor call and a pickled state on every 100 ms chunk;
here the state stays in the connection's memory. Each connection has a reader (checks each message,
pushes its frames) and a sender (sends its events in order); the :class:`StreamScheduler` steps all
the replica's streams that have new audio together, in one batched model call, on a pool of
``stream_num_cpus`` threads (one torch thread each), and a stream's frames that arrived while a step
ran go into its next step at once. So the replica's event loop keeps serving the other connections,
HTTP routes included, and a busy replica makes larger steps rather than late ones. Scale out with
``front_replicas``: each replica holds up to ``stream_max_streams`` streams.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Mapping

import numpy as np

log = logging.getLogger("ds2ray.serve.stream")

#: sample rates a client may stream at (the server resamples to the model's)
MIN_RATE, MAX_RATE = 8000, 96000
#: a WebSocket close reason holds at most 123 bytes of UTF-8 (RFC 6455, 5.5.1)
MAX_REASON_BYTES = 123


class Close(IntEnum):
    """Close codes of ``/stream`` (RFC 6455 codes where one fits; 4xxx mirror the HTTP statuses)."""

    NORMAL = 1000  # after ``stop``: the last final was sent
    UNSUPPORTED = 1003  # an encoding other than pcm16, or an unknown message type
    INVALID = 1007  # text that is not a JSON object, a bad ``start`` field, a frame of odd byte count
    PROTOCOL = 1008  # out of order: audio before ``start``, a second ``start``, anything after ``stop``
    TOO_BIG = 1009  # a frame larger than ``stream_max_frame_bytes``
    SERVER_ERROR = 1011  # the recognizer failed (logged on the replica)
    TRY_AGAIN = 1013  # the replica already holds ``stream_max_streams`` streams
    UNAUTHORIZED = 4401  # API key missing or wrong
    IDLE = 4408  # no message for ``stream_idle_timeout_s``
    TOO_LONG = 4413  # ``stream_max_seconds`` of audio sent, or the stream open that long
    NO_MODEL = 4503  # this server has no streaming model (``--stream-checkpoint``)


class StreamRefused(Exception):
    """Ends a connection with ``code`` and ``message``; ``final`` asks to send the last final first."""

    def __init__(self, code: Close, message: str, final: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.final = final


def close_reason(message: str) -> str:
    """``message`` cut to fit a close frame (123 bytes of UTF-8), ending in '...' when cut."""
    data = message.encode("utf-8")
    if len(data) <= MAX_REASON_BYTES:
        return message
    return data[: MAX_REASON_BYTES - 3].decode("utf-8", "ignore") + "..."


@dataclass(frozen=True)
class StreamLimits:
    """Per-connection and per-replica limits (from :meth:`serve.config.ServeConfig.stream_limits`)."""

    max_frame_bytes: int = 65536
    idle_timeout_s: float = 10.0
    max_seconds: float = 600.0
    max_streams: int = 8


@dataclass(frozen=True)
class StartMessage:
    """A parsed ``start``: the client's ``sample_rate``, ``encoding`` (always ``pcm16``), its ``api_key``."""

    sample_rate: int
    encoding: str = "pcm16"
    api_key: str | None = None


def parse_json(text: str) -> dict[str, Any]:
    """A text message -> its JSON object with a string ``type``; :class:`StreamRefused` otherwise."""
    try:
        msg = json.loads(text)
    except ValueError as err:
        raise StreamRefused(Close.INVALID, f"text message is not JSON ({err}); send "
                                           '{"type": "start", ...} or {"type": "stop"}') from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise StreamRefused(Close.INVALID, 'text message must be a JSON object with a "type" ("start" or "stop")')
    return msg


def parse_start(msg: dict[str, Any]) -> StartMessage:
    """Validate a ``start`` message's fields."""
    rate = msg.get("sample_rate")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate != int(rate) \
            or not MIN_RATE <= rate <= MAX_RATE:
        raise StreamRefused(Close.INVALID, f"start.sample_rate must be an integer from {MIN_RATE} to {MAX_RATE} Hz "
                                           f"(the rate of the PCM you send), got {rate!r}")
    encoding = msg.get("encoding", "pcm16")
    if encoding != "pcm16":
        raise StreamRefused(Close.UNSUPPORTED, f"start.encoding {encoding!r} is not supported: send 16-bit "
                                               'little-endian mono PCM with "encoding": "pcm16"')
    key = msg.get("api_key")
    if key is not None and not isinstance(key, str):
        raise StreamRefused(Close.INVALID, "start.api_key must be a string")
    return StartMessage(int(rate), encoding, key)


def pcm_frame(data: bytes, max_bytes: int) -> np.ndarray:
    """A binary frame -> int16 samples (N,); refuses frames over ``max_bytes`` and odd byte counts."""
    if len(data) > max_bytes:
        raise StreamRefused(Close.TOO_BIG, f"audio frame of {len(data)} bytes is over the {max_bytes}-byte limit; "
                                           "send smaller frames (100 ms of audio is plenty)")
    if len(data) % 2:
        raise StreamRefused(Close.INVALID, f"audio frame of {len(data)} bytes: PCM16 samples take 2 bytes each, "
                                           "so a frame needs an even byte count")
    return np.frombuffer(data, dtype="<i2")


def check_key(headers: Mapping[str, str], start_key: str | None, expected_sha256: str | None) -> None:
    """The HTTP endpoint's key rule, with ``start.api_key`` as a third place for the key."""
    if not expected_sha256:
        return
    from serve.config import hash_api_key
    from serve.validate import InputError, check_api_key

    if start_key is not None:
        if not hmac.compare_digest(hash_api_key(start_key), expected_sha256):
            raise StreamRefused(Close.UNAUTHORIZED, "wrong API key")
        return
    try:
        check_api_key(headers, expected_sha256)
    except InputError as err:
        hint = "" if "wrong" in err.message else ', or as "api_key" in the start message'
        raise StreamRefused(Close.UNAUTHORIZED, err.message + hint) from None


class StreamSession:
    """One connection's recognition: PCM16 at the client's rate in, event dicts out.

    Wraps a :class:`~ds2ray.streaming.RecognizerStream`, resampling (soxr's streaming resampler keeps
    its filter state between frames) when the client's rate is not the model's. The connection's
    reader :meth:`push`-es frames (counting the client's samples for the duration limit); the
    :class:`StreamScheduler` takes all of them at its next step (:meth:`take`) and puts the events
    in :attr:`outbox`, which the connection's sender drains in order. :meth:`audio` and
    :meth:`finish` run the model's side: off the event loop.
    """

    def __init__(self, recognizer: Any, sample_rate: int, max_seconds: float, stream: Any = None) -> None:
        self.stream = stream if stream is not None else recognizer.stream()
        self.sample_rate = sample_rate
        self.max_samples = int(max_seconds * sample_rate)
        self.samples = 0
        self._resampler = None
        if sample_rate != recognizer.sample_rate:
            import soxr

            self._resampler = soxr.ResampleStream(sample_rate, recognizer.sample_rate, 1, dtype="float32")
        self.pending: list[np.ndarray] = []  # frames pushed since the last step
        self.busy = False  # in a step now
        self.finishing: asyncio.Future | None = None  # set by StreamScheduler.finish: the last final wanted
        self.finish_taken = False  # ... and a step has taken it
        self.outbox: asyncio.Queue = asyncio.Queue()  # event dicts for the sender, None ends it
        self.failed: asyncio.Future = asyncio.get_running_loop().create_future()  # the model failed: its exception
        self.dropped = False  # the connection ended: no more steps

    @property
    def full(self) -> bool:
        return self.samples >= self.max_samples

    def push(self, pcm: np.ndarray) -> None:
        """int16 samples (N,) at the client's rate; past the duration limit, the rest is dropped."""
        pcm = pcm[: max(0, self.max_samples - self.samples)]
        self.samples += len(pcm)
        if len(pcm):
            self.pending.append(pcm)

    @property
    def has_work(self) -> bool:
        return not self.dropped and not self.failed.done() and (
            bool(self.pending) or (self.finishing is not None and not self.finish_taken))

    def take(self) -> tuple[np.ndarray, bool]:
        """Everything pushed since the last step (int16 (N,)) and whether to finish after it."""
        pcm = np.concatenate(self.pending) if len(self.pending) > 1 else (
            self.pending[0] if self.pending else np.zeros(0, np.int16))
        self.pending = []
        self.finish_taken = self.finishing is not None
        return pcm, self.finish_taken

    def audio(self, pcm: np.ndarray) -> np.ndarray:
        """int16 samples at the client's rate -> what the recognizer takes (resampled when needed)."""
        if self._resampler is None:
            return pcm
        return self._resampler.resample_chunk(pcm.astype(np.float32) / 32768.0)

    def finish(self) -> list[dict[str, Any]]:
        """The resampler's tail and the model's last frames -> the last final (and any before it)."""
        events = []
        if self._resampler is not None:
            tail = self._resampler.resample_chunk(np.zeros(0, np.float32), last=True)
            events += [e.to_dict() for e in self.stream.accept(tail)]
        return events + [e.to_dict() for e in self.stream.finish()]


class StreamScheduler:
    """The model work of one replica's streams: each step takes *all* the audio every ready stream
    received since its last step and runs those streams together, one batched model call
    (:meth:`StreamingRecognizer.accept_many <ds2ray.streaming.StreamingRecognizer.accept_many>`).

    So the cost of a step grows far slower than the streams in it (8 streams of 100 ms cost about a
    quarter of 8 separate steps), and a stream whose frames queued up while a step ran has them
    processed at once, in one step: under load the steps get larger, not later. Up to ``threads``
    steps run at a time (one torch thread each); a stream is in at most one step. Runs on the event
    loop; steps run in its thread pool.
    """

    def __init__(self, recognizer: Any, threads: int = 1) -> None:
        self.recognizer = recognizer
        self.threads = max(1, threads)
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="ds2ray-stream")
        self._ready: dict[StreamSession, None] = {}  # streams with work, not in a step (insertion-ordered)
        self._running = 0
        self.steps = 0  # steps run, and streams stepped in them: their ratio is the mean batch
        self.stepped = 0

    async def run(self, fn, *args):
        """``fn(*args)`` on a stream thread (opening a stream, say)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def submit(self, session: StreamSession) -> None:
        """``session`` has new work (frames, a finish): step it as soon as a thread is free."""
        if session.has_work and not session.busy:
            self._ready[session] = None
            self._pump()

    async def finish(self, session: StreamSession) -> None:
        """Step what ``session`` still holds, then finish it: its last events are in its outbox on return.
        Raises the model's exception if its stream failed."""
        if session.failed.done():
            raise session.failed.result()
        if session.finishing is None:
            session.finishing = asyncio.get_running_loop().create_future()
            self.submit(session)
        await session.finishing

    def drop(self, session: StreamSession) -> None:
        """The connection ended: no more steps for ``session`` (one running completes, unheard)."""
        session.dropped = True
        self._ready.pop(session, None)

    def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        while self._ready and self._running < self.threads:
            batch = list(self._ready)
            self._ready.clear()
            work = [session.take() for session in batch]
            for session in batch:
                session.busy = True
            self._running += 1
            self.steps += 1
            self.stepped += len(batch)
            future = loop.run_in_executor(self._pool, self._step, batch, work)
            future.add_done_callback(lambda f, batch=batch, work=work: self._stepped(batch, work, f))

    def _step(self, batch: list[StreamSession], work: list[tuple[np.ndarray, bool]]) -> list:
        """On a stream thread: one batched step; each stream's event dicts, or the exception its finish raised."""
        audio = [session.audio(pcm) for session, (pcm, _) in zip(batch, work)]
        events = self.recognizer.accept_many([session.stream for session in batch], audio)
        out: list = []
        for session, new, (_, finishing) in zip(batch, events, work):
            dicts = [e.to_dict() for e in new]
            if finishing:
                try:
                    dicts += session.finish()
                except Exception as err:  # this stream's final failed; the others' stand
                    log.exception("final of a stream failed")
                    dicts = err
            out.append(dicts)
        return out

    def _stepped(self, batch: list[StreamSession], work: list[tuple[np.ndarray, bool]], future: asyncio.Future) -> None:
        self._running -= 1
        error = future.exception()
        if error is not None:
            log.error("stream step failed", exc_info=error)
        results = [error] * len(batch) if error is not None else future.result()
        for session, result, (_, finished) in zip(batch, results, work):
            session.busy = False
            if session.dropped:
                continue
            if isinstance(result, BaseException):
                session.failed.set_result(result)
                if session.finishing is not None and not session.finishing.done():
                    session.finishing.set_exception(result)
                continue
            for event in result:
                session.outbox.put_nowait(event)
            if finished:
                session.finishing.set_result(None)
            elif session.has_work:
                self._ready[session] = None
        self._pump()


class StreamService:
    """The ``/stream`` side of one ingress replica: the recognizer, its scheduler, the open streams.

    ``recognizer`` is ``None`` when the server has no streaming model; every connection is then
    closed with :attr:`Close.NO_MODEL`. ``handle(websocket)`` runs one connection to its end: a
    reader (this coroutine: checks each message, pushes frames to the :class:`StreamScheduler`)
    and a sender task (sends the events the scheduler puts in the session's outbox, in order).
    """

    def __init__(self, recognizer: Any | None, limits: StreamLimits, api_key_sha256: str | None,
                 threads: int = 1, decoder: str = "greedy") -> None:
        self.recognizer = recognizer
        self.limits = limits
        self.api_key_sha256 = api_key_sha256
        self.decoder = decoder
        self.active = 0
        self._scheduler = StreamScheduler(recognizer, threads) if recognizer else None

    def info(self) -> dict[str, Any] | None:
        """What ``/healthz`` says about streaming (``None``: no streaming model)."""
        if self.recognizer is None:
            return None
        am = self.recognizer.acoustic
        sched = self._scheduler
        return {"sample_rate": self.recognizer.sample_rate, "language": am.vocab.language,
                "lookahead_s": round(self.recognizer.lookahead_seconds, 3), "decoder": self.decoder,
                "frame_s": round(self.recognizer.frame_seconds, 4), "active": self.active,
                "max_streams": self.limits.max_streams, "max_frame_bytes": self.limits.max_frame_bytes,
                "idle_timeout_s": self.limits.idle_timeout_s, "max_seconds": self.limits.max_seconds,
                "threads": sched.threads, "steps": sched.steps, "stepped": sched.stepped,
                "mean_batch": round(sched.stepped / sched.steps, 2) if sched.steps else None}

    async def handle(self, ws: Any) -> None:
        """Accept ``ws`` (a Starlette WebSocket) and run its stream; never raises."""
        await ws.accept()
        counted = False
        session: StreamSession | None = None
        sender: asyncio.Task | None = None
        try:
            if self.recognizer is None:
                raise StreamRefused(Close.NO_MODEL, "this server has no streaming model: start it with "
                                                    "`ds2ray serve --stream-checkpoint CK` (an online, "
                                                    "unidirectional checkpoint); POST /transcribe works")
            if self.active >= self.limits.max_streams:
                raise StreamRefused(Close.TRY_AGAIN, f"this replica already holds {self.limits.max_streams} streams "
                                                     "(stream_max_streams); try again later")
            self.active += 1
            counted = True
            opened = time.monotonic()
            session = await self._start(ws)
            sender = asyncio.create_task(self._send_loop(ws, session))
            await self._run(ws, session, opened)
            if await self._drain(session, sender):
                await ws.close(Close.NORMAL)
        except StreamRefused as refused:
            if refused.final and session is not None:
                try:
                    await self._scheduler.finish(session)
                except Exception:  # the final failed: still say why the stream ends
                    log.exception("final of a refused stream failed")
            if session is not None and sender is not None and not await self._drain(session, sender):
                return
            await self._refuse(ws, refused.code, refused.message)
        except _Gone:
            pass
        except Exception as err:  # the recognizer failed: this stream ends, the replica serves on
            log.exception("stream failed")
            if session is not None and sender is not None and not await self._drain(session, sender):
                return
            await self._refuse(ws, Close.SERVER_ERROR, f"recognition failed on the server ({type(err).__name__}: "
                                                       f"{str(err)[:200]})")
        finally:
            if session is not None:
                self._scheduler.drop(session)
            if sender is not None:
                if not sender.done():
                    sender.cancel()
                elif not sender.cancelled():
                    sender.exception()  # retrieved: a client gone while sending is no error
            if counted:
                self.active -= 1

    async def _start(self, ws: Any) -> StreamSession:
        try:
            kind, payload = await self._receive(ws, self.limits.idle_timeout_s)
        except asyncio.TimeoutError:
            raise StreamRefused(Close.IDLE, f"no start message within {self.limits.idle_timeout_s:g} s "
                                            "(stream_idle_timeout_s)") from None
        if kind == "bytes":
            raise StreamRefused(Close.PROTOCOL, 'audio before the start message: send {"type": "start", '
                                                '"sample_rate": RATE, "encoding": "pcm16"} first')
        msg = parse_json(payload)
        if msg["type"] != "start":
            raise StreamRefused(Close.PROTOCOL if msg["type"] == "stop" else Close.UNSUPPORTED,
                                f'first message has type {msg["type"]!r}: the first message must be '
                                '{"type": "start", "sample_rate": RATE, "encoding": "pcm16"}')
        start = parse_start(msg)
        check_key(ws.headers, start.api_key, self.api_key_sha256)
        stream = await self._scheduler.run(self.recognizer.stream)  # a beam decoder may load its LM
        session = StreamSession(self.recognizer, start.sample_rate, self.limits.max_seconds, stream)
        lim = self.limits
        await self._send(ws, {"type": "start_ok", "sample_rate": self.recognizer.sample_rate,
                              "client_rate": start.sample_rate, "max_frame_bytes": lim.max_frame_bytes,
                              "idle_timeout_s": lim.idle_timeout_s, "max_seconds": lim.max_seconds,
                              "lookahead_s": round(self.recognizer.lookahead_seconds, 3), "decoder": self.decoder})
        return session

    async def _run(self, ws: Any, session: StreamSession, opened: float) -> None:
        """Read the connection until ``stop`` (returns once the last final is in the outbox)."""
        lim = self.limits
        too_long = (f"stream reached the {lim.max_seconds:g} s limit (stream_max_seconds); the final of what was "
                    "sent came before this; open a new stream to go on")
        while True:
            left = lim.max_seconds - (time.monotonic() - opened)
            if left <= 0 or session.full:
                raise StreamRefused(Close.TOO_LONG, too_long, final=True)
            try:
                kind, payload = await self._receive(ws, min(lim.idle_timeout_s, left), session.failed)
            except asyncio.TimeoutError:
                if lim.idle_timeout_s < left:
                    raise StreamRefused(Close.IDLE, f"no message for {lim.idle_timeout_s:g} s (stream_idle_timeout_s)"
                                                    "; send audio or a stop message", final=True) from None
                continue  # the duration limit: checked at the top
            if kind == "bytes":
                session.push(pcm_frame(payload, lim.max_frame_bytes))
                self._scheduler.submit(session)
                continue
            msg = parse_json(payload)
            if msg["type"] == "stop":
                await self._scheduler.finish(session)
                return
            if msg["type"] == "start":
                raise StreamRefused(Close.PROTOCOL, "a second start message: one stream per connection; send stop "
                                                    "and open a new connection")
            raise StreamRefused(Close.UNSUPPORTED, f"unknown message type {msg['type']!r}: after start, send binary "
                                                   'PCM16 frames and finally {"type": "stop"}')

    @staticmethod
    async def _receive(ws: Any, timeout: float, failed: asyncio.Future | None = None) -> tuple[str, Any]:
        """The next message as ``("bytes", data)`` or ``("text", str)``; :class:`_Gone` on disconnect,
        :class:`asyncio.TimeoutError` after ``timeout`` s; raises the model's exception once ``failed``."""
        receive = asyncio.ensure_future(ws.receive())
        waits = (receive,) if failed is None else (receive, failed)
        done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if failed is not None and failed.done():
            receive.cancel()
            raise failed.result()
        if receive not in done:
            receive.cancel()
            raise asyncio.TimeoutError()
        msg = receive.result()
        if msg["type"] == "websocket.disconnect":
            raise _Gone()
        if msg.get("bytes") is not None:
            return "bytes", msg["bytes"]
        return "text", msg.get("text") or ""

    @staticmethod
    async def _send(ws: Any, message: dict[str, Any]) -> None:
        try:
            await ws.send_text(json.dumps(message, ensure_ascii=False))
        except Exception as err:  # the client went away
            raise _Gone() from err

    async def _send_loop(self, ws: Any, session: StreamSession) -> None:
        """The connection's sender: the outbox's events, in order, until ``None`` or the client is gone."""
        while True:
            message = await session.outbox.get()
            if message is None:
                return
            await self._send(ws, message)

    @staticmethod
    async def _drain(session: StreamSession, sender: asyncio.Task) -> bool:
        """Let the sender send what is queued, then end it; ``False`` if the client is gone."""
        session.outbox.put_nowait(None)
        try:
            await sender
        except _Gone:
            return False
        return True

    async def _refuse(self, ws: Any, code: Close, message: str) -> None:
        try:
            await ws.send_text(json.dumps({"type": "error", "code": int(code), "message": message}))
            await ws.close(int(code), close_reason(message))
        except Exception:  # already gone: nothing to tell
            pass


class _Gone(Exception):
    """The client disconnected."""


def stream_threads(num_cpus: float) -> int:
    """Threads that run the streams' model work in a replica reserving ``num_cpus`` CPUs for them."""
    return max(1, math.ceil(num_cpus - 1e-9))


def stream_decoder_config(config: Any):
    """The :class:`~ds2ray.decode.base.DecoderConfig` of ``/stream`` beam search (``None``: greedy).

    ``stream_decoder: beam`` decodes with the served decoder's settings when that is beam search
    (``--decoder beam``: its LM, tuned alpha/beta, beam width, hotwords; for a shipped model its LM by
    default); with a greedy HTTP decoder, with the shipped model's LM and tuned weights (the stream
    checkpoint's, else the HTTP checkpoint's: ``en``), or without an LM when neither is shipped.
    """
    if getattr(config, "stream_decoder", "greedy") != "beam":
        return None
    from ds2ray.decode.base import DecoderConfig
    from ds2ray.pretrained import find

    if config.decoder == "beam":
        return DecoderConfig(type="beam", **config.decoder_settings())
    for name in (config.stream_checkpoint, config.checkpoint):
        shipped = find(name)
        if shipped is not None and shipped.lm_path is not None:
            return shipped.beam_config()
    return DecoderConfig(type="beam", **config.decoder_settings())


def stream_service(config: Any) -> StreamService:
    """The :class:`StreamService` of a :class:`~serve.config.ServeConfig`: its streaming model loaded
    (torch on one thread per stream worker) with its decoder (:func:`stream_decoder_config`) and
    warmed up (a single and a batched step), or none without ``stream_checkpoint``."""
    recognizer = None
    decoder = stream_decoder_config(config)
    if config.stream_checkpoint:
        import torch

        from ds2ray.streaming import beam_stream_decoder, load_streaming_recognizer

        torch.set_num_threads(1)
        factory = beam_stream_decoder(decoder) if decoder is not None else None
        recognizer = load_streaming_recognizer(config.stream_checkpoint, decoder=factory)
        warm = [recognizer.stream() for _ in range(2)]
        warm[0].accept(np.zeros(recognizer.sample_rate // 2, np.float32))
        recognizer.accept_many(warm, [np.zeros(1600, np.float32), np.zeros(2400, np.float32)])
        for stream in warm:
            stream.finish()
    return StreamService(recognizer, config.stream_limits(), config.api_key_sha256,
                         stream_threads(config.stream_num_cpus), "greedy" if decoder is None else "beam")
