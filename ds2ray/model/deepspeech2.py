"""The DeepSpeech2 network and its CTC loss.

Legend: B batch, T input frames, F features, T' output frames (:func:`output_lengths`),
C conv channels, H RNN hidden size, V classes (blank = 0 included).
"""

from __future__ import annotations

import torch
from torch import nn

from ds2ray.model import precision
from ds2ray.model.config import ModelConfig
from ds2ray.model.layers import ConvBlock, length_mask
from ds2ray.model.lengths import layer_lengths, output_features
from ds2ray.model.rnn import BidirectionalRNN


class DeepSpeech2(nn.Module):
    """Conv stack -> bidirectional RNN stack -> FC to V classes.

    ``forward(features (B, T, F), lengths (B,))`` returns ``(logits (B, T', V), out_lengths (B,))``.
    Valid output frames do not depend on padding (conv outputs are re-masked after every block,
    RNNs honour lengths); in training mode only the conv batch-norm statistics see padded zeros.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        convs = []
        in_ch = 1
        for ch, k, s, p in zip(config.conv_channels, config.conv_kernels, config.conv_strides, config.paddings):
            convs.append(ConvBlock(in_ch, ch, k, s, p, config.clip_value))
            in_ch = ch
        self.convs = nn.ModuleList(convs)
        rnn_in = in_ch * output_features(config)
        rnns = []
        for i in range(config.rnn_layers):
            layer = BidirectionalRNN(rnn_in, config.rnn_hidden, config.rnn_type, config.bidirectional,
                                     config.share_rnn_weights, batch_norm=config.rnn_batch_norm and i > 0)
            rnns.append(layer)
            rnn_in = layer.output_size
        self.rnns = nn.ModuleList(rnns)
        self.fc = nn.Linear(rnn_in, config.num_classes)
        self.matmul_dtype: torch.dtype | None = None  # see set_matmul_dtype

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if features.dim() != 3 or features.shape[-1] != self.config.num_features:
            raise ValueError(f"DeepSpeech2 expects features (B, T, {self.config.num_features}), "
                             f"got {tuple(features.shape)}")
        lengths = lengths.to(features.device)
        mask = length_mask(lengths, features.shape[1])
        x = (features * mask.unsqueeze(-1).to(features.dtype)).transpose(1, 2).unsqueeze(1)  # (B, 1, F, T)
        per_layer = layer_lengths(self.config, lengths)
        for block, cur in zip(self.convs, per_layer):
            x = block(x, cur)  # (B, C, F', T')
        b, c, f, t = x.shape
        x = x.permute(0, 3, 1, 2).reshape(b, t, c * f)  # (B, T', C*F')
        out_lengths = per_layer[-1]
        mask = length_mask(out_lengths, t)
        for rnn in self.rnns:
            x = rnn(x, out_lengths, mask)  # (B, T', H*dirs)
        return precision.linear(self.fc, x, self.matmul_dtype), out_lengths  # (B, T', V), (B,)

    def set_matmul_dtype(self, dtype: torch.dtype | None) -> "DeepSpeech2":
        """Operand dtype of the conv layers, the GRU input projections and the output layer
        (:func:`ds2ray.model.precision.resolve_precision`; None: float32). Weights stay float32."""
        for module in self.modules():
            if hasattr(module, "matmul_dtype"):
                module.matmul_dtype = dtype
        return self

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def ctc_loss(logits: torch.Tensor, out_lengths: torch.Tensor, targets: torch.Tensor,
             target_lengths: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """CTC (blank 0, ``zero_infinity``) in float32.

    logits: (B, T', V); targets: (B, U) padded or (sum U,) concatenated; lengths (B,).
    ``mean`` divides each utterance's loss by its label length, then averages (torch's default).
    """
    log_probs = torch.log_softmax(logits.float(), dim=-1).transpose(0, 1)  # (T', B, V)
    return nn.functional.ctc_loss(log_probs, targets, out_lengths, target_lengths, blank=0,
                                  reduction=reduction, zero_infinity=True)
