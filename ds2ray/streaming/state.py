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
from typing import Sequence

import torch
from torch import nn

from ds2ray.config import ConfigError
from ds2ray.data.features import FeatureConfig
from ds2ray.model.config import ModelConfig
from ds2ray.model.deepspeech2 import DeepSpeech2
from ds2ray.model.layers import ConvBlock
from ds2ray.model.rnn import BidirectionalRNN


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


def conv_input(block: ConvBlock, state: ConvState, x: torch.Tensor | None, final: bool) -> torch.Tensor | None:
    """Feed the next input frames x (1, C, F, T) (or none) to one conv's state; returns the input
    frames (1, C, F, L) whose outputs are now complete (``block.forward_context`` of them), or None.
    ``final`` appends the right padding and flushes. The state keeps what the next output reads."""
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
    ready = buf[..., start: last * st + kt - state.base]
    new_base = (last + 1) * st
    state.buffer = buf[..., new_base - state.base:]
    state.base, state.next_out = new_base, last + 1
    return ready


def conv_step(block: ConvBlock, state: ConvState, x: torch.Tensor | None, final: bool) -> torch.Tensor | None:
    """Feed the next input frames x (1, C, F, T) (or none) to one conv; returns the output frames
    (1, C', F', T') they complete, or None. ``final`` appends the right padding and flushes."""
    ready = conv_input(block, state, x, final)
    return None if ready is None else block.forward_context(ready)


def conv_batch(block: ConvBlock, inputs: list[torch.Tensor | None]) -> list[torch.Tensor | None]:
    """:meth:`ConvBlock.forward_context` over several streams' ready inputs (1, C, F, L_i) in one call:
    zero-padded in time to the longest, stacked on the batch axis, each output cut back to the
    (L_i - kernel_t) // stride_t + 1 frames its own input makes (the padding only feeds frames past
    those). ``None`` stays ``None``."""
    (_, kt), (_, st) = block.conv.kernel_size, block.conv.stride
    live = [i for i, x in enumerate(inputs) if x is not None]
    if len(live) <= 1:
        return [None if x is None else block.forward_context(x) for x in inputs]
    longest = max(inputs[i].shape[-1] for i in live)
    batch = torch.cat([nn.functional.pad(inputs[i], (0, longest - inputs[i].shape[-1])) for i in live])
    y = block.forward_context(batch)  # (B, C', F', T'max)
    out: list[torch.Tensor | None] = [None] * len(inputs)
    for row, i in enumerate(live):
        out[i] = y[row: row + 1, ..., : (inputs[i].shape[-1] - kt) // st + 1]
    return out


def rnn_batch(rnn: BidirectionalRNN, inputs: list[torch.Tensor], states: list) -> tuple[list[torch.Tensor], list]:
    """:meth:`BidirectionalRNN.forward_stateful` over several streams at once: inputs (1, T_i, C)
    (T_i > 0) and their states -> outputs (1, T_i, H) and new states. Streams of unequal lengths run
    as a packed sequence, so each stream's state is the one after its own last frame."""
    if len(inputs) == 1:
        out, state = rnn.forward_stateful(inputs[0], states[0])
        return [out], [state]
    lengths = [x.shape[1] for x in inputs]
    x = nn.utils.rnn.pad_sequence([x[0] for x in inputs], batch_first=True)  # (B, Tmax, C)
    if rnn.bn is not None:
        x = nn.BatchNorm1d.forward(rnn.bn, x.reshape(-1, x.shape[-1])).view_as(x)  # eval: each frame alone
    h0 = _stack_states(states, rnn.forward_rnn, x)
    if len(set(lengths)) == 1:
        y, hn = rnn.forward_rnn(x, h0)  # (B, T, H)
    else:
        packed = nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
        y, hn = rnn.forward_rnn(packed, h0)
        y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True)  # (B, Tmax, H)
    outs = [y[i: i + 1, :n] for i, n in enumerate(lengths)]
    if isinstance(hn, tuple):  # LSTM: (h, c), each (1, B, H)
        return outs, [(hn[0][:, i: i + 1], hn[1][:, i: i + 1]) for i in range(len(inputs))]
    return outs, [hn[:, i: i + 1] for i in range(len(inputs))]


def _stack_states(states: list, cell: nn.RNNBase, x: torch.Tensor):
    """Per-stream states (``None``: zeros; ``h`` (1, 1, H) or ``(h, c)``) -> one batch state (1, B, H)."""
    zeros = x.new_zeros(1, 1, cell.hidden_size)
    if isinstance(cell, nn.LSTM):
        return (torch.cat([zeros if s is None else s[0] for s in states], dim=1),
                torch.cat([zeros if s is None else s[1] for s in states], dim=1))
    return torch.cat([zeros if s is None else s for s in states], dim=1)


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
        return encode([self], [x], final)[0]


def accept_batch(streams: Sequence[EncoderStream], feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """:meth:`EncoderStream.accept` of several streams of one model at once: feats[i] (T_i, F) ->
    log-probs (T'_i, V) of stream i, the frames ``streams[i].accept(feats[i])`` returns (to float
    rounding), with each layer run once over all the streams (a zero-padded batch), not once each."""
    if len(streams) != len(feats):
        raise ValueError(f"accept_batch: {len(streams)} streams but {len(feats)} feature arrays")
    if not streams:
        return []
    if len({id(s) for s in streams}) != len(streams):
        raise ValueError("accept_batch: a stream appears twice; give each stream all its new frames at once")
    for i, s in enumerate(streams):
        if s.finished:
            raise RuntimeError(f"accept_batch: stream {i} is finished; start a new stream")
        if s.model is not streams[0].model:
            raise ValueError(f"accept_batch: stream {i} runs another model; batch streams of one model")
    return encode(list(streams), [f.transpose(0, 1)[None, None] if f.shape[0] else None for f in feats], False)


def encode(streams: list[EncoderStream], xs: list[torch.Tensor | None], final: bool) -> list[torch.Tensor]:
    """Streams' next feature frames xs[i] (1, 1, F, T) (or none) -> their log-prob frames (T'_i, V),
    each conv and RNN layer run once for all streams (:func:`conv_batch`, :func:`rnn_batch`)."""
    model = streams[0].model
    out = [torch.zeros((0, model.config.num_classes)) for _ in streams]
    with torch.inference_mode():
        for k, block in enumerate(model.convs):
            xs = conv_batch(block, [conv_input(block, s._convs[k], x, final) for s, x in zip(streams, xs)])  # (1, C, F', T')
        live = [i for i, x in enumerate(xs) if x is not None]
        if not live:
            return out
        seqs = []
        for i in live:
            _, c, f, t = xs[i].shape
            seqs.append(xs[i].permute(0, 3, 1, 2).reshape(1, t, c * f))  # (1, T', C*F')
        for k, rnn in enumerate(model.rnns):
            seqs, states = rnn_batch(rnn, seqs, [streams[i]._rnn_states[k] for i in live])  # (1, T', H) each
            for i, state in zip(live, states):
                streams[i]._rnn_states[k] = state
        logits = model.fc(torch.cat(seqs, dim=1)).float()  # (1, sum T', V)
        for i, logp in zip(live, torch.log_softmax(logits, dim=-1)[0].split([x.shape[1] for x in seqs])):
            out[i] = logp
            streams[i].frames += len(logp)
    return out
