"""Arithmetic precision of the model's matrix products: ``fp32`` or ``bf16``.

With ``bf16`` the three kinds of large products (the conv layers, each GRU layer's input
projection, the output layer) take bfloat16 operands and accumulate in float32 (oneDNN's kernels);
everything else (batch norm, the GRU recurrence and its gates, CTC) stays float32, and so do the
weights, the gradients and the optimizer. On a CPU with native bfloat16 instructions (AVX512-BF16
or AMX) those products run ~2.5x faster: measured here (AMD EPYC, AVX512-BF16, one thread) a
250x640x1536 product 7.7 -> 3.0 ms, the English model's training step 1.39x, its forward on a 5 s
clip 55 -> 37 ms. Without them bf16 is emulated and slower, which is why ``auto`` checks.

``auto`` means bf16 on a CPU that has native bf16 and float32 elsewhere (CUDA training has its own
bf16 autocast). Names are :data:`PRECISIONS`.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from ds2ray.config import PRECISIONS


@functools.lru_cache(maxsize=None)
def cpu_has_native_bf16() -> bool:
    """True when oneDNN runs bfloat16 products natively on this CPU (AVX512-BF16, AMX)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN, or without that query
        return False


def resolve_precision(precision: str, device: str | torch.device = "cpu") -> torch.dtype | None:
    """The dtype of the matrix products (None: float32) for ``precision`` on ``device``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    return torch.bfloat16 if torch.device(device).type == "cpu" and cpu_has_native_bf16() else None


def lowp(x: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """``x`` as an operand of a product at ``dtype`` (unchanged for None)."""
    return x if dtype is None or x.dtype == dtype else x.to(dtype)


def weight(w: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """A weight as an operand at ``dtype``. Outside autograd (inference) the cast copy is kept on the
    weight and reused until the weight changes (its version counter moves on any in-place write,
    ``load_state_dict`` included), so serving does not re-cast ~4M weights on every forward."""
    if dtype is None or w.dtype == dtype:
        return w
    if torch.is_grad_enabled() and w.requires_grad:
        return w.to(dtype)  # training: the cast is part of the graph
    version = _version(w)
    cached = getattr(w, "_ds2ray_lowp", None)
    if cached is not None and cached[0] == version and cached[1].dtype == dtype:
        return cached[1]
    cast = w.detach().to(dtype)
    w._ds2ray_lowp = (version, cast)
    return cast


def _version(w: torch.Tensor) -> int:
    """``w``'s in-place write counter; -1 for an inference-mode tensor, which keeps none (the ones
    here are the GRU's stacked weights, rebuilt rather than written when the parameters change)."""
    try:
        return w._version
    except RuntimeError:
        return -1


def conv2d(conv: nn.Conv2d, x: torch.Tensor, dtype: torch.dtype | None, padding=None) -> torch.Tensor:
    """``conv(x)`` (with ``padding`` instead of its own when given), operands at ``dtype``, result float32."""
    padding = conv.padding if padding is None else padding
    if dtype is None:
        return nn.functional.conv2d(x, conv.weight, conv.bias, conv.stride, padding)
    bias = None if conv.bias is None else weight(conv.bias, dtype)
    return nn.functional.conv2d(lowp(x, dtype), weight(conv.weight, dtype), bias, conv.stride, padding).float()


def linear(layer: nn.Linear, x: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """``layer(x)``, operands at ``dtype``, result float32."""
    if dtype is None:
        return layer(x)
    bias = None if layer.bias is None else weight(layer.bias, dtype)
    return nn.functional.linear(lowp(x, dtype), weight(layer.weight, dtype), bias).float()


def mm(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """``a @ b`` for 2-D tensors, operands at ``dtype``, result float32."""
    if dtype is None:
        return torch.mm(a, b)
    return torch.mm(lowp(a, dtype), lowp(b, dtype)).float()
