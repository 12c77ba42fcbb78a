"""``ds2ray lm build``: from a manifest's transcripts with pruning and the cleaned corpus kept; the
seed's quantised trie, smaller than the probing binary."""

from __future__ import annotations

import pytest

from ds2ray.cli import main
from ds2ray.data.english_text import builtin_sentences


def test_cli_builds_from_a_manifest(tmp_path, capsys, kenlm_ready):
    import json

    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"audio_filepath": f"{i}.wav", "duration": 1.0, "text": t}) + "\n"
                                for i, t in enumerate(list(builtin_sentences())[:60])))
    out = tmp_path / "lm" / "demo.bin"
    rc = main(["lm", "build", "--corpus", str(manifest), "--order", "3", "--prune", "0 0 1", "--out", str(out),
               "--arpa", "--memory", "64M", "--keep-corpus", str(tmp_path / "clean.txt")])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "corpus (en): 60 lines" in printed and "3-grams" in printed
    assert out.is_file() and out.with_suffix(".arpa").is_file() and (tmp_path / "lm" / "demo.unigrams.txt").is_file()
    first = (tmp_path / "clean.txt").read_text().splitlines()[0]
    assert first == "the kettle clicked off just as the phone began to ring"
    assert main(["lm", "build", "--corpus", str(manifest), "--out", str(out), "--order", "2",
                 "--prune", "0 1 1"]) == 2


def test_cli_quantize_builds_the_seeds_trie_smaller_than_probing(tmp_path, capsys, kenlm_ready):
    corpus = tmp_path / "text.txt"
    corpus.write_text("\n".join(list(builtin_sentences())[:400]) + "\n")
    common = ["lm", "build", "--corpus", str(corpus), "--order", "3", "--prune", "0 1", "--memory", "64M"]
    assert main([*common, "--out", str(tmp_path / "probing.bin")]) == 0
    assert main([*common, "--quantize", "--out", str(tmp_path / "trie.bin")]) == 0
    from ds2ray.lm.build import binary_model_type

    assert binary_model_type(tmp_path / "probing.bin") == "probing"
    assert binary_model_type(tmp_path / "trie.bin") == "quant_array_trie"  # -a 22 -q 8 -b 8 trie
    assert (tmp_path / "trie.bin").stat().st_size < (tmp_path / "probing.bin").stat().st_size
    with pytest.raises(ValueError, match="not a KenLM binary"):
        binary_model_type(corpus)
