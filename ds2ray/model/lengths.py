"""The ONE place that knows how the conv stack changes sequence lengths.

The model, the batching code (frames -> output frames, CTC feasibility) and the server all call
:func:`output_lengths`; word timestamps call :func:`output_frame_seconds`; nobody repeats the
stride arithmetic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, overload

import torch

if TYPE_CHECKING:
    from ds2ray.data.features import FeatureConfig
    from ds2ray.model.config import ModelConfig


def conv_out_size(size, kernel: int, stride: int, padding: int):
    """Output size of one convolution along one axis (int or integer tensor); never negative."""
    if isinstance(size, torch.Tensor):
        return torch.clamp(torch.div(size + 2 * padding - kernel, stride, rounding_mode="floor") + 1, min=0)
    return max(0, (int(size) + 2 * padding - kernel) // stride + 1)


@overload
def output_lengths(config: "ModelConfig", frame_lengths: int) -> int: ...
@overload
def output_lengths(config: "ModelConfig", frame_lengths: torch.Tensor) -> torch.Tensor: ...


def output_lengths(config, frame_lengths):
    """Output frames (T') of the network for input frames (T): an int or an integer tensor (B,)."""
    return layer_lengths(config, frame_lengths)[-1]


def layer_lengths(config: "ModelConfig", frame_lengths) -> list:
    """Frames after each conv layer, in order (the last one is :func:`output_lengths`)."""
    out = [frame_lengths]
    for (_, kt), (_, st), (_, pt) in zip(config.conv_kernels, config.conv_strides, config.paddings):
        out.append(conv_out_size(out[-1], kt, st, pt))
    return out[1:]


def output_features(config: "ModelConfig") -> int:
    """Frequency rows left after the conv stack (the RNN input is ``channels * rows``)."""
    out = config.num_features
    for (kf, _), (sf, _), (pf, _) in zip(config.conv_kernels, config.conv_strides, config.paddings):
        out = conv_out_size(out, kf, sf, pf)
    if out < 1:
        raise ValueError(f"ModelConfig: {config.num_features} features leave no rows after the conv stack; "
                         "use smaller kernels/strides or more features")
    return out


def output_frame_seconds(config: "ModelConfig", features: "FeatureConfig") -> float:
    """Seconds per output frame: the feature stride times the conv stack's stride in time (20 ms
    for 10 ms features and a time stride of 2). Output frame ``t`` starts at ``t *`` this; word
    timestamps (:mod:`ds2ray.decode.timestamps`) turn frames into seconds with it."""
    return config.time_stride * features.hop_length / features.sample_rate


def right_context_frames(config: "ModelConfig") -> int:
    """Input frames after the first frame of an output frame that it depends on (its lookahead).

    Output frame ``t`` starts at input frame ``t * time_stride``; a conv with time kernel ``k`` and
    padding ``p`` reads ``k - 1 - p`` frames to the right of its position, in units of its input,
    which is the product of the strides before it. A unidirectional network looks no further; a
    bidirectional one reads to the end of the utterance whatever this says.
    """
    frames, stride = 0, 1
    for (_, kt), (_, st), (_, pt) in zip(config.conv_kernels, config.conv_strides, config.paddings):
        frames += (kt - 1 - pt) * stride
        stride *= st
    return frames


def lookahead_seconds(config: "ModelConfig", features: "FeatureConfig") -> float:
    """Audio after the start of an output frame needed to compute it: :func:`right_context_frames`
    feature strides plus the last frame's window (170 ms for the ``online`` preset: 11-frame time
    kernels with time strides 2 then 1 read 5 + 5 x 2 = 15 frames of 10 ms, plus one 20 ms window)."""
    return (right_context_frames(config) * features.hop_length + features.win_length) / features.sample_rate


def min_input_frames(config: "ModelConfig", label_length: int) -> int:
    """Fewest input frames whose output can hold ``label_length`` labels (CTC needs T' >= U)."""
    frames = max(1, (label_length - 1) * config.time_stride)
    while output_lengths(config, frames) < max(1, label_length):
        frames += 1
    return frames
