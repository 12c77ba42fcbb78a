"""``ds2ray export``: a checkpoint as one self-contained ONNX file, optionally with int8 weights.

Shapes: ``B`` batch, ``T`` feature frames, ``W`` samples per window, ``K`` spectrum bins, ``F``
features, ``T'`` output frames, ``V`` classes (blank = id 0).

The graph is :class:`FramesToLogProbs`: raw frames (B, T, W) and their counts (B,) in; log-probs
(B, T', V), output lengths (B,) and the normalised features (B, T, F) out. Framing is left to the
runner (a strided view, exact; :func:`ds2ray.inference.onnx_model.frame_audio`) because the
exporter cannot express ``Tensor.unfold`` over a dynamic length; the rest of
:class:`~ds2ray.data.features.FeatureExtractor` is in the graph, with the real FFT written as two
matrix products (window folded in; the legacy exporter has no ``rfft``), equal to torch's FFT to
~1e-5 on log features. The model, its feature config, vocabulary and normaliser are carried as
JSON in ``metadata_props`` (:data:`~ds2ray.inference.onnx_model.METADATA_KEY`): the ``.onnx`` file
is all a runner needs, and onnxruntime plus numpy are all it takes
(:mod:`ds2ray.inference.onnx_model`). An export of a shipped model (``--checkpoint en``) also names
that model (:mod:`ds2ray.inference.onnx_metadata`), so the ``.onnx`` decodes like it by default: beam
search with the shipped LM and tuned alpha/beta (``--decoder greedy``, ``--lm``, ``--tuned`` override).

Exporter choice (torch 2.13): ``torch.onnx.export(dynamo=True)``, the default, fails to decompose
``aten.gru`` with dynamic shapes; the TorchScript exporter (``dynamo=False``, still shipped) maps
each direction's ``nn.GRU`` to ONNX's ``GRU`` op (``linear_before_reset=1``, the same math) and is
used here. Tracing never takes the fused CPU GRU (:mod:`ds2ray.model.fused_gru`, a C++ extension
that no exporter can see into), so the traced path is ATen's ``nn.GRU`` with each sequence reversed
within its own length: valid frames do not depend on padding.

``int8``: two steps. ``onnxruntime.quantization.quantize_dynamic`` (a maintained quantiser: int8
weights with per-channel scales, activations quantised per call) on ``MatMul`` outside the feature
front end. Its registry covers ``Conv``, ``MatMul``, ``Attention`` and ``LSTM`` but not ``GRU``, and
``Conv`` as ``ConvInteger`` measured 2-3x slower than float on CPU and moved log-probs 8x more, so
it is left out (:data:`INT8_OP_TYPES`). The GRU weights, most of the model, are then stored as int8
with a per-row scale and a ``DequantizeLinear`` in front (:func:`int8_gru_weights`, weight-only: the
GRU computes in float32, the file is ~3x smaller). The front end (DFT, mel, DCT matrices) stays
float32: its inputs span many decades and would lose the quiet bands.
"""

from __future__ import annotations

import json
import logging
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ds2ray.data.features import FeatureConfig, FeatureExtractor, utterance_mean_normalize
from ds2ray.data.normalizer import NormalizerStats
from ds2ray.inference.onnx_metadata import SHIPPED_KEY
from ds2ray.inference.onnx_model import FORMAT, INPUT_NAMES, METADATA_KEY, OUTPUT_NAMES, VERSION
from ds2ray.model.checkpoint import CheckpointError, load_checkpoint
from ds2ray.model.lengths import output_frame_seconds
from ds2ray.pretrained import shipped_entry

log = logging.getLogger(__name__)

#: ONNX opset of exported graphs (GRU, LogSoftmax over the last axis; onnxruntime >= 1.14 runs it).
OPSET = 17
#: Op types ``--int8`` quantises (onnxruntime's dynamic quantisation registry).
INT8_OP_TYPES = ("MatMul",)
#: Name prefix of the feature front end's nodes (kept float32 by ``--int8``).
FEATURE_SCOPE = "/features/"

_INSTALL_HINT = "`pip install onnx onnxruntime` (or `pip install -e .` in the ds2ray repo)"


