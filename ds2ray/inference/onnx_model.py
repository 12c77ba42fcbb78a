"""The onnxruntime runner: a model written by ``ds2ray export``, audio in, log-probs out, no torch.

Shapes: ``N`` samples, ``T`` feature frames, ``W`` samples per window, ``F`` features, ``T'`` output
frames, ``V`` classes (blank = id 0).

The exported graph (:mod:`ds2ray.inference.export`) starts from framed audio: inputs ``frames``
(B, T, W) float32 (each frame ``W`` raw samples, a hop apart, not windowed) and ``frame_lengths``
(B,) int64; outputs ``log_probs`` (B, T', V), ``out_lengths`` (B,) and the normalised ``features``
(B, T, F). Windowing, the spectrum, mel/DCT, per-utterance mean normalisation, the normaliser and the
network are all inside the graph, so cutting audio into frames (a strided view, exact) is the only
thing left to do outside it. Everything else a runner needs (sample rate, window and hop, vocabulary,
configs) is one JSON string in the model's ``metadata_props`` under :data:`METADATA_KEY`.

:class:`OnnxAcousticModel` has the interface of :class:`ds2ray.inference.model.AcousticModel`
(``log_probs``, ``featurize``, ``frame_seconds``, ``vocab``, ``feature_config``, ``device``), so
decoders, ``test``, ``transcribe`` and ``serve`` use it unchanged. This module needs only numpy and
onnxruntime: it imports neither torch nor onnx (the configs behind ``feature_config`` and
``model_config`` are built on first use).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ds2ray.data.vocab import Vocabulary
from ds2ray.inference.batches import by_length, cut_batches

if TYPE_CHECKING:
    from ds2ray.data.features import FeatureConfig
    from ds2ray.data.normalizer import NormalizerStats
    from ds2ray.model.config import ModelConfig

#: ``metadata_props`` key holding the JSON description of an exported model.
METADATA_KEY = "ds2ray"
FORMAT = "ds2ray-onnx"
VERSION = 1
INPUT_NAMES = ("frames", "frame_lengths")
OUTPUT_NAMES = ("log_probs", "out_lengths", "features")

_INSTALL_HINT = "install it with `pip install onnxruntime` (or `pip install -e .` in the ds2ray repo)"


class OnnxModelError(ValueError):
    """An ONNX file is missing, unreadable or not written by ``ds2ray export``; the message names it."""


def frame_audio(audio: np.ndarray, win_length: int, hop_length: int) -> np.ndarray:
    """Mono waveform (N,) -> (T, W) float32 frames, ``T = 1 + (N - W) // hop`` (0 when N < W), as
    :meth:`ds2ray.data.features.FeatureConfig.num_frames` counts them."""
    wave = np.ascontiguousarray(audio, dtype=np.float32)
    if wave.ndim != 1:
        raise ValueError(f"expected a mono waveform (N,), got shape {wave.shape}")
    if wave.shape[0] < win_length:
        return np.zeros((0, win_length), np.float32)
    return np.lib.stride_tricks.sliding_window_view(wave, win_length)[::hop_length]


@dataclass
class OnnxAcousticModel:
    """An exported model in an onnxruntime session (:func:`load_onnx_model`).

    ``log_probs`` batches like :meth:`ds2ray.inference.model.AcousticModel.log_probs`: utterances
    sorted by length, cut into batches of at most ``max_batch_seconds`` padded audio.
    """

    path: str
    session: Any  # onnxruntime.InferenceSession
    metadata: dict[str, Any]
    vocab: Vocabulary
    device: str = "cpu"
    _configs: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def sample_rate(self) -> int:
        return int(self.metadata["sample_rate"])

    @property
    def win_length(self) -> int:
        return int(self.metadata["win_length"])

    @property
    def hop_length(self) -> int:
        return int(self.metadata["hop_length"])

    @property
    def frame_seconds(self) -> float:
        """Seconds per output frame (what :func:`~ds2ray.model.lengths.output_frame_seconds` gave at export)."""
        return float(self.metadata["frame_seconds"])

    @property
    def int8(self) -> bool:
        """Whether the weights were quantised to int8 (``ds2ray export --int8``)."""
        return bool(self.metadata.get("int8", False))

    @property
    def feature_config(self) -> "FeatureConfig":
        if "features" not in self._configs:
            from ds2ray.data.features import FeatureConfig

            self._configs["features"] = FeatureConfig.from_dict(self.metadata["feature_config"])
        return self._configs["features"]

    @property
    def model_config(self) -> "ModelConfig":
        if "model" not in self._configs:
            from ds2ray.model.config import ModelConfig

            self._configs["model"] = ModelConfig.from_dict(self.metadata["model_config"])
        return self._configs["model"]

    @property
    def normalizer(self) -> "NormalizerStats | None":
        """The normaliser baked into the graph, as stats (None when the checkpoint had none)."""
        if self.metadata.get("normalizer") is None:
            return None
        from ds2ray.data.normalizer import NormalizerStats

        return NormalizerStats.from_dict(self.metadata["normalizer"])

    def frames(self, audio: np.ndarray) -> np.ndarray:
        """Mono float waveform at ``sample_rate`` -> (T, W) frames, the graph's input."""
        return frame_audio(audio, self.win_length, self.hop_length)

    def featurize(self, audio: np.ndarray) -> np.ndarray:
        """Mono float waveform -> (T, F) normalised features, as the graph computes them."""
        frames = self.frames(audio)
        if frames.shape[0] == 0:
            return np.zeros((0, int(self.metadata["num_features"])), np.float32)
        _, _, feats = self._run(frames[None], np.array([frames.shape[0]], np.int64))
        return feats[0]

    def log_probs(self, audios: Sequence[np.ndarray], max_batch_seconds: float = 120.0) -> list[np.ndarray]:
        """Per-utterance (T'_i, V) float32 log-softmax arrays, in input order. Audio shorter than
        one window gives a (0, V) array."""
        frames = [self.frames(a) for a in audios]
        lengths = [int(f.shape[0]) for f in frames]
        empty = np.zeros((0, self.vocab.size), np.float32)
        results: list[np.ndarray | None] = [empty if n == 0 else None for n in lengths]
        order = [i for i in by_length(lengths) if lengths[i] > 0]
        max_frames = max(1, int(max_batch_seconds * self.sample_rate / self.hop_length))
        for batch in cut_batches(lengths, order, max_frames):
            longest = max(lengths[i] for i in batch)
            padded = np.zeros((len(batch), longest, self.win_length), np.float32)
            for j, i in enumerate(batch):
                padded[j, : lengths[i]] = frames[i]
            logp, out_lengths, _ = self._run(padded, np.array([lengths[i] for i in batch], np.int64))
            for j, i in enumerate(batch):
                results[i] = np.ascontiguousarray(logp[j, : int(out_lengths[j])], dtype=np.float32)
        return results  # type: ignore[return-value]

    def _run(self, frames: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One padded batch: frames (B, T, W), lengths (B,) -> log_probs, out_lengths, features."""
        logp, out_lengths, feats = self.session.run(list(OUTPUT_NAMES),
                                                    {INPUT_NAMES[0]: frames, INPUT_NAMES[1]: lengths})
        return logp, out_lengths, feats


def read_metadata(session: Any, path: str) -> dict[str, Any]:
    """The ds2ray JSON of a loaded session; raises :class:`OnnxModelError` naming ``path``."""
    custom = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in custom:
        raise OnnxModelError(f"{path}: an ONNX model without ds2ray metadata (key {METADATA_KEY!r}); "
                             "export the checkpoint with `ds2ray export --checkpoint CK --out model.onnx`")
    try:
        meta = json.loads(custom[METADATA_KEY])
    except json.JSONDecodeError as err:
        raise OnnxModelError(f"{path}: its ds2ray metadata is not valid JSON ({err}); re-export it") from err
    if meta.get("format") != FORMAT or int(meta.get("version", -1)) > VERSION:
        raise OnnxModelError(f"{path}: metadata format {meta.get('format')!r} version {meta.get('version')!r}; "
                             f"this ds2ray reads {FORMAT!r} up to version {VERSION}")
    names = tuple(i.name for i in session.get_inputs())
    if names != INPUT_NAMES:
        raise OnnxModelError(f"{path}: inputs {names}, expected {INPUT_NAMES}; re-export it with this ds2ray")
    return meta


def _providers(device: str) -> list[str]:
    import onnxruntime as ort

    kind = str(device).split(":")[0]
    if kind == "cpu":
        return ["CPUExecutionProvider"]
    if kind == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ValueError("device 'cuda' needs onnxruntime-gpu (this onnxruntime has "
                             f"{ort.get_available_providers()}); use device='cpu'")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise ValueError(f"device {device!r}: the onnx backend runs on 'cpu' or 'cuda'")


def session_options(threads: int | None = None) -> Any:
    """onnxruntime session options for an exported model: every graph optimisation, errors-only logging,
    ``threads`` intra-op threads (None: onnxruntime's default, one per core) and no inter-op pool.

    ``session.disable_quant_qdq``: an ``--int8`` file stores its GRU weights as int8 behind a
    ``DequantizeLinear`` (:func:`ds2ray.inference.export.int8_gru_weights`). onnxruntime keeps such
    nodes unfolded for its QDQ fusions (there are none to make here: the GRU has no int8 kernel), so
    the weights were dequantised on every call and the GRU could not pre-pack them (~10 % slower than
    float32). With QDQ handling off, constant folding turns them back into float32 initialisers once,
    at load: the int8 file runs at float32 speed. Files without QDQ nodes are unaffected.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: no warnings about unused initialisers
    options.add_session_config_entry("session.disable_quant_qdq", "1")
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    return options


def load_onnx_model(path: str, device: str = "cpu", threads: int | None = None) -> OnnxAcousticModel:
    """An :class:`OnnxAcousticModel` for a file written by ``ds2ray export``.

    ``threads``: the session's intra-op threads (None: ``$OMP_NUM_THREADS`` when set, as Ray sets it to
    a task's or actor's ``num_cpus``, else onnxruntime's default of one per core).
    Raises :class:`OnnxModelError` naming the file when it is not a readable ds2ray ONNX model.
    """
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise ImportError(f"the onnx backend needs onnxruntime: {_INSTALL_HINT}") from err
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such ONNX model; write one with `ds2ray export --checkpoint CK --out {path}`")
    if threads is None and os.environ.get("OMP_NUM_THREADS", "").isdigit():
        threads = int(os.environ["OMP_NUM_THREADS"])
    providers = _providers(str(device))
    try:
        session = ort.InferenceSession(path, session_options(threads), providers=providers)
    except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph/... types
        raise OnnxModelError(f"{path}: not a readable ONNX model ({type(err).__name__}: {err}); "
                             "re-export it with `ds2ray export`") from err
    meta = read_metadata(session, path)
    return OnnxAcousticModel(path, session, meta, Vocabulary.from_dict(meta["vocab"]), str(device))
