"""The transcription service on Ray Serve: a validating front, a batching model, wired with ``.bind()``.

::

    HTTP -> Frontend (FastAPI ingress)                   -> Transcriber (model replicas)
            GET /  GET /static/*  GET /healthz              @serve.batch, capped by seconds of audio
            POST /transcribe: key 401, size 413,             AcousticModel.log_probs -> decoder
                              format/decode 400, length 413
                              cut at pauses -> one Clip per segment
            WS /stream: the online model runs in this replica (serve/stream.py)

With ``colocate`` there is no Transcriber deployment: each Frontend replica holds a Transcriber
object and awaits it directly (one Ray call fewer per clip; its loop blocks while a batch runs).

Any length: ``Frontend`` decodes each upload in blocks and cuts it at pauses
(:func:`serve.segments.upload_segments`: WebRTC voice activity detection, a segment at most
``max_segment_seconds``), sending each segment as a :class:`Clip` (mono float32 at the model's
rate, with its ``offset`` in the recording; nothing is written to disk) to ``Transcriber.transcribe``
as soon as it is cut, with at most :data:`SEGMENTS_IN_FLIGHT` per request outstanding.
``Transcriber`` loads the checkpoint once per replica (CPU or GPU) and, with batching on, runs every
queued clip (segments of long uploads and short requests alike) of up to ``max_batch_seconds`` of
audio as one padded batch. The answer joins the segments: ``text``, ``words`` and ``segments``
``[{start, end, text, words}]``, times in seconds from the start of the recording.

Entry points: :func:`build_app` (``serve run`` config files: ``import_path: serve.app:build_app``),
:func:`app_from_config`, and :func:`run_in_process` / :func:`start_server` (``ds2ray serve``,
tests, ``make demo``), which return a :class:`RunningServer` with ``.url`` and ``.stop()``.
"""

# No `from __future__ import annotations`: FastAPI must see real types (Request) in the route signatures
# of the class-based view Serve builds.
import asyncio
import logging
import math
import socket
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable

import numpy as np
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from ray import serve
from ray.serve.handle import DeploymentHandle

from serve.config import ServeConfig
from serve.segments import UploadInfo, upload_segments
from serve.stream import stream_service
from serve.validate import InputError, audio_and_fields, check_api_key, read_body, request_hotwords

log = logging.getLogger("ds2ray.serve")

#: segments of one request sent to the model replicas and not yet answered: bounds the front's memory
SEGMENTS_IN_FLIGHT = 16
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


@dataclass(frozen=True)
class Clip:
    """One segment on its way to the model: ``audio`` (N,) float32 at ``sample_rate``, starting
    ``offset`` seconds into its recording (words are timed from there), decoded with the request's
    ``hotwords`` (``(phrase, weight)`` pairs; empty: the server's own)."""

    audio: np.ndarray
    sample_rate: int
    offset: float = 0.0
    hotwords: tuple = ()

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate

    @property
    def batch_units(self) -> int:
        """Whole seconds, rounded up: the unit of ``ServeConfig.max_batch_seconds``."""
        return max(1, math.ceil(self.seconds - 1e-9))


def batch_seconds(clips: list[Clip]) -> int:
    """``@serve.batch`` size of a batch: its audio in whole seconds (each clip rounded up)."""
    return sum(c.batch_units for c in clips)


def _precision_name(model: Any) -> str | None:
    """What a loaded torch model computes its big products in, bf16 or fp32; None for onnx (as exported)."""
    inner = getattr(model, "model", None)
    if not hasattr(inner, "matmul_dtype"):
        return None
    return "fp32" if inner.matmul_dtype is None else "bf16"


