"""Audio in, text out, in this process: a checkpoint's acoustic model and one decoder.

The local counterpart of the transcription service (``ds2ray transcribe --local``, ``ds2ray mic
--local``, ``jobs/demo.py``)::

    from ds2ray.transcribe import load_recognizer
    rec = load_recognizer()                   # the shipped English model, beam search + its LM
    rec.transcribe_file("a.wav")              # -> "open the gate"
    rec.transcribe(audio, 44100)              # mono float array at any rate
    rec.transcribe_file_segment("a.wav")      # -> Segment: text and words with start/end seconds
    rec.transcribe_long("meeting.ogg")        # any length -> Transcript: text, segments with words
    for seg in rec.iter_segments("meeting.ogg"):  # the same, segment by segment as they are decoded
        print(seg.start, seg.text)

Any length: :meth:`Recognizer.iter_segments` reads the file in blocks
(:mod:`ds2ray.inference.audio_blocks`), cuts it at pauses with a voice activity detector
(:mod:`ds2ray.inference.segmenter`), gathers ``batch_seconds`` of segments (a pool), runs the pool
through the model sorted by length in padded batches of at most ``model_batch_seconds``
(:meth:`~ds2ray.inference.model.AcousticModel.log_probs`) and decodes it, each segment's words
offset to their time in the file. With ``overlap=True`` the search and word alignment of one pool
run on a worker thread while the next pool goes through the network (the compiled beam search
releases the GIL); off by default, as it was slower on 2 cores. Memory is bounded by one pool (two
with ``overlap``) plus a few blocks, however long the recording.

Where an hour goes (shipped ``en``, beam + LM, 739 segments; CPU seconds with one torch thread,
measured on a 5-minute piece and scaled): reading and resampling ~1.5, VAD ~1.3, features ~1.5,
the network ~45 (~88 %: the GRUs), search and word times ~3.5. Hence the pool: sorting 600 s of
segments rather than 120 s cuts the padding the GRUs compute from +37 % to +14 % of the speech
and halves their sequential steps (bigger batches of similar lengths).

``checkpoint`` is a checkpoint path or a shipped model's name; the decoder follows
:func:`ds2ray.decode.options.decoder_config_for` (a shipped model decodes with its LM and tuned
alpha/beta unless told otherwise).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from ds2ray.pretrained import DEFAULT_MODEL

if TYPE_CHECKING:
    from ds2ray.decode.timestamps import Segment
    from ds2ray.inference.audio_blocks import AudioSource
    from ds2ray.inference.segmenter import SpeechSegment, VadConfig
    from ds2ray.transcript_formats import Transcript

#: seconds of speech segments the long-form path gathers, sorts by length and decodes together
LONG_BATCH_SECONDS = 600.0
#: padded seconds of audio per forward pass of the long-form path (a batch of similar-length segments)
MODEL_BATCH_SECONDS = 120.0
#: seconds of audio read (and resampled) at a time by the long-form path
BLOCK_SECONDS = 30.0


@dataclass
class Recognizer:
    """An :class:`~ds2ray.inference.model.AcousticModel` and a :class:`~ds2ray.decode.base.Decoder`."""

    model: Any  # AcousticModel
    decoder: Any  # Decoder
    checkpoint: str

    @property
    def sample_rate(self) -> int:
        return int(self.model.feature_config.sample_rate)

    def transcribe_batch(self, audios: Sequence[np.ndarray], sample_rate: int | None = None) -> list[str]:
        """Mono float audio (N,) each, at ``sample_rate`` (default: the model's) -> one text each."""
        from ds2ray.data.audio import to_mono_resampled

        rate = sample_rate or self.sample_rate
        waves = [to_mono_resampled(np.asarray(a, dtype=np.float32), rate, self.sample_rate) for a in audios]
        return self.decoder.decode_batch(self.model.log_probs(waves))

    def segments_batch(self, audios: Sequence[np.ndarray], sample_rate: int | None = None) -> list["Segment"]:
        """As :meth:`transcribe_batch`, each text with its words' start and end in seconds."""
        from ds2ray.data.audio import to_mono_resampled

        rate = sample_rate or self.sample_rate
        waves = [to_mono_resampled(np.asarray(a, dtype=np.float32), rate, self.sample_rate) for a in audios]
        frame_seconds = self.model.frame_seconds
        return [h.timed(frame_seconds) for h in self.decoder.hypotheses(self.model.log_probs(waves))]

    def transcribe(self, audio: np.ndarray, sample_rate: int | None = None) -> str:
        return self.transcribe_batch([audio], sample_rate)[0]

    def transcribe_segment(self, audio: np.ndarray, sample_rate: int | None = None) -> "Segment":
        return self.segments_batch([audio], sample_rate)[0]

    def transcribe_file(self, path: str) -> str:
        """Any file soundfile reads (WAV, FLAC, OGG, MP3), at any rate."""
        from ds2ray.data.audio import load_audio

        return self.transcribe(load_audio(path, self.sample_rate))

    def transcribe_file_segment(self, path: str) -> "Segment":
        """As :meth:`transcribe_file`, with the words' times."""
        from ds2ray.data.audio import load_audio

        return self.transcribe_segment(load_audio(path, self.sample_rate))

    # ---- any length ----------------------------------------------------------------------------

    def decode_segments(self, pieces: Sequence["SpeechSegment"],
                        model_batch_seconds: float = MODEL_BATCH_SECONDS) -> list["Segment"]:
        """VAD pieces at the model's rate -> one timed :class:`Segment` each, words in stream time."""
        return self._search([p.start for p in pieces], self._network(pieces, model_batch_seconds))

    def _network(self, pieces: Sequence["SpeechSegment"], model_batch_seconds: float) -> list[np.ndarray]:
        """(T'_i, V) log-probs of each piece: sorted by length, in padded batches of similar lengths."""
        if not pieces:
            return []
        return self.model.log_probs([p.audio for p in pieces], max_batch_seconds=max(model_batch_seconds, 1.0))

    def _search(self, starts: Sequence[float], log_probs: Sequence[np.ndarray]) -> list["Segment"]:
        """Decode each piece's log-probs; its words' times offset by the piece's ``start`` seconds."""
        if not starts:
            return []
        frame_seconds = self.model.frame_seconds
        return [h.timed(frame_seconds, start) for h, start in zip(self.decoder.hypotheses(log_probs), starts)]

    def iter_segments(self, source: "AudioSource | np.ndarray", sample_rate: int | None = None, *,
                      vad: "VadConfig | None" = None, batch_seconds: float = LONG_BATCH_SECONDS,
                      model_batch_seconds: float = MODEL_BATCH_SECONDS, overlap: bool = False,
                      progress: Callable[[float], None] | None = None, name: str | None = None,
                      ) -> Iterator["Segment"]:
        """Transcribe a recording of any length, yielding its non-empty segments in time order.

        ``source``: a path or URL (any format soundfile reads, any rate), encoded bytes, or a mono
        float array at ``sample_rate`` (default: the model's). ``vad``: how to cut it
        (:class:`~ds2ray.inference.segmenter.VadConfig`). ``batch_seconds``: seconds of speech
        segments decoded together (sorted by length, so they pad little);
        ``model_batch_seconds``: padded seconds per forward pass. ``overlap``: search one pool on a
        worker thread while the next goes through the network (same results either way; off by
        default: on 2 cores the search thread competes with the network's threads, 129x against 146x
        real time in ``bench/longform.py``).
        ``progress(seconds)`` is called with the seconds of audio read when each pool was complete,
        once its segments are out. A file that is corrupt or truncated part-way raises
        :class:`~ds2ray.data.audio.AudioError` (naming ``name`` or the path) when reached, after the
        segments decoded before it.
        """
        from ds2ray.inference.audio_blocks import AudioReader, array_blocks

        options = _LongFormOptions(vad, batch_seconds, model_batch_seconds, overlap, progress)
        if isinstance(source, np.ndarray):
            yield from self._segments_of(array_blocks(source, sample_rate or self.sample_rate, self.sample_rate,
                                                      BLOCK_SECONDS), options)
            return
        with AudioReader(source, self.sample_rate, name=name) as reader:
            yield from self._segments_of(reader.blocks(BLOCK_SECONDS), options)

    def _pools(self, blocks: Iterable[np.ndarray], vad: "VadConfig | None",
               batch_seconds: float) -> Iterator[tuple[list["SpeechSegment"], float]]:
        """The speech segments of ``blocks`` in pools of about ``batch_seconds``, each with the seconds
        of audio read when it was complete (the last pool may be empty)."""
        from ds2ray.inference.segmenter import speech_segments

        read = [0]  # samples read so far

        def counted() -> Iterator[np.ndarray]:
            for block in blocks:
                read[0] += len(block)
                yield block

        pool: list[SpeechSegment] = []
        seconds = 0.0
        for piece in speech_segments(counted(), self.sample_rate, vad):
            pool.append(piece)
            seconds += piece.seconds
            if seconds >= batch_seconds:
                yield pool, read[0] / self.sample_rate
                pool, seconds = [], 0.0
        yield pool, read[0] / self.sample_rate

    def _segments_of(self, blocks: Iterable[np.ndarray], options: "_LongFormOptions") -> Iterator["Segment"]:
        """Network on this thread, search (and word alignment) of the pool before on ``worker``."""
        done: tuple[Future, float] | None = None  # the pool being searched, and the seconds read then
        worker = ThreadPoolExecutor(1, thread_name_prefix="ds2ray-search") if options.overlap else None

        def finish(job: tuple[Future, float]) -> Iterator["Segment"]:
            yield from (s for s in job[0].result() if s.text)
            if options.progress is not None:
                options.progress(job[1])

        pools = self._pools(blocks, options.vad, options.batch_seconds)
        try:
            while True:
                try:
                    pool, seen = next(pools)  # reading and VAD: where a broken file raises
                except StopIteration:
                    break
                except Exception:
                    if done is not None:  # the segments before the broken part come out first
                        pending, done = done, None
                        yield from finish(pending)
                    raise
                starts = [p.start for p in pool]
                log_probs = self._network(pool, options.model_batch_seconds)
                del pool  # its audio is not needed any more
                if worker is None:
                    job: tuple[Future, float] = (_completed(self._search(starts, log_probs)), seen)
                else:
                    job = (worker.submit(self._search, starts, log_probs), seen)
                previous, done = done, job
                if previous is not None:
                    yield from finish(previous)
            if done is not None:
                yield from finish(done)
        finally:
            if worker is not None:
                worker.shutdown(wait=True, cancel_futures=True)

    def transcribe_long(self, source: "AudioSource | np.ndarray", sample_rate: int | None = None, *,
                        vad: "VadConfig | None" = None, batch_seconds: float = LONG_BATCH_SECONDS,
                        model_batch_seconds: float = MODEL_BATCH_SECONDS, overlap: bool = False,
                        progress: Callable[[float], None] | None = None, name: str | None = None) -> "Transcript":
        """:meth:`iter_segments` collected: the whole :class:`~ds2ray.transcript_formats.Transcript`."""
        from ds2ray.transcript_formats import transcript_from_segments

        done = [0.0]

        def seen(seconds: float) -> None:
            done[0] = seconds
            if progress is not None:
                progress(seconds)

        segments = list(self.iter_segments(source, sample_rate, vad=vad, batch_seconds=batch_seconds,
                                           model_batch_seconds=model_batch_seconds, overlap=overlap,
                                           progress=seen, name=name))
        return transcript_from_segments(segments, done[0], self.model.vocab.language)


@dataclass(frozen=True)
class _LongFormOptions:
    """:meth:`Recognizer.iter_segments`'s settings, passed down as one."""

    vad: "VadConfig | None"
    batch_seconds: float
    model_batch_seconds: float
    overlap: bool
    progress: Callable[[float], None] | None


def _completed(value: Any) -> Future:
    """A future already holding ``value`` (the search ran on this thread)."""
    future: Future = Future()
    future.set_result(value)
    return future


def load_recognizer(checkpoint: str = DEFAULT_MODEL, *, device: str = "cpu", backend: str = "auto",
                    precision: str = "fp32", decoder_config: Any = None, **decoder_options: Any) -> Recognizer:
    """Load ``checkpoint`` (path or shipped name) on ``device`` with ``backend`` (``torch``, ``onnx``
    or ``auto``: onnx for a ``.onnx`` file; see :func:`~ds2ray.inference.model.load_acoustic_model`, also
    for ``precision``: fp32, or bf16 / auto for ~1.5x faster torch inference on a CPU with native bf16).
    ``decoder_config`` (a
    :class:`~ds2ray.decode.base.DecoderConfig`) wins; otherwise ``decoder_options`` (``decoder``,
    ``lm``, ``tuned``, ``alpha``, ``beta``, ...) go to :func:`~ds2ray.decode.options.decoder_config_for`."""
    from ds2ray.decode.base import build_decoder
    from ds2ray.decode.options import decoder_config_for
    from ds2ray.inference.model import load_acoustic_model

    config = decoder_config or decoder_config_for(checkpoint, **decoder_options)
    model = load_acoustic_model(checkpoint, device, backend=backend, precision=precision)
    return Recognizer(model, build_decoder(config, model.vocab), checkpoint)
