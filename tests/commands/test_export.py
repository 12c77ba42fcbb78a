"""``ds2ray export`` end to end: the CLI writes .onnx files that ``ds2ray test`` runs, with the same
hypotheses as the torch checkpoint; bad arguments give clear errors."""

from __future__ import annotations

import json

import pytest

from ds2ray.cli import main
from ds2ray.inference.onnx_model import load_onnx_model
from ds2ray.testing.checkpoints import make_untrained_checkpoint
from ds2ray.testing.signals import speechlike, write_audio


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_untrained_checkpoint(str(tmp_path_factory.mktemp("export") / "ck"))


def _manifest(folder) -> str:
    lines = []
    for i, seconds in enumerate((0.8, 1.6, 0.5)):
        wav = write_audio(folder / f"u{i}.wav", speechlike(seconds, 16000, seed=i), 16000)
        lines.append(json.dumps({"audio_filepath": str(wav), "duration": seconds, "text": "a test"}))
    path = folder / "manifest.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _hyps(results: str) -> dict[str, str]:
    rows = [json.loads(line) for line in open(results)]
    return {r["audio_filepath"]: r["hyp"] for r in rows}


def test_export_then_test_with_onnx(checkpoint, tmp_path, capsys):
    fp32, int8 = str(tmp_path / "m.onnx"), str(tmp_path / "m.int8.onnx")
    assert main(["export", "--checkpoint", checkpoint, "--out", fp32]) == 0
    assert main(["export", "--checkpoint", checkpoint, "--out", int8, "--int8"]) == 0
    assert "int8 weights" in capsys.readouterr().out
    assert not load_onnx_model(fp32).int8 and load_onnx_model(int8).int8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.int8.onnx", "m.onnx"]  # no temporary files left
    manifest = _manifest(tmp_path)
    common = ["test", "--manifest", manifest, "--num-workers", "0", "--decoder", "greedy", "--no-progress"]
    assert main([*common, "--checkpoint", checkpoint, "--out", str(tmp_path / "torch.jsonl")]) == 0
    assert main([*common, "--checkpoint", fp32, "--out", str(tmp_path / "onnx.jsonl")]) == 0  # auto: onnx
    assert main([*common, "--checkpoint", fp32, "--backend", "onnx", "--out", str(tmp_path / "onnx2.jsonl")]) == 0
    torch_hyps = _hyps(str(tmp_path / "torch.jsonl"))
    assert len(torch_hyps) == 3
    assert _hyps(str(tmp_path / "onnx.jsonl")) == torch_hyps == _hyps(str(tmp_path / "onnx2.jsonl"))


def test_export_errors(checkpoint, tmp_path, capsys):
    assert main(["export", "--checkpoint", checkpoint, "--out", str(tmp_path / "m.pt")]) == 2
    assert "name the file *.onnx" in capsys.readouterr().err
    assert main(["export", "--checkpoint", str(tmp_path / "nothing"), "--out", str(tmp_path / "m.onnx")]) == 2
    assert "nothing" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    assert main(["test", "--checkpoint", str(bad), "--manifest", _manifest(tmp_path), "--num-workers", "0",
                 "--decoder", "greedy", "--out", str(tmp_path / "r.jsonl")]) == 2
    assert "bad.onnx: not a readable ONNX model" in capsys.readouterr().err
