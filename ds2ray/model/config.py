"""``ModelConfig``: every architectural choice of the DS2 network, and named presets.

Kernel sizes, strides and paddings are ``(freq, time)`` pairs. The network sees features as an
image ``(B, 1, F, T)``; only the time strides change the output length
(:func:`ds2ray.model.lengths.output_lengths`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ds2ray.config import ConfigBase, ConfigError
from ds2ray.data.features import FeatureConfig

RNN_TYPES = ("gru", "lstm", "rnn")


def _pairs(value: Any, name: str) -> tuple[tuple[int, int], ...]:
    try:
        pairs = tuple((int(a), int(b)) for a, b in value)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"ModelConfig.{name} must be a list of [freq, time] pairs, got {value!r}") from err
    return pairs


@dataclass(frozen=True)
class ModelConfig(ConfigBase):
    """The DS2 network.

    ``num_features`` (F) and ``num_classes`` (V, blank included) come from the feature config and
    the vocabulary; :meth:`for_data` fills them in. ``conv_paddings`` left empty means ``k // 2``
    on both axes (the seed's (20, 5) for 41x11 and (10, 5) for 21x11).
    """

    num_features: int = 161
    num_classes: int = 29
    conv_channels: tuple[int, ...] = (32, 32)
    conv_kernels: tuple[tuple[int, int], ...] = ((41, 11), (21, 11))
    conv_strides: tuple[tuple[int, int], ...] = ((2, 2), (2, 1))
    conv_paddings: tuple[tuple[int, int], ...] = ()
    clip_value: float = 20.0  # clipped ReLU: Hardtanh(0, clip_value)
    rnn_type: str = "gru"
    rnn_layers: int = 3
    rnn_hidden: int = 256
    bidirectional: bool = True
    share_rnn_weights: bool = False  # forward and backward directions share input-to-hidden weights
    rnn_batch_norm: bool = True  # sequence-wise batch norm on each RNN layer's input (not the first)

    def __post_init__(self) -> None:
        for name in ("conv_kernels", "conv_strides", "conv_paddings"):
            object.__setattr__(self, name, _pairs(getattr(self, name), name))
        object.__setattr__(self, "conv_channels", tuple(int(c) for c in self.conv_channels))
        n = len(self.conv_channels)
        if not 1 <= n <= 3:
            raise ConfigError(f"ModelConfig.conv_channels: 1 to 3 conv layers supported (DS2 uses 2 or 3), got {n}")
        if len(self.conv_kernels) != n or len(self.conv_strides) != n:
            raise ConfigError(f"ModelConfig: conv_channels, conv_kernels and conv_strides need one entry per "
                              f"conv layer ({n}); got {len(self.conv_kernels)} kernels, {len(self.conv_strides)} strides")
        if self.conv_paddings and len(self.conv_paddings) != n:
            raise ConfigError(f"ModelConfig.conv_paddings needs {n} entries or none (= kernel // 2)")
        if any(s < 1 for pair in self.conv_strides for s in pair) or any(k < 1 for p in self.conv_kernels for k in p):
            raise ConfigError("ModelConfig: conv kernels and strides must be >= 1")
        if self.rnn_type not in RNN_TYPES:
            raise ConfigError(f"ModelConfig.rnn_type must be one of {RNN_TYPES}, got {self.rnn_type!r}")
        if self.rnn_layers < 1 or self.rnn_hidden < 1:
            raise ConfigError("ModelConfig: rnn_layers and rnn_hidden must be >= 1")
        if self.share_rnn_weights and not self.bidirectional:
            raise ConfigError("ModelConfig.share_rnn_weights needs bidirectional=True")
        if self.num_classes < 2 or self.num_features < 1:
            raise ConfigError("ModelConfig: num_classes must be >= 2 (blank + 1) and num_features >= 1")

    @property
    def paddings(self) -> tuple[tuple[int, int], ...]:
        return self.conv_paddings or tuple((kf // 2, kt // 2) for kf, kt in self.conv_kernels)

    @property
    def time_stride(self) -> int:
        """Input frames per output frame."""
        out = 1
        for _, st in self.conv_strides:
            out *= st
        return out

    def for_data(self, feature_config: FeatureConfig, num_classes: int) -> "ModelConfig":
        """This architecture sized for ``feature_config`` features and ``num_classes`` labels."""
        return self.replace(num_features=feature_config.num_features, num_classes=num_classes)


@dataclass(frozen=True)
class Preset:
    """A named architecture with the features it was designed for."""

    model: ModelConfig
    features: FeatureConfig
    description: str


PRESETS: dict[str, Preset] = {
    # The seed's LibriSpeech recipe (PaddlePaddle DeepSpeech, model_utils/network.py + run_train.sh):
    # linear 161-bin spectrogram; conv 41x11 stride (freq 2, time 3), then 21x11 stride (2, 1),
    # 32 channels; 3 bidirectional simple-RNN layers of 2048 with shared input-to-hidden weights.
    # (The seed's simple RNN used a clipped ReLU; ours uses ReLU, the nearest cuDNN cell.)
    "seed": Preset(
        ModelConfig(num_features=161, conv_channels=(32, 32), conv_kernels=((41, 11), (21, 11)),
                    conv_strides=((2, 3), (2, 1)), rnn_type="rnn", rnn_layers=3, rnn_hidden=2048,
                    share_rnn_weights=True),
        FeatureConfig(kind="linear"),
        "the seed's exact DS2 (LibriSpeech recipe): linear 161, 2 convs 41x11/21x11, 3 x bi-RNN 2048 shared weights",
    ),
    # The seed's Aishell recipe: same convs, 3 bidirectional GRU layers of 1024, no sharing.
    "seed-gru": Preset(
        ModelConfig(num_features=161, conv_channels=(32, 32), conv_kernels=((41, 11), (21, 11)),
                    conv_strides=((2, 3), (2, 1)), rnn_type="gru", rnn_layers=3, rnn_hidden=1024),
        FeatureConfig(kind="linear"),
        "the seed's GRU recipe: linear 161, 2 convs 41x11/21x11, 3 x bi-GRU 1024",
    ),
    # What learns best on a 2-core CPU (STACK.md prototype): 80 log-mel bins on a 512-point FFT,
    # 11x11 convs with DS2 strides, 3 x bi-GRU 256 (3.9M parameters).
    "demo": Preset(
        ModelConfig(num_features=80, conv_channels=(32, 32), conv_kernels=((11, 11), (11, 11)),
                    conv_strides=((2, 2), (2, 1)), rnn_type="gru", rnn_layers=3, rnn_hidden=256),
        FeatureConfig(kind="fbank", n_mels=80, n_fft=512),
        "small CPU model: fbank 80, 2 convs 11x11, 3 x bi-GRU 256 (~3.9M params)",
    ),
    # Streaming (ds2ray.streaming), as PaddleSpeech's DS2 online: the demo's features and convs, whose
    # symmetric 11-frame time kernels read 5 + 5 x 2 = 15 frames (150 ms) ahead, plus the 20 ms window:
    # 170 ms of lookahead (ds2ray.model.lengths.lookahead_seconds). 3 unidirectional GRU layers of 384:
    # one direction of 384 costs about what two of 256 cost per step (3 x 384^2 vs 2 x 3 x 256^2 MACs),
    # so it trains at about the demo's pace (3.1M parameters against 3.9M).
    "online": Preset(
        ModelConfig(num_features=80, conv_channels=(32, 32), conv_kernels=((11, 11), (11, 11)),
                    conv_strides=((2, 2), (2, 1)), rnn_type="gru", rnn_layers=3, rnn_hidden=384,
                    bidirectional=False),
        FeatureConfig(kind="fbank", n_mels=80, n_fft=512),
        "streaming model: fbank 80, 2 convs 11x11 (170 ms lookahead), 3 x unidirectional GRU 384 (~3.1M params)",
    ),
    # For tests and smoke runs: trains in seconds.
    "tiny": Preset(
        ModelConfig(num_features=40, conv_channels=(4, 4), conv_kernels=((5, 5), (5, 5)),
                    conv_strides=((2, 2), (2, 1)), rnn_type="gru", rnn_layers=1, rnn_hidden=32),
        FeatureConfig(kind="fbank", n_mels=40, n_fft=512),
        "test-sized model: fbank 40, 2 convs 5x5 (4 channels), 1 x bi-GRU 32",
    ),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown model preset {name!r}; choose one of {sorted(PRESETS)}") from None