def length_deltas(x: torch.Tensor, lengths: torch.Tensor, width: int = 2) -> torch.Tensor:
    """:func:`ds2ray.data.features.deltas` per utterance in a padded batch: each utterance's edges are
    replicated at its own first and last valid frame, so valid frames never see padding.
    x: (B, T, F), lengths: (B,) -> (B, T, F)."""
    t = x.shape[1]
    steps = torch.arange(t, device=x.device)[None, :]  # (1, T)
    last = (lengths.to(x.device) - 1).clamp(min=0)[:, None]  # (B, 1)

    def shifted(offset: int) -> torch.Tensor:
        index = torch.minimum((steps + offset).clamp(min=0), last)  # (B, T)
        return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))

    num = sum(n * (shifted(n) - shifted(-n)) for n in range(1, width + 1))
    return num / (2 * sum(n * n for n in range(1, width + 1)))


class FeatureFrontEnd(nn.Module):
    """Raw frames -> features, as :class:`~ds2ray.data.features.FeatureExtractor` computes them from
    the same frames. frames: (B, T, W), lengths: (B,) -> (B, T, F) (padding frames: don't care)."""

    def __init__(self, config: FeatureConfig) -> None:
        super().__init__()
        self.config = cfg = config
        extractor = FeatureExtractor(cfg)
        bins = cfg.num_linear_bins if cfg.kind == "linear" else cfg.fft_size // 2 + 1
        n = np.arange(cfg.win_length, dtype=np.float64)[:, None]
        k = np.arange(bins, dtype=np.float64)[None, :]
        angle = 2.0 * math.pi * n * k / cfg.fft_size  # zero-padded rfft of a W-sample frame
        window = extractor.window.double().numpy()[:, None]
        self.register_buffer("dft_cos", torch.from_numpy(np.cos(angle) * window).float())  # (W, K)
        self.register_buffer("dft_sin", torch.from_numpy(np.sin(angle) * window).float())  # (W, K)
        self.register_buffer("scale", extractor.scale[:bins].clone())
        for name in ("mel", "dct"):
            if hasattr(extractor, name):
                self.register_buffer(name, getattr(extractor, name).clone())

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        power = (frames @ self.dft_cos).square() + (frames @ self.dft_sin).square()  # (B, T, K)
        if cfg.kind == "linear":
            feats = torch.log(power * self.scale + cfg.eps)
        else:
            feats = torch.log(torch.clamp(power @ self.mel, min=cfg.eps))  # (B, T, n_mels)
            if cfg.kind == "mfcc":
                feats = feats @ self.dct
                if cfg.deltas:
                    d1 = length_deltas(feats, lengths)
                    feats = torch.cat([feats, d1, length_deltas(d1, lengths)], dim=-1)
        if cfg.cmn:
            feats = utterance_mean_normalize(feats, lengths)
        return feats


class FramesToLogProbs(nn.Module):
    """The exported graph: features, normaliser, network, log-softmax.

    ``forward(frames (B, T, W), frame_lengths (B,))`` returns ``(log_probs (B, T', V),
    out_lengths (B,), features (B, T, F))``.
    """

    def __init__(self, model: nn.Module, feature_config: FeatureConfig, normalizer: NormalizerStats | None) -> None:
        super().__init__()
        self.features = FeatureFrontEnd(feature_config)
        self.model = model
        f = feature_config.num_features
        mean = normalizer.mean if normalizer is not None else np.zeros(f, np.float32)
        std = normalizer.std if normalizer is not None else np.ones(f, np.float32)
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    def forward(self, frames: torch.Tensor, frame_lengths: torch.Tensor):
        feats = (self.features(frames, frame_lengths) - self.mean) / self.std  # (B, T, F)
        logits, out_lengths = self.model(feats, frame_lengths)  # (B, T', V), (B,)
        return torch.log_softmax(logits, dim=-1), out_lengths, feats


