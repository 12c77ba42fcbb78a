"""The DeepSpeech2 acoustic model: config, length arithmetic, layers, network, checkpoints.

Data path: features (B, T, F) -> conv stack -> bidirectional RNN stack -> FC -> logits (B, T', V).
"""

from ds2ray.model.config import PRESETS, ModelConfig, Preset, get_preset
from ds2ray.model.lengths import output_lengths

__all__ = ["ModelConfig", "Preset", "PRESETS", "get_preset", "output_lengths"]
