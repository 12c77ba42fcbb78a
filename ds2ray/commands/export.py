"""``ds2ray export``: a checkpoint as one self-contained ONNX file (:mod:`ds2ray.inference.export`)."""

from __future__ import annotations

import argparse

from ds2ray.commands.test import CHECKPOINT_HELP


def register(sub) -> None:
    p = sub.add_parser(
        "export", help="write a checkpoint as an ONNX model for onnxruntime (optionally int8)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Export a checkpoint's acoustic model, with its features, normaliser and vocabulary, as one ONNX\n"
            "file: framed audio (batch, frames, window samples) in, per-frame log-probs out, dynamic batch and\n"
            "time. Everything a runner needs is in the file's metadata; `ds2ray test`, `transcribe` and `serve`\n"
            "run it with onnxruntime when given the .onnx as --checkpoint (or --backend onnx). An export of a\n"
            "shipped model (--checkpoint en) names it: the .onnx then decodes with that model's LM and tuned\n"
            "alpha/beta by default, as the name does (--decoder greedy, --lm, --tuned override).\n\n"
            "examples:\n"
            "  ds2ray export --checkpoint en --out en.onnx\n"
            "  ds2ray export --checkpoint exp/ckpt --out model.int8.onnx --int8"),
    )
    p.add_argument("--checkpoint", "--model-path", dest="checkpoint", required=True, help=CHECKPOINT_HELP)
    p.add_argument("--out", required=True, help="the .onnx file to write")
    p.add_argument("--int8", action="store_true",
                   help="int8 weights: MatMul by onnxruntime's dynamic quantisation, the GRU matrices stored "
                        "int8 (weight-only); about 3x smaller, WER within 0.01 of float32")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ds2ray.inference.export import export_onnx

    report = export_onnx(args.checkpoint, args.out, int8=args.int8)
    print(report.summary())
    return 0
