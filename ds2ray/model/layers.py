"""Building blocks: length masks, the masked conv block, sequence-wise batch norm.

Legend: B batch, C channels, F feature rows, T frames, H hidden.
"""

from __future__ import annotations

import torch
from torch import nn

from ds2ray.model import precision


def length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) lengths -> (B, T) bool, True on valid frames."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence within its length; padding stays where it is. x: (B, T, ...)."""
    t = x.shape[1]
    steps = torch.arange(t, device=x.device)[None, :]
    lengths = lengths.to(x.device)[:, None]
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)  # (B, T)
    index = index.view(index.shape + (1,) * (x.dim() - 2)).expand_as(x)
    return x.gather(1, index)


class ConvBlock(nn.Module):
    """Conv2d (no bias) -> BatchNorm2d -> clipped ReLU, then zero the padded frames.

    Zeroing the padding after every block (the seed's "reset padding part to 0") makes each valid
    output frame see exactly the zeros it would see if the utterance were alone in the batch.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int],
                 stride: tuple[int, int], padding: tuple[int, int], clip_value: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.Hardtanh(0.0, clip_value, inplace=True)
        self.matmul_dtype: torch.dtype | None = None  # the conv's operands (ds2ray.model.precision); None: float32

    def forward(self, x: torch.Tensor, out_lengths: torch.Tensor) -> torch.Tensor:
        """x: (B, C, F, T) -> (B, C', F', T'); ``out_lengths`` (B,) are the valid T' per item."""
        x = self.act(self.bn(precision.conv2d(self.conv, x, self.matmul_dtype)))
        mask = length_mask(out_lengths, x.shape[-1])
        return x * mask[:, None, None, :].to(x.dtype)

    def forward_context(self, x: torch.Tensor) -> torch.Tensor:
        """The block over time frames whose context the caller supplies: no time padding, no mask.

        x: (B, C, F, T) -> (B, C', F', (T - kernel_t) // stride_t + 1). The frequency axis is padded
        as in :meth:`forward`; the time axis is not, so a streaming caller keeps ``padding_t`` zero
        frames before the first input frame (and appends as many after the last at the end) and gets
        exactly the frames :meth:`forward` computes (:mod:`ds2ray.streaming.state`).
        """
        conv = self.conv
        y = precision.conv2d(conv, x, self.matmul_dtype, padding=(conv.padding[0], 0))
        return self.act(self.bn(y))


class SequenceBatchNorm(nn.BatchNorm1d):
    """Batch norm over all valid frames of a batch ("sequence-wise", DS2 section 3.2).

    Statistics come from valid frames only, so padding never moves them.
    """

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """x: (B, T, C), mask: (B, T) bool -> (B, T, C), zeros on padded frames."""
        if not self.training:
            y = super().forward(x.reshape(-1, x.shape[-1])).view_as(x)
            return y * mask.unsqueeze(-1).to(y.dtype)
        out = x.new_zeros(x.shape)
        out[mask] = super().forward(x[mask])
        return out
