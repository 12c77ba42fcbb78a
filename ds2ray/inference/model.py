"""The acoustic-model runner: a checkpoint's model, features and normaliser, audio in, log-probs out.

Shapes: ``T`` feature frames, ``F`` features, ``T'`` output frames, ``V`` classes (blank = id 0).

:func:`load_acoustic_model` builds an :class:`AcousticModel` from a checkpoint path (or a shipped
model's name) alone: the checkpoint carries model config, feature config, vocabulary and
normaliser stats (:mod:`ds2ray.model.checkpoint`). Evaluation, tuning, the local recognizer and
the transcription service all call :meth:`AcousticModel.log_probs`, so acoustic outputs are
computed once and decoded many ways. Given a ``.onnx`` file from ``ds2ray export`` (or
``backend="onnx"``) it returns :class:`~ds2ray.inference.onnx_model.OnnxAcousticModel` instead, which
has the same interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from ds2ray.config import MODEL_BACKENDS
from ds2ray.data.features import FeatureConfig, FeatureExtractor
from ds2ray.data.normalizer import NormalizerStats
from ds2ray.data.vocab import Vocabulary
from ds2ray.inference.batches import by_length, cut_batches
from ds2ray.model.checkpoint import CheckpointError, load_checkpoint
from ds2ray.model.config import ModelConfig

if TYPE_CHECKING:
    from ds2ray.inference.onnx_model import OnnxAcousticModel


@dataclass
class AcousticModel:
    """Everything inference needs, built from a checkpoint alone (:func:`load_acoustic_model`).

    ``log_probs`` is the one entry point decoders, tuning and serving share: audio in, per-frame
    log-softmax out (blank = 0), so acoustic outputs can be computed once and decoded many ways.
    """

    model: torch.nn.Module
    model_config: ModelConfig
    feature_config: FeatureConfig
    normalizer: NormalizerStats | None
    vocab: Vocabulary
    device: torch.device
    extractor: FeatureExtractor | None = None

    def __post_init__(self) -> None:
        if self.extractor is None:
            self.extractor = FeatureExtractor(self.feature_config).to(self.device)

    @property
    def frame_seconds(self) -> float:
        """Seconds per output frame (:func:`~ds2ray.model.lengths.output_frame_seconds`)."""
        from ds2ray.model.lengths import output_frame_seconds

        return output_frame_seconds(self.model_config, self.feature_config)

    def featurize(self, audio: np.ndarray) -> torch.Tensor:
        """Mono float waveform at ``feature_config.sample_rate`` -> (T, F) normalised, on ``device``."""
        wave = torch.as_tensor(np.ascontiguousarray(audio, dtype=np.float32), device=self.device)
        with torch.no_grad():
            feats = self.extractor(wave)
        return self.normalizer.apply(feats) if self.normalizer is not None else feats

    def log_probs(self, audios: Sequence[np.ndarray], max_batch_seconds: float = 120.0) -> list[np.ndarray]:
        """Per-utterance (T'_i, V) float32 log-softmax arrays, in input order.

        Utterances are sorted by length and batched (:func:`~ds2ray.inference.batches.cut_batches`)
        so each batch holds at most ``max_batch_seconds`` of padded audio. Audio shorter than one
        window gives a (0, V) array.
        """
        feats = [self.featurize(a) for a in audios]
        lengths = [int(f.shape[0]) for f in feats]
        empty = np.zeros((0, self.vocab.size), np.float32)
        results: list[np.ndarray | None] = [empty if n == 0 else None for n in lengths]
        order = [i for i in by_length(lengths) if lengths[i] > 0]
        max_frames = max(1, int(max_batch_seconds * self.feature_config.frames_per_second()))
        for batch in cut_batches(lengths, order, max_frames):
            self._run(batch, feats, results)
        return results  # type: ignore[return-value]

    def _run(self, batch: list[int], feats: list[torch.Tensor], results: list) -> None:
        """One padded (B, T, F) forward pass; each utterance's (T'_i, V) log-probs into ``results``."""
        lengths = torch.tensor([feats[i].shape[0] for i in batch], device=self.device)
        padded = torch.nn.utils.rnn.pad_sequence([feats[i] for i in batch], batch_first=True)
        with torch.inference_mode():
            logits, out_lengths = self.model(padded, lengths)
            logp = torch.log_softmax(logits.float(), dim=-1).cpu().numpy()
        for j, i in enumerate(batch):
            results[i] = np.ascontiguousarray(logp[j, : int(out_lengths[j])], dtype=np.float32)


def resolve_backend(path: str, backend: str = "auto") -> str:
    """``"torch"`` or ``"onnx"`` for ``path``: ``"auto"`` picks onnx for a ``.onnx`` file, else torch."""
    if backend not in MODEL_BACKENDS:
        raise ValueError(f"backend {backend!r} is not one of {', '.join(MODEL_BACKENDS)}")
    if backend == "auto":
        return "onnx" if str(path).lower().endswith(".onnx") else "torch"
    return backend


def load_acoustic_model(path: str, device: str | torch.device = "cpu", backend: str = "auto",
                        threads: int | None = None, precision: str = "fp32") -> "AcousticModel | OnnxAcousticModel":
    """Build the model described by a checkpoint, in eval mode on ``device``.

    ``backend`` is ``"torch"`` (a checkpoint or shipped model name), ``"onnx"`` (a file written by
    ``ds2ray export``: an :class:`~ds2ray.inference.onnx_model.OnnxAcousticModel`, same interface)
    or ``"auto"`` (onnx when ``path`` ends in ``.onnx``, else torch). ``threads`` sets the onnx
    session's intra-op threads (None: one per core); torch uses its global ``torch.set_num_threads``.
    ``precision`` (torch only): ``fp32``, ``bf16`` or ``auto`` (bf16 on a CPU with native bf16), the
    operands of the model's big products (:mod:`ds2ray.model.precision`); an onnx model is what its
    export made it (``--int8`` or not), so bf16 is refused there and auto means fp32.
    """
    from ds2ray.model.deepspeech2 import DeepSpeech2
    from ds2ray.model.precision import resolve_precision

    if resolve_backend(path, backend) == "onnx":
        from ds2ray.inference.onnx_model import load_onnx_model

        if precision == "bf16":
            raise ValueError(f"{path}: precision bf16 applies to the torch backend; an onnx model computes as "
                             "exported (fp32, or int8 with `ds2ray export --int8`)")
        return load_onnx_model(str(path), device=str(device), threads=threads)
    data = load_checkpoint(str(path))
    device = torch.device(device)
    model = DeepSpeech2(data.model_config)
    try:
        model.load_state_dict(data.model_state)
    except RuntimeError as err:
        raise CheckpointError(f"{data.path}: weights do not match the stored model config ({err})") from err
    model.to(device).eval()
    model.set_matmul_dtype(resolve_precision(precision, device))
    return AcousticModel(model, data.model_config, data.feature_config, data.normalizer, data.vocab, device)
