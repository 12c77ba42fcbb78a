"""A unidirectional DeepSpeech2 run frame by frame: the conv context and the RNN state between chunks.

Legend: C channels, F feature rows, T frames, T' output frames, H hidden, V classes.

Offline (:class:`~ds2ray.model.deepspeech2.DeepSpeech2`), each conv pads ``p`` zero frames on both
sides of the utterance in time, and output frame ``j`` of a conv with time kernel ``k`` and stride
``s`` reads padded input frames ``[j s, j s + k)``. :class:`EncoderStream` keeps, per conv, the input
frames not yet consumed (starting with the ``p`` zeros of the left padding), computes an output
frame as soon as its last input frame has arrived (:meth:`ConvBlock.forward_context
<ds2ray.model.layers.ConvBlock.forward_context>`: no time padding), and keeps the frames the next
output still reads. At the end it appends the ``p`` zeros of the right padding and flushes, layer
by layer: the same frames, computed from the same numbers, as offline. The RNN layers carry their
hidden state (:meth:`BidirectionalRNN.forward_stateful
<ds2ray.model.rnn.BidirectionalRNN.forward_stateful>`), which needs a unidirectional model in eval
mode (batch norm then uses running statistics, one frame at a time).

So a frame leaves the encoder :func:`~ds2ray.model.lengths.lookahead_seconds` after it starts
(170 ms for the ``online`` preset), and :func:`ready_output_frames` says how many frames any number
of samples completes: the same count whatever the chunking.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ds2ray.config import ConfigError
from ds2ray.data.features import FeatureConfig
from ds2ray.model.config import ModelConfig
from ds2ray.model.deepspeech2 import DeepSpeech2
from ds2ray.model.layers import ConvBlock


def check_streamable(model: DeepSpeech2) -> None:
    """Raise :class:`ConfigError` unless ``model`` can run chunk by chunk exactly."""
    cfg = model.config
    if cfg.bidirectional:
        raise ConfigError("streaming needs a unidirectional model (ModelConfig.bidirectional=false, e.g. the "
                          "'online' preset): a bidirectional RNN reads every utterance backwards from its end")
    for i, ((_, kt), (_, st)) in enumerate(zip(cfg.conv_kernels, cfg.conv_strides)):
        if kt < st:
            raise ConfigError(f"ModelConfig.conv_kernels[{i}]: a time kernel ({kt}) shorter than its stride ({st}) "
                              "skips input frames; streaming supports kernel >= stride")
    if model.training:
        raise ConfigError("streaming needs the model in eval mode (model.eval()): batch norm in training mode "
                          "normalises with the statistics of the whole batch")


def ready_output_frames(model_config: ModelConfig, feature_config: FeatureConfig, num_samples: int) -> int:
    """Output frames the first ``num_samples`` samples complete, before the end-of-stream flush."""
    frames = feature_config.num_frames(num_samples)
    for (_, kt), (_, st), (_, pt) in zip(model_config.conv_kernels, model_config.conv_strides,
                                         model_config.paddings):
        frames = max(0, (pt + frames - kt) // st + 1)
    return frames


@dataclass
class ConvState:
    """One conv's unconsumed input: ``buffer`` (1, C, F, L) holds padded input frames from ``base``
    on (padded index: the left padding's first zero is 0); ``next_out`` is the next output frame."""

    buffer: torch.Tensor | None = None
    base: int = 0
    next_out: int = 0


def conv_step(block: ConvBlock, state: ConvState, x: torch.Tensor | None, final: bool) -> torch.Tensor | None:
    """Feed the next input frames x (1, C, F, T) (or none) to one conv; returns the output frames
    (1, C', F', T') they complete, or None. ``final`` appends the right padding and flushes."""
    (_, kt), (_, st), (_, pt) = block.conv.kernel_size, block.conv.stride, block.conv.padding
    if state.buffer is None:
        if x is None:
            return None  # nothing ever arrived: offline has no frames either
        state.buffer = x.new_zeros(x.shape[:3] + (pt,))  # the left padding
    parts = [state.buffer]
    if x is not None:
        parts.append(x)
    if final:
        parts.append(state.buffer.new_zeros(state.buffer.shape[:3] + (pt,)))  # the right padding
    buf = torch.cat(parts, dim=-1) if len(parts) > 1 else state.buffer
    last = (state.base + buf.shape[-1] - kt) // st  # the last output frame whose input is all here
    if last < state.next_out:
        state.buffer = buf
        return None
    start = state.next_out * st - state.base
    out = block.forward_context(buf[..., start: last * st + kt - state.base])
    new_base = (last + 1) * st
    state.buffer = buf[..., new_base - state.base:]
    state.base, state.next_out = new_base, last + 1
    return out


class EncoderStream:
    """Feature frames in, log-probs out, for one stream of a unidirectional :class:`DeepSpeech2`.

    ``accept(feats (T, F)) -> (T', V)`` log-softmax frames as soon as their context is complete;
    ``finish() -> (T', V)`` the rest, with offline's right padding. Concatenated, they equal the
    model's output on the whole utterance (to float rounding).
    """

    def __init__(self, model: DeepSpeech2) -> None:
        check_streamable(model)
        self.model = model
        self._convs = [ConvState() for _ in model.convs]
        self._rnn_states: list = [None] * len(model.rnns)
        self.frames = 0  # output frames returned so far
        self.finished = False

    def accept(self, feats: torch.Tensor) -> torch.Tensor:
        """The next normalised feature frames (T, F) -> the log-prob frames (T', V) they complete."""
        if self.finished:
            raise RuntimeError("EncoderStream.accept after finish(): start a new stream")
        x = feats.transpose(0, 1)[None, None] if feats.shape[0] else None  # (1, 1, F, T)
        return self._run(x, final=False)

    def finish(self) -> torch.Tensor:
        """The remaining frames (T', V), computed with the zero padding offline puts after the end."""
        if self.finished:
            raise RuntimeError("EncoderStream.finish called twice")
        self.finished = True
        return self._run(None, final=True)

    def _run(self, x: torch.Tensor | None, final: bool) -> torch.Tensor:
        with torch.inference_mode():
            for block, state in zip(self.model.convs, self._convs):
                x = conv_step(block, state, x, final)  # (1, C, F', T')
            if x is None:
                return torch.zeros((0, self.model.config.num_classes))
            _, c, f, t = x.shape
            x = x.permute(0, 3, 1, 2).reshape(1, t, c * f)  # (1, T', C*F')
            for i, rnn in enumerate(self.model.rnns):
                x, self._rnn_states[i] = rnn.forward_stateful(x, self._rnn_states[i])  # (1, T', H)
            logp = torch.log_softmax(self.model.fc(x).float(), dim=-1)[0]  # (T', V)
        self.frames += t
        return logp
