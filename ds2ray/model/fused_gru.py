"""A GRU layer for CPU training: both directions in one loop, backward written by hand.

Training a small GRU on CPU, ATen's RNN runs each direction as its own loop and its autograd
records every time step: per step a small weight-gradient GEMM and a gradient accumulation
(``add_``), for every layer and direction. Here the input projection of both directions is one
large GEMM left to autograd, and the recurrence is one :class:`torch.autograd.Function` that steps
the directions one after the other and computes the recurrent weight gradient once, as one GEMM
over all steps, after its backward loop. Same gate equations and parameters as ``torch.nn.GRU``;
equal to it to float rounding (tests/model/test_fused_gru.py).

The recurrence reads and writes the layer's own (B, T, .) layout: the backward direction reads each
item backwards within its length (as ATen over ``reverse_padded(x)`` and back would), and both
directions write side by side into one (B, T, 2H) output. Nothing is stacked, reversed, transposed
or concatenated around the loop, and both biases are added in the gate pass instead of being copied
into GEMM outputs (issue 20: in a profile of the demo model, taken with a training run beside it,
such copies were about a tenth of a step).

The time loop runs in C++ (:mod:`ds2ray.model.gru_ext`, one fused pass per step for the gate math)
when that builds, else in the Python loop below; both compute the same thing. Without autograd
(evaluation, serving, transcription) a separate C++ loop runs: it saves nothing for a backward,
skips padded steps, and for small batches replaces each step's GEMM call by a matrix-vector product
over W_hh packed in register-sized blocks (at batch 1 the GEMM call's overhead was most of a step).

Legend: D directions (1, or 2: forward then backward), B batch, T steps, C input features,
H hidden size, G = 3H gate pre-activations (r, z, n).
"""

from __future__ import annotations

import os

import torch

from ds2ray.model import gru_ext, precision
from ds2ray.model.layers import reverse_padded

#: Use the C++ time loop when it is built (tests flip this to compare the two).
USE_CPP = True
#: Without autograd, run the C++ inference loop (no saved state, padded steps skipped); tests flip it
#: to compare with the training forward, ``DS2RAY_GRU_INFER_LOOP=0`` turns it off in a process (the
#: A/B switch for ``bench/serve.py --ray-env``).
USE_INFER_LOOP = os.environ.get("DS2RAY_GRU_INFER_LOOP", "1").strip().lower() not in ("0", "false", "no")
#: In that loop, batches of up to this many items take a matrix-vector product per item and step
#: (weights streamed from L2, no GEMM call), larger ones one GEMM per step (the crossover on a 2-core
#: EPYC with H = 256 was 8 to 12 items).
MATVEC_MAX_BATCH = 8


def _cpp(tensor: torch.Tensor):
    """The C++ loop for float32 CPU tensors when it is built, else None (the Python loop)."""
    if not USE_CPP or tensor.dtype != torch.float32 or tensor.device.type != "cpu":
        return None
    return gru_ext.load()


