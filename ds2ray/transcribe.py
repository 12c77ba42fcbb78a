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
(:mod:`ds2ray.inference.segmenter`), runs up to ``batch_seconds`` of segments through the model
at a time (:meth:`~ds2ray.inference.model.AcousticModel.log_probs` sorts and pads them) and
decodes them, each segment's words offset to their time in the file. Memory is bounded by one
batch of segments plus a few blocks, however long the recording.

``checkpoint`` is a checkpoint path or a shipped model's name; the decoder follows
:func:`ds2ray.decode.options.decoder_config_for` (a shipped model decodes with its LM and tuned
alpha/beta unless told otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from ds2ray.pretrained import DEFAULT_MODEL

if TYPE_CHECKING:
    from ds2ray.decode.timestamps import Segment
    from ds2ray.inference.audio_blocks import AudioSource
    from ds2ray.inference.segmenter import SpeechSegment, VadConfig
    from ds2ray.transcript_formats import Transcript

#: seconds of speech segments run through the model and decoder at once by the long-form path
LONG_BATCH_SECONDS = 120.0
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

    def decode_segments(self, pieces: Sequence["SpeechSegment"]) -> list["Segment"]:
        """VAD pieces at the model's rate -> one timed :class:`Segment` each, words in stream time."""
        if not pieces:
            return []
        seconds = sum(p.seconds for p in pieces)
        log_probs = self.model.log_probs([p.audio for p in pieces], max_batch_seconds=max(seconds, 1.0))
        frame_seconds = self.model.frame_seconds
        return [h.timed(frame_seconds, p.start) for h, p in zip(self.decoder.hypotheses(log_probs), pieces)]

    def iter_segments(self, source: "AudioSource | np.ndarray", sample_rate: int | None = None, *,
                      vad: "VadConfig | None" = None, batch_seconds: float = LONG_BATCH_SECONDS,
                      progress: Callable[[float], None] | None = None, name: str | None = None,
                      ) -> Iterator["Segment"]:
        """Transcribe a recording of any length, yielding its non-empty segments in time order.

        ``source``: a path or URL (any format soundfile reads, any rate), encoded bytes, or a mono
        float array at ``sample_rate`` (default: the model's). ``vad``: how to cut it
        (:class:`~ds2ray.inference.segmenter.VadConfig`). ``progress(seconds)`` is called with the
        seconds of audio read so far after each batch. A file that is corrupt or truncated part-way
        raises :class:`~ds2ray.data.audio.AudioError` (naming ``name`` or the path) when reached.
        """
        from ds2ray.inference.audio_blocks import AudioReader, array_blocks

        if isinstance(source, np.ndarray):
            yield from self._segments_of(array_blocks(source, sample_rate or self.sample_rate, self.sample_rate,
                                                      BLOCK_SECONDS), vad, batch_seconds, progress)
            return
        with AudioReader(source, self.sample_rate, name=name) as reader:
            yield from self._segments_of(reader.blocks(BLOCK_SECONDS), vad, batch_seconds, progress)

    def _segments_of(self, blocks: Iterable[np.ndarray], vad: "VadConfig | None", batch_seconds: float,
                     progress: Callable[[float], None] | None) -> Iterator["Segment"]:
        from ds2ray.inference.segmenter import speech_segments

        read = [0]  # samples read so far

        def counted() -> Iterator[np.ndarray]:
            for block in blocks:
                read[0] += len(block)
                yield block

        pending: list[SpeechSegment] = []
        for piece in speech_segments(counted(), self.sample_rate, vad):
            pending.append(piece)
            if sum(p.seconds for p in pending) >= batch_seconds:
                yield from (s for s in self.decode_segments(pending) if s.text)
                pending = []
                if progress is not None:
                    progress(read[0] / self.sample_rate)
        yield from (s for s in self.decode_segments(pending) if s.text)
        if progress is not None:
            progress(read[0] / self.sample_rate)

    def transcribe_long(self, source: "AudioSource | np.ndarray", sample_rate: int | None = None, *,
                        vad: "VadConfig | None" = None, batch_seconds: float = LONG_BATCH_SECONDS,
                        progress: Callable[[float], None] | None = None, name: str | None = None) -> "Transcript":
        """:meth:`iter_segments` collected: the whole :class:`~ds2ray.transcript_formats.Transcript`."""
        from ds2ray.transcript_formats import transcript_from_segments

        done = [0.0]

        def seen(seconds: float) -> None:
            done[0] = seconds
            if progress is not None:
                progress(seconds)

        segments = list(self.iter_segments(source, sample_rate, vad=vad, batch_seconds=batch_seconds,
                                           progress=seen, name=name))
        return transcript_from_segments(segments, done[0], self.model.vocab.language)


def load_recognizer(checkpoint: str = DEFAULT_MODEL, *, device: str = "cpu", backend: str = "auto",
                    decoder_config: Any = None, **decoder_options: Any) -> Recognizer:
    """Load ``checkpoint`` (path or shipped name) on ``device`` with ``backend`` (``torch``, ``onnx``
    or ``auto``: onnx for a ``.onnx`` file; see :func:`~ds2ray.inference.model.load_acoustic_model`).
    ``decoder_config`` (a
    :class:`~ds2ray.decode.base.DecoderConfig`) wins; otherwise ``decoder_options`` (``decoder``,
    ``lm``, ``tuned``, ``alpha``, ``beta``, ...) go to :func:`~ds2ray.decode.options.decoder_config_for`."""
    from ds2ray.decode.base import build_decoder
    from ds2ray.decode.options import decoder_config_for
    from ds2ray.inference.model import load_acoustic_model

    config = decoder_config or decoder_config_for(checkpoint, **decoder_options)
    model = load_acoustic_model(checkpoint, device, backend=backend)
    return Recognizer(model, build_decoder(config, model.vocab), checkpoint)
