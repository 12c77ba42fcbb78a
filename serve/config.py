"""``ServeConfig``: everything the transcription service needs, as one frozen dataclass.

The same object drives ``ds2ray serve`` (from flags), ``serve run serve/serve_config.yaml`` (from the
YAML's ``args:``, through :func:`serve.app.build_app`) and :func:`serve.app.run_in_process`.

Batch caps are in whole seconds of audio (each clip counts ``ceil(duration)``): Ray Serve's
``@serve.batch`` measures a batch with an integer ``batch_size_fn`` against ``max_batch_size``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Mapping

from ds2ray.config import ConfigError
from ds2ray.decode.base import DecoderConfig, DecoderSettings

#: the environment variable that holds the API key, unless ``api_key_env`` names another
DEFAULT_API_KEY_ENV = "DS2RAY_API_KEY"


def hash_api_key(key: str) -> str:
    """SHA-256 hex digest of an API key: configs and deployment arguments hold only this."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ServeConfig(DecoderSettings):
    """The transcription service.

    Model: ``checkpoint`` (folder or ``model.pt``, local or fsspec URL, or a shipped model's name
    such as ``en``), decoded with ``decoder`` (``greedy`` or ``beam``) and every decoder setting of
    :class:`~ds2ray.decode.base.DecoderSettings` under its own name and default (``lm_path``,
    ``unigrams``, ``alpha``, ``beta``, ``beam_width``, ``beam_prune_logp``, ``token_min_logp``, ...):
    :meth:`decoder_config` is the :class:`~ds2ray.decode.base.DecoderConfig` they make. ``tuned``: a
    ``best.json`` from tuning (:func:`ds2ray.decode.tuned.read_tuned`); :meth:`resolved` copies in
    its ``alpha`` and ``beta``, and its other decoder settings where this config keeps the default.
    A shipped model decoded with ``beam`` and neither ``lm_path`` nor ``tuned`` gets its own LM and
    tuned.json.

    Scale: ``replicas`` model replicas, autoscaled up to ``max_replicas`` when that is larger
    (``target_ongoing_requests`` per replica); each takes ``num_cpus`` CPUs and one GPU with
    ``use_gpu``, and runs the model with ``model_threads`` threads (0: as many as ``num_cpus``; more
    lets a replica with a fractional or single CPU reservation use idle cores). ``solo_threads``
    (0: the same): threads for a lone clip, one that reaches a replica with nothing else in flight,
    as at concurrency 1; batches keep ``model_threads``. E.g. 1-thread replicas, one per core, and
    ``solo_threads=2``: under load each core runs one replica's batches, a lone request uses both.
    ``front_replicas`` validating front replicas take ``front_num_cpus`` each. ``colocate``: no
    separate model deployment; each of the ``replicas`` front replicas loads the model and runs it
    itself (``num_cpus`` + ``front_num_cpus`` each, no autoscaling, ``front_replicas`` 1). That saves
    a Ray call per clip (latency first, one node); while a batch runs, that replica's HTTP waits too.

    Batching: with ``batching`` on, requests queued at a model replica form batches of up to
    ``max_batch_seconds`` of audio, waiting at most ``batch_wait_s`` for a batch to fill (not at all
    when the replica was idle: a lone request runs at once); off, the
    replica runs one request at a time. ``max_ongoing_requests`` bounds requests in flight per
    model replica (Serve's default 5 would keep batches small).

    Input limits: request bodies over ``max_body_mb`` MiB get a 413, audio longer than
    ``max_seconds`` a 413 too. The defaults take a 2-hour meeting: 7200 s, and 225 MiB, which
    holds 2 h of 16 kHz 16-bit mono WAV (219.7 MiB; compressed files are far smaller; a 2 h
    44.1 kHz stereo WAV is not: send FLAC, OGG or MP3, or raise the limit).

    Any length: the front cuts each upload at pauses (WebRTC voice activity detection,
    ``vad_aggressiveness`` 0-3; a segment is cut at its quietest point once it reaches
    ``max_segment_seconds``) and sends the segments to the model replicas, which batch them with
    everything else queued; ``max_batch_seconds`` must hold the longest segment. ``backend``:
    ``torch``, ``onnx`` or ``auto`` (onnx for a ``.onnx`` checkpoint); ``precision`` (torch): ``auto`` (bf16
    products on a CPU with native bf16, ~1.5x faster; fp32 elsewhere), ``fp32`` or ``bf16``
    (:mod:`ds2ray.model.precision`). ``api_key_sha256``: when set, ``/transcribe`` needs the key
    (``X-API-Key`` or ``Authorization: Bearer``); :meth:`resolved` fills it from the environment
    variable ``api_key_env`` when that is set.

    Streaming (``/stream``, :mod:`serve.stream`): ``stream_checkpoint`` is an online (unidirectional)
    checkpoint; without one ``/stream`` refuses every connection (close 4503). It runs in the front
    replicas, which then reserve ``stream_num_cpus`` more CPUs (as many model threads). Limits:
    ``stream_max_streams`` per front replica, frames up to ``stream_max_frame_bytes``, closed after
    ``stream_idle_timeout_s`` without a message and after ``stream_max_seconds`` of audio or time.
    ``stream_decoder``: ``greedy``, or ``beam`` (:func:`serve.stream.stream_decoder_config` says with which LM).

    HTTP: Serve's proxy listens on ``host``:``port``; the app is mounted at ``route_prefix`` under
    the application name ``name``.
    """

    checkpoint: str = ""
    decoder: str = "greedy"
    tuned: str | None = None
    replicas: int = 1
    max_replicas: int = 0
    target_ongoing_requests: float = 16.0
    num_cpus: float = 1.0
    model_threads: int = 0
    solo_threads: int = 0
    use_gpu: bool = False
    front_replicas: int = 1
    front_num_cpus: float = 0.25
    colocate: bool = False
    batching: bool = True
    max_batch_seconds: int = 60
    batch_wait_s: float = 0.005
    max_ongoing_requests: int = 64
    max_body_mb: float = 225.0
    max_seconds: float = 7200.0
    max_segment_seconds: float = 20.0
    vad_aggressiveness: int = 3
    backend: str = "auto"
    precision: str = "auto"
    api_key_env: str = DEFAULT_API_KEY_ENV
    api_key_sha256: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    name: str = "ds2ray"
    route_prefix: str = "/"
    stream_checkpoint: str | None = None
    stream_num_cpus: float = 1.0
    stream_max_streams: int = 8
    stream_max_frame_bytes: int = 65536
    stream_idle_timeout_s: float = 10.0
    stream_max_seconds: float = 600.0
    stream_decoder: str = "greedy"

    def __post_init__(self) -> None:
        from ds2ray.decode.base import decoder_names

        if self.decoder not in decoder_names():
            raise ConfigError(f"ServeConfig.decoder: unknown decoder {self.decoder!r}; choose one of {decoder_names()}")
        if self.decoder == "greedy" and self.lm_path:
            raise ConfigError("ServeConfig: lm_path is set but decoder is 'greedy'; use decoder='beam' "
                              "(--decoder beam)")
        if self.replicas < 1 or self.front_replicas < 1:
            raise ConfigError("ServeConfig: replicas and front_replicas must be >= 1")
        if self.max_replicas and self.max_replicas < self.replicas:
            raise ConfigError(f"ServeConfig.max_replicas ({self.max_replicas}) must be 0 (no autoscaling) or >= "
                              f"replicas ({self.replicas})")
        if self.colocate and (self.max_replicas > self.replicas or self.front_replicas != 1):
            raise ConfigError("ServeConfig.colocate runs the model in the front replicas: set their number with "
                              "replicas (--replicas), and leave max_replicas and front_replicas unset")
        if self.num_cpus <= 0 and not self.use_gpu:
            raise ConfigError("ServeConfig.num_cpus must be > 0 for a CPU model replica")
        for name in ("model_threads", "solo_threads"):
            value = getattr(self, name)
            if int(value) != value or value < 0:
                raise ConfigError(f"ServeConfig.{name} must be a whole number >= 0 (0: the default), got {value!r}")
        if self.max_body_mb <= 0 or self.max_seconds <= 0:
            raise ConfigError("ServeConfig: max_body_mb and max_seconds must be > 0")
        if int(self.max_batch_seconds) < self.max_segment_seconds:
            raise ConfigError(f"ServeConfig.max_batch_seconds ({self.max_batch_seconds}) must be >= "
                              f"max_segment_seconds ({self.max_segment_seconds}): a batch must hold the longest "
                              "segment")
        try:
            self.vad_config()
        except ConfigError as err:
            raise ConfigError(f"ServeConfig: {err}") from err
        if self.backend not in ("auto", "torch", "onnx"):
            raise ConfigError(f"ServeConfig.backend must be 'auto', 'torch' or 'onnx', got {self.backend!r}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ConfigError(f"ServeConfig.precision must be 'auto', 'fp32' or 'bf16', got {self.precision!r}")
        if self.max_ongoing_requests < 1 or self.batch_wait_s < 0:
            raise ConfigError("ServeConfig: max_ongoing_requests must be >= 1 and batch_wait_s >= 0")
        if not self.route_prefix.startswith("/"):
            raise ConfigError(f"ServeConfig.route_prefix must start with '/', got {self.route_prefix!r}")
        if self.stream_max_streams < 1 or self.stream_max_frame_bytes < 2 or self.stream_num_cpus <= 0 \
                or self.stream_idle_timeout_s <= 0 or self.stream_max_seconds <= 0:
            raise ConfigError("ServeConfig: stream_max_streams >= 1, stream_max_frame_bytes >= 2, and stream_num_cpus, "
                              "stream_idle_timeout_s and stream_max_seconds > 0 are required")
        if self.stream_decoder not in ("greedy", "beam"):
            raise ConfigError(f"ServeConfig.stream_decoder must be 'greedy' or 'beam', got {self.stream_decoder!r}")
        self._check_settings()
        object.__setattr__(self, "max_batch_seconds", int(self.max_batch_seconds))
        object.__setattr__(self, "model_threads", int(self.model_threads))
        object.__setattr__(self, "solo_threads", int(self.solo_threads))
        for name in ("num_cpus", "front_num_cpus", "max_body_mb", "max_seconds", "batch_wait_s",
                     "target_ongoing_requests", "max_segment_seconds", "stream_num_cpus", "stream_idle_timeout_s",
                     "stream_max_seconds"):
            object.__setattr__(self, name, float(getattr(self, name)))

    def vad_config(self):
        """The :class:`~ds2ray.inference.segmenter.VadConfig` the front cuts uploads with."""
        from ds2ray.inference.segmenter import VadConfig

        return VadConfig(aggressiveness=int(self.vad_aggressiveness), max_segment_s=float(self.max_segment_seconds),
                         cut_search_s=min(5.0, float(self.max_segment_seconds) / 2))

    def stream_limits(self):
        """The :class:`~serve.stream.StreamLimits` of ``/stream``."""
        from serve.stream import StreamLimits

        return StreamLimits(max_frame_bytes=int(self.stream_max_frame_bytes), idle_timeout_s=self.stream_idle_timeout_s,
                            max_seconds=self.stream_max_seconds, max_streams=int(self.stream_max_streams))

    @property
    def threads(self) -> int:
        """Model threads per replica: ``model_threads``, or ``num_cpus`` rounded (at least 1) when that is 0."""
        return int(self.model_threads) or max(1, round(self.num_cpus))

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def autoscaling(self) -> bool:
        return self.max_replicas > self.replicas

    def with_api_key(self, key: str | None) -> "ServeConfig":
        """This config requiring ``key`` (``None`` or empty: no key needed)."""
        return self.replace(api_key_sha256=hash_api_key(key) if key else None)

    def resolved(self, environ: Mapping[str, str] | None = None) -> "ServeConfig":
        """Copy the decoder settings of the ``tuned`` file (see the class docstring) and the API key
        from ``api_key_env``.

        Runs where the app is built (the CLI, or the cluster for ``serve run``), so replicas never
        read either. The key itself is never stored: only its SHA-256.
        """
        cfg = self
        if not cfg.checkpoint:
            raise ConfigError("ServeConfig.checkpoint is required (--checkpoint PATH or a shipped model's name such "
                              "as 'en', or 'checkpoint:' in the serve config's args)")
        from ds2ray import fileio
        from ds2ray.model.checkpoint import CheckpointError, model_file
        from ds2ray.pretrained import decoder_defaults

        from ds2ray.inference.model import resolve_backend

        try:
            onnx = resolve_backend(cfg.checkpoint, cfg.backend) == "onnx"  # a file from `ds2ray export`
            file = cfg.checkpoint if onnx else model_file(cfg.checkpoint)  # a shipped model's name resolves here
        except CheckpointError as err:
            raise ConfigError(f"ServeConfig.checkpoint: {err}") from err
        if onnx and not fileio.exists(file):
            raise ConfigError(f"{cfg.checkpoint}: no such ONNX model (write one with `ds2ray export`)")
        if not fileio.exists(file):
            raise ConfigError(f"{cfg.checkpoint}: no checkpoint there (expected a folder with model.pt, or the .pt "
                              "file itself)")
        if cfg.stream_checkpoint:
            cfg._check_stream_checkpoint()
        shipped = decoder_defaults(cfg.checkpoint) if cfg.decoder == "beam" and not (cfg.lm_path or cfg.tuned) else None
        if shipped is not None:
            cfg = cfg.replace(lm_path=shipped.lm_path, tuned=shipped.tuned_path)
        if cfg.tuned:
            cfg = cfg.replace(tuned=None, **cfg._tuned_settings(cfg.tuned))
        for name in ("lm_path", "unigrams"):
            path = getattr(cfg, name)
            if path and not fileio.exists(path):
                raise ConfigError(f"ServeConfig.{name}: {path} does not exist")
        environ = os.environ if environ is None else environ
        key = environ.get(cfg.api_key_env, "") if cfg.api_key_env else ""
        if cfg.api_key_sha256 is None and key:
            cfg = cfg.with_api_key(key)
        return cfg

    def _check_stream_checkpoint(self) -> None:
        """``stream_checkpoint`` must be a checkpoint of a unidirectional model (read here, before deploying)."""
        from ds2ray.model.checkpoint import CheckpointError, load_checkpoint

        try:
            model_config = load_checkpoint(self.stream_checkpoint).model_config
        except CheckpointError as err:
            raise ConfigError(f"ServeConfig.stream_checkpoint: {err}") from err
        if model_config.bidirectional:
            raise ConfigError(f"ServeConfig.stream_checkpoint: {self.stream_checkpoint} is a bidirectional model, which "
                              "cannot stream; train an online one (the 'online' preset) and pass that")

    def _tuned_settings(self, path: str) -> dict:
        """The settings the tuned file at ``path`` changes: ``alpha`` and ``beta`` always, the others where
        this config has the default (its LM only for beam decoding without an LM of its own)."""
        from ds2ray.decode.tuned import read_tuned, tuned_settings

        try:
            tuned = tuned_settings(read_tuned(path), paths=self.decoder != "greedy" and not self.lm_path)
        except (FileNotFoundError, ValueError) as err:
            raise ConfigError(f"ServeConfig.tuned: {err}") from err
        default = DecoderSettings()
        return {k: v for k, v in tuned.items() if k in ("alpha", "beta") or getattr(self, k) == getattr(default, k)}

    def decoder_config(self) -> DecoderConfig:
        """The :class:`~ds2ray.decode.base.DecoderConfig` the model replicas decode with."""
        return DecoderConfig(type=self.decoder, **self.decoder_settings())