@serve.deployment
class Transcriber:
    """Model replica: audio clips -> text, batched by total seconds of audio.

    ``transcribe(Clip) -> dict`` with ``segment`` (``{start, end, text, words: [{word, start, end}]}``,
    seconds from the start of the clip's recording), ``text`` and ``words`` (the segment's),
    ``model_ms`` (features + network for the whole batch), ``ctc_decode_ms`` (decoding and word
    alignment), ``batch_size`` and ``batch_audio_s``.
    """

    def __init__(self, config: dict) -> None:
        import torch

        from ds2ray.decode.base import build_decoder
        from ds2ray.inference.model import AcousticModel, load_acoustic_model

        self.config = cfg = ServeConfig.from_dict(config)
        threads = cfg.threads
        if cfg.use_gpu:
            if not torch.cuda.is_available():
                raise RuntimeError("use_gpu is set but this replica sees no CUDA device; drop --use-gpu or run on a "
                                   "GPU node")
            device = "cuda"
        else:
            device = "cpu"
            torch.set_num_threads(threads)
        self.model = load_acoustic_model(cfg.checkpoint, device, backend=cfg.backend, threads=threads,
                                         precision=cfg.precision)
        self.threads = threads
        self.solo_threads = threads if cfg.use_gpu else max(threads, cfg.solo_threads)
        self.solo_model = self.model  # a lone clip's: onnx needs a session with more threads, torch sets its own
        if self.solo_threads > threads and not isinstance(self.model, AcousticModel):
            self.solo_model = load_acoustic_model(cfg.checkpoint, device, backend=cfg.backend,
                                                  threads=self.solo_threads, precision=cfg.precision)
        self.decoder = build_decoder(cfg.decoder_config(), self.model.vocab)
        self.sample_rate = self.model.feature_config.sample_rate
        self.frame_seconds = self.model.frame_seconds
        self._batched.set_max_batch_size(cfg.max_batch_seconds)
        self._batched.set_batch_wait_timeout_s(cfg.batch_wait_s)
        self._one_at_a_time = asyncio.Lock()
        self._waiting = 0  # clips taken by transcribe() and not yet answered
        self._idle_since = 0.0  # time.monotonic() when the last batch ended
        warm_up = [Clip(np.zeros(self.sample_rate, np.float32), self.sample_rate)]
        self._run(warm_up)
        if self.solo_threads > threads:  # lone clips have their own threads: warm the many-clip path too
            self._run(warm_up * 2)

    def info(self) -> dict[str, Any]:
        cfg = self.config
        beam = cfg.decoder != "greedy"
        return {"checkpoint": cfg.checkpoint, "sample_rate": self.sample_rate, "vocab_size": self.model.vocab.size,
                "language": self.model.vocab.language, "device": str(self.model.device), "decoder": cfg.decoder,
                "alpha": cfg.alpha if beam else None, "beta": cfg.beta if beam else None,
                "lm": cfg.lm_path if beam else None, "batching": cfg.batching,
                "max_batch_seconds": cfg.max_batch_seconds, "backend": cfg.backend,
                "precision": _precision_name(self.model),
                "hotword_weight": cfg.hotword_weight if beam else None}

    async def transcribe(self, clip: Clip) -> dict[str, Any]:
        if clip.sample_rate != self.sample_rate:
            raise ValueError(f"clip at {clip.sample_rate} Hz, model wants {self.sample_rate} Hz")
        if self.config.batching:
            self._batched.set_batch_wait_timeout_s(self._batch_wait_s())
            self._waiting += 1
            try:
                return await self._batched(clip)
            finally:
                self._waiting -= 1
        self._waiting += 1
        try:
            async with self._one_at_a_time:
                return (await asyncio.to_thread(self._run, [clip]))[0]
        finally:
            self._waiting -= 1

    def _batch_wait_s(self) -> float:
        """How long the batch a clip arriving now starts may wait to fill: ``batch_wait_s`` under load, 0 when
        the replica is idle (nothing in flight here, and the last batch ended at least ``batch_wait_s`` ago).

        Under load the model blocks this replica's loop (see :meth:`_batched`), so the requests that arrived
        meanwhile reach ``transcribe`` back to back the moment a batch ends; waiting lets them all into the
        next batch. A lone request after a pause (concurrency 1) has nobody to wait for: it runs at once.
        """
        wait = self.config.batch_wait_s
        if self._waiting == 0 and time.monotonic() - self._idle_since >= wait:
            return 0.0
        return wait

    @serve.batch(max_batch_size=60, batch_wait_timeout_s=0.01, batch_size_fn=batch_seconds)
    async def _batched(self, clips: list[Clip]) -> list[dict[str, Any]]:
        # max_batch_size / timeout are set per replica from the config in __init__.
        # The model runs ON the event loop, blocking it, on purpose: Serve forms the next batch as
        # soon as this one is handed over, so while the loop is free it would cut many small
        # batches that then wait in line. Blocked, the requests arriving meanwhile queue up and
        # the next batch takes them all (up to max_batch_seconds).
        try:
            return self._run(clips)
        finally:
            self._idle_since = time.monotonic()

    def _log_probs(self, clips: list[Clip]) -> list[np.ndarray]:
        """The model on a batch; a lone clip (nothing else in flight here) runs with ``solo_threads``."""
        audios = [c.audio for c in clips]
        max_batch_seconds = max(sum(c.seconds for c in clips), 1.0) * 2  # one padded batch
        if len(clips) > 1 or self._waiting > 1 or self.solo_threads == self.threads:
            return self.model.log_probs(audios, max_batch_seconds=max_batch_seconds)
        if self.solo_model is not self.model:  # onnx: the session with solo_threads
            return self.solo_model.log_probs(audios, max_batch_seconds=max_batch_seconds)
        import torch

        torch.set_num_threads(self.solo_threads)
        try:
            return self.model.log_probs(audios, max_batch_seconds=max_batch_seconds)
        finally:
            torch.set_num_threads(self.threads)

    def _run(self, clips: list[Clip]) -> list[dict[str, Any]]:
        t0 = time.perf_counter()
        total_s = sum(c.seconds for c in clips)
        log_probs = self._log_probs(clips)
        t1 = time.perf_counter()
        hyps = self._hypotheses(clips, log_probs)
        t2 = time.perf_counter()
        timing = {"model_ms": round((t1 - t0) * 1000, 2), "ctc_decode_ms": round((t2 - t1) * 1000, 2),
                  "batch_size": len(clips), "batch_audio_s": round(total_s, 3)}
        segments = [h.timed(self.frame_seconds, c.offset).to_dict() for h, c in zip(hyps, clips)]
        return [{"segment": seg, "text": seg["text"], "words": seg["words"], **timing} for seg in segments]

    def _hypotheses(self, clips: list[Clip], log_probs: list[np.ndarray]) -> list:
        """Decode a batch; clips that carry hotwords are decoded with theirs, grouped by hotword list."""
        groups: dict[tuple, list[int]] = {}
        for i, clip in enumerate(clips):
            groups.setdefault(clip.hotwords, []).append(i)
        hyps: list = [None] * len(clips)
        for hotwords, idx in groups.items():
            lps = [log_probs[i] for i in idx]
            out = self.decoder.hypotheses(lps, hotwords=hotwords) if hotwords else self.decoder.hypotheses(lps)
            for i, h in zip(idx, out):
                hyps[i] = h
        return hyps


