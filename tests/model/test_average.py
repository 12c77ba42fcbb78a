"""Checkpoint averaging: the element-wise mean, and refusals that name what differs."""

from __future__ import annotations

import pytest
import torch

from ds2ray.data.vocab import Vocabulary
from ds2ray.model.average import average_checkpoints, average_states
from ds2ray.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ds2ray.model.config import get_preset
from ds2ray.model.deepspeech2 import DeepSpeech2


def test_average_states_is_the_mean_and_keeps_integer_buffers_from_the_last():
    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(3)}
    b = {"w": torch.tensor([3.0, 6.0]), "n": torch.tensor(7)}
    out = average_states([a, b])
    assert torch.equal(out["w"], torch.tensor([2.0, 4.0])) and out["w"].dtype == torch.float32
    assert int(out["n"]) == 7
    with pytest.raises(ValueError, match="different tensors"):
        average_states([a, {"w": a["w"]}])
    with pytest.raises(ValueError, match="shape"):
        average_states([a, {"w": torch.zeros(3), "n": torch.tensor(1)}])


def _save(folder, model, step, model_config=None, vocab=None):
    preset = get_preset("tiny")
    cfg = model_config or preset.model
    return save_checkpoint(str(folder), model, model_config=cfg, feature_config=preset.features,
                           vocab=vocab or Vocabulary.english(), normalizer=None, metrics={"step": step})


def test_average_checkpoints_writes_a_loadable_mean_named_by_its_sources(tmp_path):
    preset = get_preset("tiny")
    models = []
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        models.append(DeepSpeech2(preset.model))
    paths = [_save(tmp_path / f"c{step}", m, step) for step, m in zip((300, 100, 200), models)]
    out = average_checkpoints(paths, str(tmp_path / "avg"))
    avg = load_checkpoint(out)
    assert avg.metrics["step"] == 300 and avg.metrics["averaged_steps"] == [100, 200, 300]  # sorted by step
    for key, value in avg.model_state.items():
        if value.is_floating_point():
            expected = sum(m.state_dict()[key].double() for m in models) / 3
            assert torch.allclose(value.double(), expected, atol=1e-6), key
    DeepSpeech2(avg.model_config).load_state_dict(avg.model_state)  # a complete model


def test_average_checkpoints_refuses_different_models(tmp_path):
    preset = get_preset("tiny")
    model = DeepSpeech2(preset.model)
    wider = preset.model.replace(rnn_hidden=preset.model.rnn_hidden * 2)
    a = _save(tmp_path / "a", model, 1)
    b = _save(tmp_path / "b", DeepSpeech2(wider), 2, model_config=wider)
    with pytest.raises(CheckpointError, match="model config differs"):
        average_checkpoints([a, b], str(tmp_path / "avg"))
    with pytest.raises(ValueError, match="at least one"):
        average_checkpoints([], str(tmp_path / "avg"))
    assert not (tmp_path / "avg").exists()


def test_cli_average_writes_the_mean_and_names_a_mismatch(tmp_path, capsys):
    from ds2ray.cli import main

    preset = get_preset("tiny")
    torch.manual_seed(0)
    a = _save(tmp_path / "a", DeepSpeech2(preset.model), 10)
    torch.manual_seed(1)
    b = _save(tmp_path / "b", DeepSpeech2(preset.model), 20)
    assert main(["average", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "avg")]) == 0
    assert "average of 2 checkpoints" in capsys.readouterr().out
    assert load_checkpoint(str(tmp_path / "avg")).metrics["averaged_steps"] == [10, 20]
    wider = preset.model.replace(rnn_hidden=preset.model.rnn_hidden * 2)
    _save(tmp_path / "c", DeepSpeech2(wider), 30, model_config=wider)
    assert main(["average", a, str(tmp_path / "c"), "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert "c/model.pt" in err and "model config differs" in err
