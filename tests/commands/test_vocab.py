"""``ds2ray vocab``: the vocabulary of a manifest's transcripts."""

from __future__ import annotations

from ds2ray.data.vocab import Vocabulary


def test_cli_vocab(tmp_path, capsys):
    import json

    from ds2ray.cli import main

    m = tmp_path / "m.jsonl"
    m.write_text("\n".join(json.dumps({"audio_filepath": "x.wav", "duration": 1, "text": t})
                           for t in ["Hello there", "hello again"]) + "\n")
    assert main(["vocab", "--manifest", str(m), "--out", str(tmp_path / "v.json")]) == 0
    v = Vocabulary.load(tmp_path / "v.json")
    assert v.language == "en" and "h" in v.chars
    assert "characters from 2 transcripts" in capsys.readouterr().out
