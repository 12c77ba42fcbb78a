"""Streaming recognition: PCM chunks of any size in, partial text as it goes, final text at endpoints.

:class:`StreamingRecognizer` holds one acoustic model (a unidirectional DS2, e.g. the ``online``
preset, loaded from its checkpoint alone) and opens any number of :class:`RecognizerStream`. Each
stream carries, between chunks:

1. the samples of the next feature frame (:class:`~ds2ray.streaming.frontend.FeatureStream`);
2. each conv's input context and each GRU's hidden state
   (:class:`~ds2ray.streaming.state.EncoderStream`);
3. the decoder's state (:class:`~ds2ray.streaming.decoding.StreamDecoder`; greedy by default, a
   beam search plugs in through ``decoder=``);
4. the endpoint detector's counters (:class:`~ds2ray.streaming.endpoint.EnergyEndpointer`).

The log-probs a stream produces equal offline's (:meth:`AcousticModel.log_probs
<ds2ray.inference.model.AcousticModel.log_probs>`) on the same audio to float rounding, whatever
the chunk sizes, and greedy decoding of them gives the same labels. An endpoint ends a segment at
the output frame its sample position completes (:func:`~ds2ray.streaming.state.ready_output_frames`),
so segments too are the same whatever the chunking; the acoustic state runs on across segments
(only the decoder starts afresh), so the log-probs stay offline's.

Each ``accept`` returns the events it caused, in order: a ``final`` per endpoint passed, then a
``partial`` for the current segment when it received new frames. ``finish`` flushes the model
and returns the last ``final`` (possibly with empty text).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from ds2ray.config import ConfigError
from ds2ray.decode.timestamps import Word
from ds2ray.inference.model import AcousticModel
from ds2ray.model.deepspeech2 import DeepSpeech2
from ds2ray.model.lengths import lookahead_seconds
from ds2ray.streaming.decoding import DecoderFactory, GreedyStreamDecoder, StreamDecoder
from ds2ray.streaming.endpoint import EndpointConfig, EnergyEndpointer
from ds2ray.streaming.frontend import FeatureStream
from ds2ray.streaming.state import EncoderStream, accept_batch, check_streamable, ready_output_frames


@dataclass(frozen=True)
class StreamEvent:
    """What a stream says: ``kind`` ``partial`` (the segment so far) or ``final`` (a finished
    segment); ``segment`` counts from 0; ``start``/``end`` in seconds from the stream's start
    (a partial's ``end`` is where its decoded frames reach); ``words`` on finals."""

    kind: str
    segment: int
    text: str
    start: float
    end: float
    words: tuple[Word, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        out = {"type": self.kind, "segment": self.segment, "text": self.text,
               "start": round(self.start, 3), "end": round(self.end, 3)}
        if self.kind == "final":
            out["words"] = [w.to_dict() for w in self.words]
        return out


def pcm_to_float(pcm: np.ndarray | bytes | bytearray | memoryview) -> np.ndarray:
    """A chunk of mono PCM -> float32 samples in [-1, 1]. Accepts bytes (16-bit little-endian, as
    WAV and browsers send it), int16 arrays (scaled by 1/32768, as audio files load) and float arrays."""
    if isinstance(pcm, (bytes, bytearray, memoryview)):
        if len(pcm) % 2:
            raise ValueError(f"PCM16 chunk of {len(pcm)} bytes: 16-bit samples need an even byte count")
        pcm = np.frombuffer(pcm, dtype="<i2")
    arr = np.asarray(pcm)
    if arr.ndim != 1:
        raise ValueError(f"audio chunk of shape {arr.shape}: expected mono samples (N,); mix channels down first")
    if arr.dtype == np.int16:
        return arr.astype(np.float32) / 32768.0
    if arr.dtype.kind != "f":
        raise ValueError(f"audio chunk of dtype {arr.dtype}: expected int16 PCM or float samples in [-1, 1]")
    return arr.astype(np.float32, copy=False)


class RecognizerStream:
    """One audio stream through a :class:`StreamingRecognizer`. Not thread-safe; streams are
    independent, so different threads may run different streams."""

    def __init__(self, recognizer: "StreamingRecognizer", decoder: StreamDecoder, keep_log_probs: bool) -> None:
        am = recognizer.acoustic
        self._recognizer = recognizer
        self._features_stream = FeatureStream(am.extractor, am.normalizer)
        self._encoder = EncoderStream(am.model)
        self._endpointer = EnergyEndpointer(recognizer.endpoint, am.feature_config.sample_rate)
        self._decoder = decoder
        self._kept: list[np.ndarray] | None = [] if keep_log_probs else None
        self.samples = 0  # samples accepted
        self.segment = 0  # the current segment's index
        self._segment_start = 0  # its first output frame
        self._decoded = 0  # output frames given to the decoder
        self.finished = False

    @property
    def log_probs(self) -> np.ndarray:
        """All (T', V) log-probs so far (``keep_log_probs=True`` streams only)."""
        if self._kept is None:
            raise RuntimeError("this stream does not keep its log-probs: open it with keep_log_probs=True")
        return np.concatenate(self._kept) if self._kept else np.zeros((0, self._recognizer.acoustic.vocab.size),
                                                                      np.float32)

    def accept(self, pcm: np.ndarray | bytes) -> list[StreamEvent]:
        """The next chunk (any length; int16, float or PCM16 bytes at the model's rate) -> events."""
        return self._recognizer.accept_many([self], [pcm])[0]

    def _features(self, samples: np.ndarray) -> tuple[torch.Tensor, list[int]]:
        """float32 samples (N,) -> the feature frames (T, F) they complete and the output frames at
        which the endpoints they pass cut segments."""
        self.samples += len(samples)
        feats = self._features_stream.accept(samples)
        am = self._recognizer.acoustic
        cuts = [ready_output_frames(am.model_config, am.feature_config, pos) for pos in self._endpointer.accept(samples)]
        return feats, cuts

    def finish(self) -> list[StreamEvent]:
        """End of the audio: the model's last frames (offline's zero padding) and the last final."""
        if self.finished:
            raise RuntimeError("finish() called twice")
        self.finished = True
        return self._decode(self._encoder.finish().numpy(), [], final=True)

    def _decode(self, logp: np.ndarray, cuts: list[int], final: bool) -> list[StreamEvent]:
        """Feed new frames to the decoder, cutting segments at output frames ``cuts`` (ascending)."""
        if self._kept is not None and len(logp):
            self._kept.append(logp)
        first = self._decoded  # absolute index of logp[0]
        events = []
        for cut in cuts:
            self._feed(logp[self._decoded - first: cut - first])
            events.append(self._final())
        fresh = self._decoded < first + len(logp)
        self._feed(logp[self._decoded - first:])
        if final:
            events.append(self._final())
        elif fresh:
            events.append(self._event("partial", self._decoder.partial()))
        return events

    def _feed(self, frames: np.ndarray) -> None:
        self._decoder.accept(frames)
        self._decoded += len(frames)

    def _event(self, kind: str, text: str, words: tuple[Word, ...] = ()) -> StreamEvent:
        seconds = self._recognizer.frame_seconds
        return StreamEvent(kind, self.segment, text, self._segment_start * seconds, self._decoded * seconds, words)

    def _final(self) -> StreamEvent:
        hyp = self._decoder.final()
        segment = hyp.timed(self._recognizer.frame_seconds, offset=self._segment_start * self._recognizer.frame_seconds)
        event = self._event("final", hyp.text, segment.words)
        self.segment += 1
        self._segment_start = self._decoded
        return event


class StreamingRecognizer:
    """Opens streams over one unidirectional acoustic model (model weights shared, state per stream).

    ``endpoint`` sets the segmenting (:class:`EndpointConfig`); ``decoder`` builds each stream's
    decoder from the vocabulary (default :class:`GreedyStreamDecoder`).
    """

    def __init__(self, acoustic: AcousticModel, endpoint: EndpointConfig | None = None,
                 decoder: DecoderFactory | None = None) -> None:
        if not isinstance(getattr(acoustic, "model", None), DeepSpeech2):
            raise ConfigError("streaming runs the torch model layer by layer: load the checkpoint with "
                              "backend='torch' (an exported ONNX graph has no per-layer state)")
        check_streamable(acoustic.model)
        FeatureStream(acoustic.extractor, acoustic.normalizer)  # refuses unstreamable features now
        self.acoustic = acoustic
        self.endpoint = endpoint or EndpointConfig()
        self.decoder_factory: DecoderFactory = decoder or GreedyStreamDecoder
        self.frame_seconds = acoustic.frame_seconds

    @property
    def sample_rate(self) -> int:
        return self.acoustic.feature_config.sample_rate

    @property
    def lookahead_seconds(self) -> float:
        """How far past an output frame's start the model reads (:func:`~ds2ray.model.lengths.lookahead_seconds`)."""
        return lookahead_seconds(self.acoustic.model_config, self.acoustic.feature_config)

    def stream(self, sample_rate: int | None = None, keep_log_probs: bool = False) -> RecognizerStream:
        """A new stream. ``sample_rate`` (if given) must be the model's: resample before streaming."""
        if sample_rate is not None and sample_rate != self.sample_rate:
            raise ConfigError(f"stream sample rate {sample_rate} Hz: this model takes {self.sample_rate} Hz audio; "
                              "resample the audio (or the client's capture) to it")
        return RecognizerStream(self, self.decoder_factory(self.acoustic.vocab), keep_log_probs)

    def accept_many(self, streams: Sequence[RecognizerStream], chunks: Sequence[np.ndarray | bytes]) -> list[list[StreamEvent]]:
        """``streams[i].accept(chunks[i])`` for every ``i``, with one batched model call for all of
        them (:func:`~ds2ray.streaming.state.accept_batch`): what a server does with the audio that
        arrived on each of its streams since their last step. Events per stream, as ``accept`` gives
        them; every chunk is checked before any stream changes."""
        if len(streams) != len(chunks):
            raise ValueError(f"accept_many: {len(streams)} streams but {len(chunks)} chunks")
        if len({id(s) for s in streams}) != len(streams):
            raise ValueError("accept_many: a stream appears twice; join its chunks into one")
        for i, stream in enumerate(streams):
            if stream._recognizer is not self:
                raise ValueError(f"accept_many: stream {i} belongs to another recognizer")
            if stream.finished:
                raise RuntimeError(f"accept() after finish() (stream {i}): open a new stream")
        samples = [pcm_to_float(c) for c in chunks]
        live = [i for i, x in enumerate(samples) if x.size]
        prepared = [streams[i]._features(samples[i]) for i in live]
        logps = accept_batch([streams[i]._encoder for i in live], [feats for feats, _ in prepared])
        events: list[list[StreamEvent]] = [[] for _ in streams]
        for i, (_, cuts), logp in zip(live, prepared, logps):
            events[i] = streams[i]._decode(logp.numpy(), cuts, final=False)
        return events


def load_streaming_recognizer(checkpoint: str, endpoint: EndpointConfig | None = None,
                              decoder: DecoderFactory | None = None,
                              device: str | torch.device = "cpu") -> StreamingRecognizer:
    """A :class:`StreamingRecognizer` from a checkpoint folder (or a shipped model's name) alone."""
    from ds2ray.inference.model import load_acoustic_model

    return StreamingRecognizer(load_acoustic_model(checkpoint, device=device, backend="torch"), endpoint, decoder)
