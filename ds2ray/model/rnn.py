"""Bidirectional RNN layers that honour sequence lengths without packing.

``pack_padded_sequence`` is slow on CPU (its backward spends ~45% in ``fill_``). Instead each
direction is a one-direction cuDNN/oneDNN RNN over the padded batch: the forward one reads frames
left to right (outputs on valid frames never see the padding after them), the backward one reads
each sequence reversed *within its own length*, so its valid frames never see padding either.
The result equals the packed one (~6e-8) and runs ~2.6x faster on CPU.

A GRU on CPU goes one step further, in training and in inference: both directions run as one
recurrence with a hand-written backward (:mod:`ds2ray.model.fused_gru`), on the same ``nn.GRU``
parameters; ONNX export traces ``nn.GRU`` instead.

Legend: B batch, T frames, C input features, H hidden size.
"""

from __future__ import annotations

import os
from typing import Callable

import torch
from torch import nn

from ds2ray.model import fused_gru
from ds2ray.model.fused_gru import gru_layer
from ds2ray.model.layers import SequenceBatchNorm, reverse_padded

#: Run GRUs on CPU with :mod:`ds2ray.model.fused_gru` (same parameters and results as ATen's);
#: ``DS2RAY_FUSED_GRU=0`` keeps ATen's (e.g. to compare the two in a server: ``bench/serve.py --ray-env``).
FUSED_CPU_GRU = os.environ.get("DS2RAY_FUSED_GRU", "1").strip().lower() not in ("0", "false", "no")

#: ``nn.GRU`` parameters in the order :func:`ds2ray.model.fused_gru.gru_layer` takes them, stacked on direction.
GRU_PARAMS = ("weight_ih_l0", "bias_ih_l0", "weight_hh_l0", "bias_hh_l0")

#: rnn_type -> constructor of a one-direction, batch-first, one-layer RNN.
RNN_CELLS: dict[str, Callable[[int, int], nn.RNNBase]] = {
    "gru": lambda i, h: nn.GRU(i, h, batch_first=True),
    "lstm": lambda i, h: nn.LSTM(i, h, batch_first=True),
    "rnn": lambda i, h: nn.RNN(i, h, nonlinearity="relu", batch_first=True),
}


class BidirectionalRNN(nn.Module):
    """One DS2 recurrent layer: [sequence-wise BN] -> forward RNN (+ length-reversed backward RNN).

    With ``share_weights`` the two directions use the same input-to-hidden matrix and bias
    (the seed's ``share_rnn_weights``); recurrent weights stay separate.
    """

    def __init__(self, input_size: int, hidden_size: int, rnn_type: str = "gru", bidirectional: bool = True,
                 share_weights: bool = False, batch_norm: bool = True) -> None:
        super().__init__()
        make = RNN_CELLS[rnn_type]
        self.bn = SequenceBatchNorm(input_size) if batch_norm else None
        self.forward_rnn = make(input_size, hidden_size)
        self.backward_rnn = make(input_size, hidden_size) if bidirectional else None
        if share_weights and self.backward_rnn is not None:
            # RNNBase.__setattr__ refreshes its flat weight list, so the tie holds in cuDNN too.
            self.backward_rnn.weight_ih_l0 = self.forward_rnn.weight_ih_l0
            self.backward_rnn.bias_ih_l0 = self.forward_rnn.bias_ih_l0
        self.output_size = hidden_size * (2 if bidirectional else 1)
        self.matmul_dtype: torch.dtype | None = None  # the fused GRU's input projection (ds2ray.model.precision)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x: (B, T, C), lengths: (B,), mask: (B, T) bool -> (B, T, H * directions)."""
        if self.bn is not None:
            x = self.bn(x, mask)
        if self._use_fused(x):
            return self._fused_gru(x, lengths)
        out, _ = self.forward_rnn(x)  # (B, T, H)
        if self.backward_rnn is None:
            return out
        back, _ = self.backward_rnn(reverse_padded(x, lengths))
        return torch.cat([out, reverse_padded(back, lengths)], dim=-1)  # (B, T, 2H)

    def forward_stateful(self, x: torch.Tensor, state=None):
        """A unidirectional layer over the next frames, carrying its recurrent state.

        x: (B, T, C) -> ((B, T, H), state): ``state`` is what the RNN returns (``h`` (1, B, H), or
        ``(h, c)`` for an LSTM); ``None`` starts from zeros. Calling it chunk after chunk gives the
        frames :meth:`forward` gives on the whole sequence (eval mode: batch norm uses its running
        statistics, so each frame is normalised alone). A bidirectional layer needs the future and
        raises.
        """
        if self.backward_rnn is not None:
            raise ValueError("forward_stateful needs a unidirectional RNN layer (ModelConfig.bidirectional=False): "
                             "a bidirectional layer reads each sequence backwards from its end")
        if x.shape[1] == 0:  # nothing new: the state stays
            return x.new_zeros(x.shape[0], 0, self.output_size), state
        if self.bn is not None:
            if self.bn.training:
                raise ValueError("forward_stateful needs eval mode: in training, batch norm uses the statistics "
                                 "of the whole batch (call model.eval())")
            # eval-mode SequenceBatchNorm with every frame valid (its mask multiplies by 1)
            x = nn.BatchNorm1d.forward(self.bn, x.reshape(-1, x.shape[-1])).view_as(x)
        return self.forward_rnn(x, state)  # (B, T, H), state

    def _use_fused(self, x: torch.Tensor) -> bool:
        """CPU float32 GRUs, training and inference (the fused loop is also faster without autograd:
        the English model's forward on a 5 s clip 46 against 55 ms, one thread). Tracing for ONNX
        export keeps ``nn.GRU``, which the exporter maps to ONNX's GRU."""
        return (FUSED_CPU_GRU and isinstance(self.forward_rnn, nn.GRU) and x.device.type == "cpu"
                and x.dtype == torch.float32 and x.shape[1] > 0
                and not torch.jit.is_tracing() and not torch.onnx.is_in_onnx_export())

    def _fused_gru(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        rnns = [self.forward_rnn] if self.backward_rnn is None else [self.forward_rnn, self.backward_rnn]
        params = [getattr(rnn, name) for name in GRU_PARAMS for rnn in rnns]
        if fused_gru.inference(x, *params):
            return gru_layer(x, lengths, *self._inference_weights(params), matmul_dtype=self.matmul_dtype)
        return gru_layer(x, lengths, *_stacked(params, len(rnns)), matmul_dtype=self.matmul_dtype)

    def _inference_weights(self, params: list[torch.Tensor]) -> tuple:
        """The stacked weights and the packed recurrent matrix, kept between inference calls (stacking
        and packing cost ~1 ms per 5 s clip); rebuilt when a parameter is replaced or changed in place
        (an optimizer step, ``load_state_dict``, ``.to()``: each moves its ``data_ptr`` or ``_version``)."""
        key = tuple((p.data_ptr(), p._version) for p in params)
        cached = self.__dict__.get("_inference_cache")
        if cached is None or cached[0] != key:
            with torch.no_grad():
                stacked = _stacked(params, len(params) // len(GRU_PARAMS))
                cached = (key, (*stacked, fused_gru.pack_recurrent(stacked[2])))
            self.__dict__["_inference_cache"] = cached
        return cached[1]


def _stacked(params: list[torch.Tensor], directions: int) -> list[torch.Tensor]:
    """``params`` (each of :data:`GRU_PARAMS` for every direction, in that order) stacked on direction."""
    return [torch.stack(params[i * directions:(i + 1) * directions]) for i in range(len(GRU_PARAMS))]