@dataclass(frozen=True)
class ExportReport:
    """What :func:`export_onnx` wrote."""

    path: str
    bytes: int
    int8: bool
    num_parameters: int

    def summary(self) -> str:
        kind = "int8 weights" if self.int8 else "float32"
        return f"{self.path}: {self.bytes / 1e6:.1f} MB ({kind}, {self.num_parameters / 1e6:.2f}M parameters)"


def build_graph_module(checkpoint: str) -> tuple[FramesToLogProbs, dict]:
    """The module :func:`export_onnx` traces, in eval mode, and the metadata that goes with it."""
    from ds2ray.model.deepspeech2 import DeepSpeech2

    data = load_checkpoint(str(checkpoint))
    model = DeepSpeech2(data.model_config)
    try:
        model.load_state_dict(data.model_state)
    except RuntimeError as err:
        raise CheckpointError(f"{data.path}: weights do not match the stored model config ({err})") from err
    module = FramesToLogProbs(model, data.feature_config, data.normalizer).eval()
    fc = data.feature_config
    meta = {
        "format": FORMAT, "version": VERSION, "source": str(checkpoint),
        "sample_rate": fc.sample_rate, "win_length": fc.win_length, "hop_length": fc.hop_length,
        "num_features": fc.num_features,
        "frame_seconds": output_frame_seconds(data.model_config, fc),
        "feature_config": fc.to_dict(), "model_config": data.model_config.to_dict(),
        "vocab": data.vocab.to_dict(),
        "normalizer": data.normalizer.to_dict() if data.normalizer is not None else None,
        "metrics": data.metrics, "int8": False,
    }
    shipped = shipped_entry(str(checkpoint))
    if shipped is not None:  # loading the file finds the shipped LM and tuned alpha/beta (decoder_defaults)
        meta[SHIPPED_KEY] = shipped
    return module, meta


def _example_inputs(module: FramesToLogProbs) -> tuple[torch.Tensor, torch.Tensor]:
    """A padded batch of two (2 s and 1.2 s of noise) to trace with."""
    cfg = module.features.config
    lengths = torch.tensor([cfg.num_frames(2 * cfg.sample_rate), cfg.num_frames(int(1.2 * cfg.sample_rate))])
    gen = torch.Generator().manual_seed(0)
    frames = 0.1 * torch.randn(2, int(lengths[0]), cfg.win_length, generator=gen)
    frames[1, int(lengths[1]):] = 0
    return frames, lengths


