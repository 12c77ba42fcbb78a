"""A GRU recurrence for CPU training: all directions in one loop, backward written by hand.

Training a small GRU on CPU, ATen's RNN runs each direction as its own loop and its autograd
records every time step: per step a small weight-gradient GEMM and a gradient accumulation
(``add_``), for every layer and direction. Here the input projection is one large GEMM left to
autograd, and the recurrence is one :class:`torch.autograd.Function` that steps all directions
together (``baddbmm`` over a direction axis) and computes the recurrent weight gradient once, as
one GEMM over all steps, after its backward loop. Same gate equations and parameters as
``torch.nn.GRU``; equal to it to float rounding (tests/model/test_fused_gru.py).

Everything is batch-major, (D, B, T, .), the layout of the layer's input and output: no tensor is
transposed on the way in or out, and the input bias is added in the gate pass rather than copied
into the projection's output first (issue 20: ~45 ms of a 440 ms demo step were such copies).

The time loop itself runs in C++ (:mod:`ds2ray.model.gru_ext`, one fused pass per step for the
gate math) when that builds, else in the Python loop below; both compute the same thing.

Legend: D directions, B batch, T steps, H hidden size, G = 3H gate pre-activations (r, z, n).
"""

from __future__ import annotations

import torch

from ds2ray.model import gru_ext

#: Use the C++ time loop when it is built (tests flip this to compare the two).
USE_CPP = True


def _cpp(tensor: torch.Tensor):
    """The C++ loop for float32 CPU tensors when it is built, else None (the Python loop)."""
    if not USE_CPP or tensor.dtype != torch.float32 or tensor.device.type != "cpu":
        return None
    return gru_ext.load()


class GRURecurrence(torch.autograd.Function):
    """h_t = GRU(gi_t + b_ih, h_{t-1}) from h_0 = 0, for D independent directions at once.

    ``gi``: (D, B, T, G) input projections ``x @ W_ih^T`` (no bias); ``b_ih``, ``b_hh``: (D, G);
    ``w_hh``: (D, G, H). Returns every hidden state, (D, B, T, H) (a view of the saved states).
    """

    @staticmethod
    def forward(ctx, gi: torch.Tensor, b_ih: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
        cpp = _cpp(gi)
        if cpp is not None:
            hs, rz, n, gh_n = cpp.gru_forward(gi.contiguous(), b_ih.contiguous(), w_hh.contiguous(),
                                              b_hh.contiguous())
        else:
            hs, rz, n, gh_n = _forward_loop(gi, b_ih, w_hh, b_hh)
        ctx.save_for_backward(w_hh, hs, rz, n, gh_n)
        return hs[:, :, 1:]

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        w_hh, hs, rz, n, gh_n = ctx.saved_tensors
        cpp = _cpp(grad_out)
        if cpp is not None:
            grad_pre, grad_gh = cpp.gru_backward(grad_out.contiguous(), w_hh.contiguous(), hs, rz, n, gh_n)
        else:
            grad_pre, grad_gh = _backward_loop(grad_out, w_hh, hs, rz, n, gh_n)
        d, b, t, g = grad_gh.shape
        flat_gh = grad_gh.view(d, b * t, g)
        # The recurrent weights' gradient: one GEMM over all steps, sum_t dgh_t^T h_{t-1}.
        grad_w = torch.bmm(flat_gh.transpose(1, 2), hs[:, :, :-1].reshape(d, b * t, g // 3))
        return grad_pre, grad_pre.sum(dim=(1, 2)), grad_w, flat_gh.sum(dim=1)


def _forward_loop(gi: torch.Tensor, b_ih: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor):
    """The Python time loop: what the C++ one computes (hs, rz, n, gh_n as it documents)."""
    d, b, t, g = gi.shape
    h_size = g // 3
    hs = gi.new_zeros(d, b, t + 1, h_size)  # hs[:, :, 0] = h_0 = 0
    rz = gi.new_empty(d, b, t, 2 * h_size)  # reset and update gates, after the sigmoid
    n = gi.new_empty(d, b, t, h_size)  # candidate state, after the tanh
    gh_n = gi.new_empty(d, b, t, h_size)  # W_hn h + b_hn, before the reset gate multiplies it
    w_t = w_hh.transpose(1, 2)  # (D, H, G)
    bias = b_hh.unsqueeze(1)  # (D, 1, G)
    pre = gi + b_ih[:, None, None, :]
    for step in range(t):
        h = hs[:, :, step]
        gh = torch.baddbmm(bias, h, w_t)  # (D, B, G)
        gi_step = pre[:, :, step]
        rz[:, :, step] = torch.sigmoid(gi_step[..., : 2 * h_size] + gh[..., : 2 * h_size])
        gh_n[:, :, step] = gh[..., 2 * h_size:]
        n[:, :, step] = torch.tanh(gi_step[..., 2 * h_size:] + rz[:, :, step, :h_size] * gh_n[:, :, step])
        # h' = (1 - z) * n + z * h = n + z * (h - n)
        hs[:, :, step + 1] = n[:, :, step] + rz[:, :, step, h_size:] * (h - n[:, :, step])
    return hs, rz, n, gh_n


def _backward_loop(grad_out: torch.Tensor, w_hh: torch.Tensor, hs: torch.Tensor, rz: torch.Tensor,
                   n: torch.Tensor, gh_n: torch.Tensor):
    """The Python time loop's backward: (grad_pre, grad_gh), each (D, B, T, G)."""
    d, b, t, h_size = grad_out.shape
    grad_pre = grad_out.new_empty(d, b, t, 3 * h_size)  # d loss / d (gate pre-activations), input side
    grad_gh = grad_out.new_empty(d, b, t, 3 * h_size)  # d loss / d (W_hh h + b_hh)
    dh = grad_out.new_zeros(d, b, h_size)  # gradient reaching h_t from step t + 1
    for step in range(t - 1, -1, -1):
        dh = dh + grad_out[:, :, step]
        r, z = rz[:, :, step, :h_size], rz[:, :, step, h_size:]
        n_t = n[:, :, step]
        # h' = n + z * (h - n);  n = tanh(gi_n + r * gh_n);  r, z = sigmoid(gi_rz + gh_rz)
        dn_pre = dh * (1 - z) * (1 - n_t * n_t)
        pre, rec = grad_pre[:, :, step], grad_gh[:, :, step]
        pre[..., 2 * h_size:] = dn_pre
        rec[..., 2 * h_size:] = dn_pre * r
        pre[..., :h_size] = dn_pre * gh_n[:, :, step] * (r * (1 - r))
        pre[..., h_size: 2 * h_size] = dh * (hs[:, :, step] - n_t) * (z * (1 - z))
        rec[..., : 2 * h_size] = pre[..., : 2 * h_size]
        dh = torch.baddbmm(dh * z, rec, w_hh)  # (D, B, G) @ (D, G, H)
    return grad_pre, grad_gh


def gru_directions(x: torch.Tensor, w_ih: torch.Tensor, b_ih: torch.Tensor, w_hh: torch.Tensor,
                   b_hh: torch.Tensor) -> torch.Tensor:
    """D one-layer GRUs over D inputs. x: (D, B, T, C); weights in ``nn.GRU`` layout stacked on
    D: w_ih (D, G, C), b_ih (D, G), w_hh (D, G, H), b_hh (D, G). Returns (D, B, T, H)."""
    d, b, t, c = x.shape
    gi = torch.bmm(x.reshape(d, b * t, c), w_ih.transpose(1, 2))  # (D, B T, G), b_ih added in the loop
    return GRURecurrence.apply(gi.view(d, b, t, -1), b_ih, w_hh, b_hh)
