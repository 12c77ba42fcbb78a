"""Audio in, text out, in this process: a checkpoint's acoustic model and one decoder.

The local counterpart of the transcription service (``ds2ray transcribe --local``, ``ds2ray mic
--local``, ``jobs/demo.py``)::

    from ds2ray.transcribe import load_recognizer
    rec = load_recognizer()                   # the shipped English model, beam search + its LM
    rec.transcribe_file("a.wav")              # -> "open the gate"
    rec.transcribe(audio, 44100)              # mono float array at any rate
    rec.transcribe_file_segment("a.wav")      # -> Segment: text and words with start/end seconds

``checkpoint`` is a checkpoint path or a shipped model's name; the decoder follows
:func:`ds2ray.decode.options.decoder_config_for` (a shipped model decodes with its LM and tuned
alpha/beta unless told otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ds2ray.pretrained import DEFAULT_MODEL

if TYPE_CHECKING:
    from ds2ray.decode.timestamps import Segment


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


def load_recognizer(checkpoint: str = DEFAULT_MODEL, *, device: str = "cpu", decoder_config: Any = None,
                    **decoder_options: Any) -> Recognizer:
    """Load ``checkpoint`` (path or shipped name) on ``device``. ``decoder_config`` (a
    :class:`~ds2ray.decode.base.DecoderConfig`) wins; otherwise ``decoder_options`` (``decoder``,
    ``lm``, ``tuned``, ``alpha``, ``beta``, ...) go to :func:`~ds2ray.decode.options.decoder_config_for`."""
    from ds2ray.decode.base import build_decoder
    from ds2ray.decode.options import decoder_config_for
    from ds2ray.inference.model import load_acoustic_model

    config = decoder_config or decoder_config_for(checkpoint, **decoder_options)
    model = load_acoustic_model(checkpoint, device)
    return Recognizer(model, build_decoder(config, model.vocab), checkpoint)
