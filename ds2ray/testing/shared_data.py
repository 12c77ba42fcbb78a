"""A tiny tree in the layout of ``../shared/data`` (the real-speech folder the ``english`` corpus
reads), for tests of that builder and of the recipe that uses it."""

from __future__ import annotations

import json
from pathlib import Path


def builtin_sentences(n: int) -> list[str]:
    """The first ``n`` built-in English sentences, normalised like transcripts."""
    from ds2ray.data.english_text import builtin_sentences as raw
    from ds2ray.data.english_text import normalize_sentence

    return [normalize_sentence(s) for s, _ in zip(raw(), range(n))]


def write_set(root: Path, folder: str, manifest: str, texts: list[str], seconds: float = 0.4) -> None:
    """Append ``texts`` to ``root/folder/manifest`` with a speech-like WAV each (relative paths)."""
    from ds2ray.testing.signals import speechlike, write_audio

    d = root / folder
    (d / "wav").mkdir(parents=True, exist_ok=True)
    with open(d / manifest, "a", encoding="utf-8") as fh:
        for i, text in enumerate(texts):
            name = f"wav/{Path(manifest).stem}_{i}.wav"
            if not (d / name).exists():
                write_audio(d / name, speechlike(seconds, seed=i))
            row = {"audio_filepath": name, "duration": seconds, "text": text, "speaker": f"s{i % 3}"}
            fh.write(json.dumps(row) + "\n")


def write_shared_english_tree(root: Path) -> Path:
    """Every set the ``english`` corpus reads; speechocean762's test half reads built-in sentences
    (its test subset: lines 0 and 5)."""
    sentences = builtin_sentences(12)
    write_set(root, "speechocean762", "manifest_train.jsonl", ["we call it bear", "zero three five one",
                                                               "the cat sat on the mat"])
    write_set(root, "speechocean762", "manifest_test.jsonl", sentences[:10])
    write_set(root, "fsdd", "manifest.jsonl", ["zero", "one", "two"])
    write_set(root, "speech_commands", "manifest.jsonl", ["bed", "yes"])
    write_set(root, "an4", "manifest.jsonl", ["start", sentences[10]])
    write_set(root, "pocketsphinx", "manifest.jsonl", ["he was not an ill disposed young man"])
    write_set(root, "speechbrain", "manifest.jsonl", [sentences[11]])
    write_set(root, "alsa_sounds", "manifest.jsonl", ["front center", "front left"])
    return root