class GRURecurrence(torch.autograd.Function):
    """h_t = GRU(gi_t + b_ih, h_{t-1}) from h_0 = 0 for D directions; direction 1 reads backwards.

    ``gi``: (B, T, D G) input projections ``x @ W_ih^T`` of the directions side by side, without
    the bias; ``lengths``: (B,) valid steps; ``b_ih``, ``b_hh``: (D, G); ``w_hh``: (D, G, H).
    Returns every hidden state, (B, T, D H), directions side by side.
    """

    @staticmethod
    def forward(ctx, gi: torch.Tensor, lengths: torch.Tensor, b_ih: torch.Tensor, w_hh: torch.Tensor,
                b_hh: torch.Tensor) -> torch.Tensor:
        lengths = lengths.to(device=gi.device, dtype=torch.int64).contiguous()
        cpp = _cpp(gi)
        if cpp is not None:
            out, hs, rz, n, gh_n = cpp.gru_forward(gi.contiguous(), lengths, b_ih.contiguous(),
                                                   w_hh.contiguous(), b_hh.contiguous())
        else:
            out, hs, rz, n, gh_n = _forward_loop(gi, lengths, b_ih, w_hh, b_hh)
        ctx.save_for_backward(lengths, w_hh, hs, rz, n, gh_n)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        lengths, w_hh, hs, rz, n, gh_n = ctx.saved_tensors
        cpp = _cpp(grad_out)
        if cpp is not None:
            grad_gi, grad_gh = cpp.gru_backward(grad_out.contiguous(), lengths, w_hh.contiguous(), hs, rz, n, gh_n)
        else:
            grad_gi, grad_gh = _backward_loop(grad_out, lengths, w_hh, hs, rz, n, gh_n)
        d, t, b, g = grad_gh.shape
        flat_gh = grad_gh.view(d, t * b, g)
        # The recurrent weights' gradient: one GEMM over all steps, sum_t dgh_t^T h_{t-1}.
        grad_w = torch.bmm(flat_gh.transpose(1, 2), hs[:, :-1].reshape(d, t * b, g // 3))
        grad_b_ih = grad_gi.view(-1, d, g).sum(dim=0)
        return grad_gi, None, grad_b_ih, grad_w, flat_gh.sum(dim=1)


def _loop_order(x: torch.Tensor, lengths: torch.Tensor, d: int) -> torch.Tensor:
    """(B, T, D K) -> (D, T, B, K): each direction's frames in the order its loop visits them."""
    parts = x.unflatten(-1, (d, -1)).unbind(2)
    return torch.stack([(p if i == 0 else reverse_padded(p, lengths)).transpose(0, 1) for i, p in enumerate(parts)])


def _layer_order(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(D, T, B, K) in loop order -> (B, T, D K): the inverse of :func:`_loop_order`."""
    parts = [p.transpose(0, 1) for p in x.unbind(0)]
    return torch.cat([p if i == 0 else reverse_padded(p, lengths) for i, p in enumerate(parts)], dim=-1)


def _forward_loop(gi: torch.Tensor, lengths: torch.Tensor, b_ih: torch.Tensor, w_hh: torch.Tensor,
                  b_hh: torch.Tensor):
    """The Python time loop: what the C++ one computes (out, and the state it saves in loop order)."""
    d, g = b_ih.shape
    h_size = g // 3
    pre = _loop_order(gi, lengths, d) + b_ih[:, None, None, :]  # (D, T, B, G)
    t, b = pre.shape[1], pre.shape[2]
    hs = gi.new_zeros(d, t + 1, b, h_size)  # hs[:, 0] = h_0 = 0
    rz = gi.new_empty(d, t, b, 2 * h_size)  # reset and update gates, after the sigmoid
    n = gi.new_empty(d, t, b, h_size)  # candidate state, after the tanh
    gh_n = gi.new_empty(d, t, b, h_size)  # W_hn h + b_hn, before the reset gate multiplies it
    w_t = w_hh.transpose(1, 2)  # (D, H, G)
    bias = b_hh.unsqueeze(1)  # (D, 1, G)
    for step in range(t):
        h = hs[:, step]
        gh = torch.baddbmm(bias, h, w_t)  # (D, B, G)
        gi_step = pre[:, step]
        torch.sigmoid(gi_step[..., : 2 * h_size] + gh[..., : 2 * h_size], out=rz[:, step])
        gh_n[:, step] = gh[..., 2 * h_size:]
        torch.tanh(gi_step[..., 2 * h_size:] + rz[:, step, ..., :h_size] * gh_n[:, step], out=n[:, step])
        # h' = (1 - z) * n + z * h = n + z * (h - n)
        torch.addcmul(n[:, step], rz[:, step, ..., h_size:], h - n[:, step], out=hs[:, step + 1])
    return _layer_order(hs[:, 1:], lengths), hs, rz, n, gh_n


def _backward_loop(grad_out: torch.Tensor, lengths: torch.Tensor, w_hh: torch.Tensor, hs: torch.Tensor,
                   rz: torch.Tensor, n: torch.Tensor, gh_n: torch.Tensor):
    """The Python time loop's backward: (grad_gi (B, T, D G), grad_gh (D, T, B, G) in loop order)."""
    d, t, b, h_size = n.shape
    upstream = _loop_order(grad_out, lengths, d)  # (D, T, B, H)
    grad_pre = grad_out.new_empty(d, t, b, 3 * h_size)  # d loss / d (gate pre-activations), input side
    grad_gh = grad_out.new_empty(d, t, b, 3 * h_size)  # d loss / d (W_hh h + b_hh)
    dh = grad_out.new_zeros(d, b, h_size)  # gradient reaching h_t from step t + 1
    for step in range(t - 1, -1, -1):
        dh = dh + upstream[:, step]
        r, z = rz[:, step, ..., :h_size], rz[:, step, ..., h_size:]
        n_t = n[:, step]
        # h' = n + z * (h - n);  n = tanh(gi_n + r * gh_n);  r, z = sigmoid(gi_rz + gh_rz)
        dn_pre = dh * (1 - z) * (1 - n_t * n_t)
        pre, rec = grad_pre[:, step], grad_gh[:, step]
        pre[..., 2 * h_size:] = dn_pre
        torch.mul(dn_pre, r, out=rec[..., 2 * h_size:])
        torch.mul(dn_pre * gh_n[:, step], r * (1 - r), out=pre[..., :h_size])
        torch.mul(dh * (hs[:, step] - n_t), z * (1 - z), out=pre[..., h_size: 2 * h_size])
        rec[..., : 2 * h_size] = pre[..., : 2 * h_size]
        dh = torch.baddbmm(dh * z, rec, w_hh)  # (D, B, G) @ (D, G, H)
    return _layer_order(grad_pre, lengths), grad_gh


def inference(*tensors: torch.Tensor) -> bool:
    """True when no gradient will flow through ``tensors`` (no_grad / inference mode, or nothing
    requires grad) and the C++ inference loop is on."""
    return USE_INFER_LOOP and not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))


def pack_recurrent(w_hh: torch.Tensor) -> torch.Tensor | None:
    """``w_hh`` (D, G, H) in the blocked layout of the C++ inference loop, or None where that loop
    is not built (callers cache it across calls: :class:`ds2ray.model.rnn.BidirectionalRNN`)."""
    cpp = _cpp(w_hh)
    return None if cpp is None else cpp.gru_pack(w_hh.detach())


def gru_layer(x: torch.Tensor, lengths: torch.Tensor, w_ih: torch.Tensor, b_ih: torch.Tensor,
              w_hh: torch.Tensor, b_hh: torch.Tensor, packed_w_hh: torch.Tensor | None = None,
              matmul_dtype: torch.dtype | None = None) -> torch.Tensor:
    """One GRU layer of D directions over ``x`` (B, T, C) with ``lengths`` (B,); direction 1 (if any)
    reads each item backwards within its length. Weights in ``nn.GRU`` layout stacked on D: w_ih
    (D, G, C), b_ih (D, G), w_hh (D, G, H), b_hh (D, G). Returns (B, T, D H), directions side by side.

    Without autograd the C++ inference loop runs (no state saved for a backward; outputs on padded
    frames are 0, which no valid frame reads); ``packed_w_hh`` is :func:`pack_recurrent` of ``w_hh``,
    packed here when not given. ``matmul_dtype`` (:mod:`ds2ray.model.precision`; None: float32) is the
    dtype of the input projection's operands; the recurrence is float32 either way."""
    b, t, c = x.shape
    d, g, _ = w_ih.shape
    w_in = precision.weight(w_ih, matmul_dtype).reshape(d * g, c).t()  # the cast kept across calls in inference
    gi = precision.mm(x.reshape(b * t, c), w_in, matmul_dtype)  # (B T, D G); + b_ih in the loop
    gi = gi.view(b, t, d * g)
    if inference(x, w_ih, b_ih, w_hh, b_hh):
        cpp = _cpp(gi)
        if cpp is not None:
            w_hh = w_hh.detach().contiguous()
            packed = packed_w_hh if packed_w_hh is not None else cpp.gru_pack(w_hh)
            lengths = lengths.to(device=gi.device, dtype=torch.int64).contiguous()
            return cpp.gru_infer(gi.contiguous(), lengths, b_ih.contiguous(), w_hh, b_hh.contiguous(), packed,
                                 MATVEC_MAX_BATCH)
    return GRURecurrence.apply(gi, lengths, b_ih, w_hh, b_hh)
