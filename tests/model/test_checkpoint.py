"""Checkpoints carry everything inference needs, and say what is wrong with a bad one."""

from __future__ import annotations

import pytest
import torch

from ds2ray.data.features import FeatureConfig
from ds2ray.data.vocab import Vocabulary
from ds2ray.inference.model import load_acoustic_model
from ds2ray.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ds2ray.testing.checkpoints import make_untrained_checkpoint


def test_tiny_checkpoint_is_self_describing(tmp_path):
    vocab = Vocabulary(tuple("abc "), "en")
    folder = make_untrained_checkpoint(str(tmp_path / "ck"), vocab=vocab)
    am = load_acoustic_model(folder)
    assert am.vocab == vocab and am.model_config.num_classes == 5
    assert am.feature_config.kind == "fbank" and am.normalizer is not None
    assert not am.model.training
    # the .pt file itself loads too, with the same weights
    again = load_acoustic_model(str(tmp_path / "ck" / "model.pt"))
    for a, b in zip(am.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)


def test_training_state_round_trip_and_mismatch_errors(tmp_path):
    from ds2ray.model.config import get_preset
    from ds2ray.model.deepspeech2 import DeepSpeech2

    preset = get_preset("tiny")
    vocab = Vocabulary.english()
    cfg = preset.model.for_data(preset.features, vocab.size)
    model = DeepSpeech2(cfg)
    state = {"state": {"epoch": 2, "global_step": 17}, "optimizer": {"x": 1}}
    save_checkpoint(str(tmp_path / "c"), model, model_config=cfg, feature_config=preset.features, vocab=vocab,
                    normalizer=None, train_state=state, train_config={"lr": 1e-3})
    data = load_checkpoint(str(tmp_path / "c"), with_train_state=True)
    assert data.train_state["state"]["global_step"] == 17 and data.train_config == {"lr": 1e-3}
    assert load_checkpoint(str(tmp_path / "c")).train_state is None
    with pytest.raises(CheckpointError, match="classes"):
        save_checkpoint(str(tmp_path / "d"), model, model_config=cfg, feature_config=preset.features,
                        vocab=Vocabulary(tuple("ab"), "en"), normalizer=None)
    with pytest.raises(CheckpointError, match="features"):
        save_checkpoint(str(tmp_path / "d"), model, model_config=cfg, feature_config=FeatureConfig(kind="linear"),
                        vocab=vocab, normalizer=None)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pt"):
        load_checkpoint(str(tmp_path / "bad.pt"))
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(str(tmp_path / "missing"))