api = FastAPI(title="ds2ray transcription", description="DeepSpeech2 speech recognition on Ray Serve",
              docs_url=None, redoc_url=None)


def _error(err: InputError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="ds2ray"'} if err.status == 401 else None
    return JSONResponse(err.to_json(), status_code=err.status, headers=headers)


def _timed_next(pieces) -> tuple[Any, float]:
    """``next(pieces, None)`` and the seconds it took, measured in the calling thread."""
    t = time.perf_counter()
    piece = next(pieces, None)
    return piece, time.perf_counter() - t


def _load_static() -> dict[str, tuple[bytes, str]]:
    files = {}
    for entry in resources.files("serve").joinpath("static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in STATIC_TYPES:
            files[entry.name] = (entry.read_bytes(), STATIC_TYPES[suffix])
    if "index.html" not in files:
        raise RuntimeError("serve/static/index.html is missing from the installed package; reinstall ds2ray")
    return files


@serve.deployment
@serve.ingress(api)
class Frontend:
    """Ingress replica: routes, validation, audio decoding; forwards clips to :class:`Transcriber`."""

    def __init__(self, transcriber: DeploymentHandle | None, config: dict) -> None:
        self.config = ServeConfig.from_dict(config)
        self.transcriber = transcriber
        # colocated (no model deployment): this replica loads the model and runs it on its own loop
        self.local = Transcriber.func_or_class(config) if transcriber is None else None
        self.static = _load_static()
        self._info: dict[str, Any] | None = None
        self.streams = stream_service(self.config)  # /stream: the streaming model runs in this replica

    async def model_info(self) -> dict[str, Any]:
        if self._info is None:
            self._info = self.local.info() if self.local else await self.transcriber.info.remote()
        return self._info

    def _submit(self, clip: Clip):
        """The model's answer for ``clip``, to await (and cancel): a call to a model replica, or to this
        replica's own model when colocated."""
        if self.local is not None:
            return asyncio.ensure_future(self.local.transcribe(clip))
        return self.transcriber.transcribe.remote(clip)

    @api.get("/", response_class=HTMLResponse)
    async def index(self, request: Request) -> Response:
        if not request.url.path.endswith("/"):  # the page loads static/app.js relative to itself
            return RedirectResponse(request.url.path + "/")
        body, media_type = self.static["index.html"]
        return Response(body, media_type=media_type)

    @api.get("/static/{name}")
    async def static_file(self, name: str) -> Response:
        if name not in self.static:
            return JSONResponse({"error": f"no static file {name!r}", "status": 404}, status_code=404)
        body, media_type = self.static[name]
        return Response(body, media_type=media_type)

    @api.get("/healthz")
    async def healthz(self) -> JSONResponse:
        info = await self.model_info()
        return JSONResponse({"status": "ok", "auth": bool(self.config.api_key_sha256),
                             "max_body_mb": self.config.max_body_mb, "max_seconds": self.config.max_seconds,
                             "model": info, "stream": self.streams.info()})

    @api.websocket("/stream")
    async def stream(self, websocket: WebSocket) -> None:
        """Streaming recognition: the protocol, limits and close codes are in :mod:`serve.stream`."""
        await self.streams.handle(websocket)

    @api.post("/transcribe")
    async def transcribe(self, request: Request) -> JSONResponse:
        t0 = time.perf_counter()
        cfg = self.config
        try:
            check_api_key(request.headers, cfg.api_key_sha256)
            body = await read_body(request.stream(), request.headers.get("content-length"), cfg.max_body_bytes)
            data, fields = audio_and_fields(body, request.headers.get("content-type", ""))
            del body
            info = await self.model_info()
            hotwords = request_hotwords(request.query_params.get("hotwords"), fields.get("hotwords"),
                                        info["decoder"], info.get("hotword_weight") or 10.0)
            upload = UploadInfo()
            results, decode_s = await self._transcribe_segments(
                upload_segments(data, info["sample_rate"], cfg.max_seconds, cfg.vad_config(), upload), hotwords)
        except InputError as err:
            return _error(err)
        except Exception as err:  # the model replica failed: say so as JSON, keep serving
            log.exception("transcription failed")
            return JSONResponse({"error": f"transcription failed on the model replica ({type(err).__name__}: "
                                          f"{str(err)[:300]})", "status": 500}, status_code=500)
        t3 = time.perf_counter()
        segments = [r["segment"] for r in results if r["segment"]["text"]]
        joiner = "" if info.get("language") == "zh" else " "
        if len(results) == 1:  # one clip: its batch's own figures (as for every short request)
            model_ms, ctc_ms = results[0]["model_ms"], results[0]["ctc_decode_ms"]
        else:  # this request's share of each batch its segments rode in
            share = [r["segment"]["end"] - r["segment"]["start"] for r in results]
            model_ms = sum(r["model_ms"] * s / max(r["batch_audio_s"], 1e-9) for r, s in zip(results, share))
            ctc_ms = sum(r["ctc_decode_ms"] * s / max(r["batch_audio_s"], 1e-9) for r, s in zip(results, share))
        wall_ms = (t3 - t0) * 1000
        return JSONResponse({
            "text": joiner.join(seg["text"] for seg in segments),
            "words": [w for seg in segments for w in seg["words"]],
            "segments": segments,
            "duration_s": round(upload.duration_s, 3),
            "sample_rate": upload.native_rate,
            "format": upload.format,
            "decoder": info["decoder"],
            "alpha": info["alpha"],
            "beta": info["beta"],
            "hotwords": [list(h) for h in hotwords],
            "timing": {
                "total_ms": round(wall_ms, 2),
                "audio_decode_ms": round(decode_s * 1000, 2),
                "model_ms": round(model_ms, 2),
                "ctc_decode_ms": round(ctc_ms, 2),
                "queue_ms": round(max(0.0, wall_ms - decode_s * 1000 - model_ms - ctc_ms), 2),
                "segments": len(results),
                "batch_size": max((r["batch_size"] for r in results), default=0),
                "batch_audio_s": max((r["batch_audio_s"] for r in results), default=0.0),
            },
        })

    async def _transcribe_segments(self, pieces, hotwords: tuple = ()) -> tuple[list[dict[str, Any]], float]:
        """Cut the upload (in a thread, segment by segment) and send each segment to the model as soon as
        it is cut, keeping at most :data:`SEGMENTS_IN_FLIGHT` unanswered. Returns the model's answers in
        time order and the seconds spent decoding and cutting the audio."""
        results: list[dict[str, Any]] = []
        in_flight: list[Any] = []
        decode_s = 0.0
        try:
            while True:
                # timed in the thread: awaited, the figure would also hold whatever ran on this loop
                # meanwhile (colocated, the model itself blocks it while a batch runs)
                piece, seconds = await asyncio.to_thread(_timed_next, pieces)
                decode_s += seconds
                if piece is None:
                    break
                in_flight.append(self._submit(Clip(piece.audio, piece.sample_rate, piece.start, hotwords)))
                if len(in_flight) >= SEGMENTS_IN_FLIGHT:
                    results.append(await in_flight.pop(0))
            for response in in_flight:
                results.append(await response)
        except BaseException:
            for response in in_flight:  # the upload failed part-way: drop what is still queued
                response.cancel()
            raise
        return results, decode_s


def app_from_config(config: ServeConfig) -> serve.Application:
    """The bound application (front + model) for a resolved config."""
    cfg = config
    model_options: dict[str, Any] = {
        "ray_actor_options": {"num_cpus": cfg.num_cpus, "num_gpus": 1 if cfg.use_gpu else 0},
        "max_ongoing_requests": cfg.max_ongoing_requests,
    }
    if cfg.autoscaling:
        model_options["autoscaling_config"] = {
            "min_replicas": cfg.replicas, "initial_replicas": cfg.replicas, "max_replicas": cfg.max_replicas,
            "target_ongoing_requests": cfg.target_ongoing_requests}
    else:
        model_options["num_replicas"] = cfg.replicas
    # each front replica must hold enough requests in flight for the model replicas (colocated: its own
    # model) to batch them
    fronts = cfg.replicas if cfg.colocate else cfg.front_replicas
    model_capacity = cfg.max_ongoing_requests * max(cfg.replicas, cfg.max_replicas)
    front_ongoing = max(16, math.ceil(model_capacity / fronts))
    front_cpus = cfg.front_num_cpus
    if cfg.stream_checkpoint:  # each open /stream connection is an ongoing request of a front replica
        front_ongoing += cfg.stream_max_streams
        front_cpus += cfg.stream_num_cpus
    if cfg.colocate:  # one deployment: each front replica runs the model itself
        return Frontend.options(num_replicas=fronts, max_ongoing_requests=front_ongoing,
                                ray_actor_options={"num_cpus": front_cpus + cfg.num_cpus,
                                                   "num_gpus": 1 if cfg.use_gpu else 0}).bind(None, cfg.to_dict())
    transcriber = Transcriber.options(**model_options).bind(cfg.to_dict())
    return Frontend.options(num_replicas=cfg.front_replicas, max_ongoing_requests=front_ongoing,
                            ray_actor_options={"num_cpus": front_cpus}).bind(transcriber, cfg.to_dict())


def build_app(args: dict[str, Any]) -> serve.Application:
    """Application builder for ``serve run`` config files (``import_path: serve.app:build_app``).

    ``args`` are :class:`ServeConfig` fields (``checkpoint`` required). ``tuned`` and the API key
    environment variable are read here, where the app is built.
    """
    return app_from_config(ServeConfig.from_dict(dict(args)).resolved())


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class RunningServer:
    """A deployed service: ``url`` (no trailing slash), ``config``; ``stop()`` takes it down."""

    url: str
    config: ServeConfig
    _stops: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def stop(self) -> None:
        """Delete the app; shut Serve and Ray down too if this server started them. Idempotent."""
        while self._stops:
            try:
                self._stops.pop()()
            except Exception as err:  # keep stopping the rest
                log.warning("while stopping the server: %s", err)

    def __enter__(self) -> "RunningServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _serve_http_address() -> tuple[str, int] | None:
    """Host and port of the Serve proxy already running on this Ray cluster, if any."""
    try:
        from ray.serve.context import _get_global_client  # private: Serve has no public getter

        client = _get_global_client(raise_if_no_controller_running=False)
        if client is None:
            return None
        return client.http_config.host, client.http_config.port
    except Exception:
        return None


def wait_healthy(url: str, timeout_s: float) -> dict[str, Any]:
    """Poll ``url/healthz`` until it answers 200; returns its JSON."""
    import requests

    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            r = requests.get(f"{url}/healthz", timeout=5)
            if r.status_code == 200:
                return r.json()
            last = f"HTTP {r.status_code}: {r.text[:200]}"
        except requests.RequestException as err:
            last = str(err)
        time.sleep(0.2)
    raise RuntimeError(f"the server at {url} did not become healthy within {timeout_s:.0f} s ({last})")


def start_server(config: ServeConfig, *, address: str | None = None, timeout_s: float = 180.0) -> RunningServer:
    """Deploy ``config`` on Ray Serve and wait until ``/healthz`` answers.

    Uses the Ray this process is connected to; otherwise connects to ``address`` (``auto``, a
    ``ray://`` URL, ...) or, with none, starts a local Ray. If Serve already runs on the cluster,
    the app joins its HTTP proxy: ``config.port == 0`` takes the proxy's address, any other port
    must match it. Otherwise Serve starts on ``host``:``port`` (``0``: a free port).
    """
    import ray

    cfg = config.resolved()
    server = RunningServer(url="", config=cfg)
    if not ray.is_initialized():
        from ds2ray.raycluster import connect

        connect(address=address, logging_level=logging.WARNING)
        server._stops.append(ray.shutdown)
    running = _serve_http_address()
    if running is None:
        cfg = cfg if cfg.port else cfg.replace(port=free_port(cfg.host))
        serve.start(http_options={"host": cfg.host, "port": cfg.port})
        server._stops.append(serve.shutdown)
    elif cfg.port == 0:
        cfg = cfg.replace(host=running[0], port=running[1])
    elif running != (cfg.host, cfg.port):
        server.stop()
        raise RuntimeError(f"Ray Serve already listens on {running[0]}:{running[1]} in this Ray cluster; use "
                           f"--host {running[0]} --port {running[1]}, or stop it first with `serve shutdown -y`")
    server.config = cfg
    try:
        serve.run(app_from_config(cfg), name=cfg.name, route_prefix=cfg.route_prefix, blocking=False)
        server._stops.append(lambda: serve.delete(cfg.name))
        host = "127.0.0.1" if cfg.host in ("0.0.0.0", "::", "") else cfg.host
        server.url = f"http://{host}:{cfg.port}{cfg.route_prefix.rstrip('/')}"
        wait_healthy(server.url, timeout_s)
    except BaseException:
        server.stop()
        raise
    return server


def run_in_process(checkpoint: str, *, api_key: str | None = None, address: str | None = None,
                   timeout_s: float = 180.0, **fields: Any) -> RunningServer:
    """Start the service for ``checkpoint``; ``fields`` override :class:`ServeConfig` defaults.

    Example (``make demo``)::

        server = run_in_process("runs/demo/best", port=0)
        requests.post(server.url + "/transcribe", data=open("a.wav", "rb").read()).json()["text"]
        server.stop()
    """
    cfg = ServeConfig(checkpoint=str(checkpoint), **fields)
    if api_key:
        cfg = cfg.with_api_key(api_key)
    return start_server(cfg, address=address, timeout_s=timeout_s)