def _trace(module: FramesToLogProbs, path: str) -> None:
    dynamic = {INPUT_NAMES[0]: {0: "batch", 1: "frames"}, INPUT_NAMES[1]: {0: "batch"},
               OUTPUT_NAMES[0]: {0: "batch", 1: "out_frames"}, OUTPUT_NAMES[1]: {0: "batch"},
               OUTPUT_NAMES[2]: {0: "batch", 1: "frames"}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings about Python-side shape checks, deprecation notes
        torch.onnx.export(module, _example_inputs(module), path, input_names=list(INPUT_NAMES),
                          output_names=list(OUTPUT_NAMES), dynamic_axes=dynamic, opset_version=OPSET,
                          dynamo=False, do_constant_folding=True)


def _set_metadata(model, meta: dict) -> None:
    """Replace the ds2ray entry of an ``onnx.ModelProto``'s ``metadata_props``."""
    keep = [p for p in model.metadata_props if p.key != METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    model.doc_string = f"ds2ray DeepSpeech2 acoustic model exported from {meta['source']}"


def _read_metadata(model, path: str) -> dict:
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            return json.loads(prop.value)
    raise ValueError(f"{path}: no ds2ray metadata; quantise a file written by `ds2ray export`")


def _write_checked(model, out_path: Path) -> None:
    """Check ``model`` and save it to ``out_path`` through a temporary name."""
    import onnx

    onnx.checker.check_model(model)
    tmp = out_path.with_name(f".{out_path.name}.tmp.onnx")
    try:
        onnx.save(model, str(tmp))
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)


def quantize_onnx(src: str, out: str) -> None:
    """int8 weights for an exported fp32 model ``src``, written to ``out``: dynamic quantisation of
    :data:`INT8_OP_TYPES` outside the feature front end (:data:`FEATURE_SCOPE`), then weight-only int8
    GRU matrices (:func:`int8_gru_weights`); the metadata is carried over with ``"int8": true``."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source = onnx.load(src)
    meta = _read_metadata(source, src)
    keep_float = [n.name for n in source.graph.node if n.name.startswith(FEATURE_SCOPE)]
    out_path = Path(out)
    tmp = out_path.with_name(f".{out_path.name}.int8.tmp.onnx")
    root = logging.getLogger()
    was_disabled, root.disabled = root.disabled, True  # quantize_dynamic logs a "run pre-processing" hint
    try:
        quantize_dynamic(src, str(tmp), op_types_to_quantize=list(INT8_OP_TYPES), nodes_to_exclude=keep_float,
                         weight_type=QuantType.QInt8, per_channel=True)
        model = onnx.load(str(tmp))
    finally:
        root.disabled = was_disabled
        tmp.unlink(missing_ok=True)
    int8_gru_weights(model)
    _set_metadata(model, {**meta, "int8": True})
    _write_checked(model, out_path)


def int8_gru_weights(model) -> int:
    """Store every ``GRU`` node's input and recurrent weights (``W``, ``R``: (1, 3H, X) initialisers) as
    int8 with one symmetric scale per row, restored to float by a ``DequantizeLinear`` in front of the
    node, in place. Weight-only: the GRU still computes in float32 (onnxruntime has no int8 GRU
    kernel), the file shrinks about 4x. Returns the number of tensors converted."""
    from onnx import helper, numpy_helper

    graph = model.graph
    initialisers = {t.name: t for t in graph.initializer}
    dequantize = []
    for node in graph.node:
        if node.op_type != "GRU":
            continue
        for name in node.input[1:3]:  # W, R
            tensor = initialisers.pop(name, None)
            if tensor is None:
                continue
            weight = numpy_helper.to_array(tensor).astype(np.float32)
            if weight.ndim != 3 or weight.shape[0] != 1:  # one direction per GRU node here; leave others
                continue
            scale = (np.maximum(np.abs(weight[0]).max(axis=1), 1e-12) / 127.0).astype(np.float32)  # (3H,)
            quantised = np.clip(np.round(weight / scale[None, :, None]), -127, 127).astype(np.int8)
            graph.initializer.remove(tensor)
            graph.initializer.extend([numpy_helper.from_array(quantised, f"{name}_int8"),
                                      numpy_helper.from_array(scale, f"{name}_scale"),
                                      numpy_helper.from_array(np.zeros_like(scale, np.int8), f"{name}_zero")])
            dequantize.append(helper.make_node("DequantizeLinear", [f"{name}_int8", f"{name}_scale", f"{name}_zero"],
                                               [name], axis=1, name=f"{name}_dequantize"))
    for node in reversed(dequantize):
        graph.node.insert(0, node)
    return len(dequantize)


def export_onnx(checkpoint: str, out: str, *, int8: bool = False) -> ExportReport:
    """Write ``checkpoint`` (a folder, its model.pt, or a shipped model's name) to ``out`` as ONNX.

    Dynamic batch and time axes. Files are written under temporary names and renamed, so a failed
    export leaves nothing that looks finished.
    """
    try:
        import onnx
    except ImportError as err:
        raise ImportError(f"ds2ray export needs onnx and onnxruntime: {_INSTALL_HINT}") from err
    if not str(out).endswith(".onnx"):
        raise ValueError(f"--out {out}: name the file *.onnx (the backend is chosen by that suffix)")
    module, meta = build_graph_module(checkpoint)
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    traced = out_path.with_name(f".{out_path.name}.fp32.tmp.onnx")
    try:
        _trace(module, str(traced))
        model = onnx.load(str(traced))
        _set_metadata(model, meta)
        if int8:
            onnx.save(model, str(traced))
            quantize_onnx(str(traced), str(out_path))
        else:
            _write_checked(model, out_path)
    finally:
        traced.unlink(missing_ok=True)
    report = ExportReport(str(out_path), out_path.stat().st_size, int8,
                          sum(p.numel() for p in module.model.parameters()))
    log.debug("exported %s", report.summary())
    return report
