"""Reference word error rates of two existing offline recognisers on the shared real-speech test
sets, printed beside a recipe's own results by its test stage (:data:`REFERENCES`).

Source: ``../shared/data/README.md`` ("Reference points measured on the same files by two existing
offline recognisers"): pocketsphinx 5.1 with its en-us model, and OpenAI Whisper tiny.en (raw
output; the README's "normalised" figures spell out digits and are not used here). Keys are the
split names of ``jobs/english/config.yaml``.
"""

from __future__ import annotations

from ds2ray.pipeline.test import ReferenceTable

SOURCE = "../shared/data/README.md (pocketsphinx 5.1 en-us; Whisper tiny.en), same files"
RECOGNISERS = ("pocketsphinx", "whisper-tiny.en")

#: split -> recogniser -> WER
REFERENCE_WER: dict[str, dict[str, float]] = {
    "test_speechocean": {"pocketsphinx": 0.857, "whisper-tiny.en": 0.384},  # lines 1, 6, 11, ... (500)
    "test_an4": {"pocketsphinx": 0.43, "whisper-tiny.en": 0.49},
    "test_pocketsphinx": {"pocketsphinx": 0.21, "whisper-tiny.en": 0.15},
    "test_speechbrain": {"pocketsphinx": 0.38, "whisper-tiny.en": 0.17},
    "test_alsa": {"pocketsphinx": 0.44, "whisper-tiny.en": 0.06},
    "test_speech_commands": {"pocketsphinx": 0.79, "whisper-tiny.en": 0.36},
}

#: groups of small splits also reported together (WER over their pooled words)
GROUPS: dict[str, tuple[str, ...]] = {
    "pocketsphinx+speechbrain": ("test_pocketsphinx", "test_speechbrain"),
}


#: what the recipes' test stage prints beside their results
REFERENCES = ReferenceTable(SOURCE, RECOGNISERS, REFERENCE_WER, GROUPS)
