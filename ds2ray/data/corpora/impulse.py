"""``ds2ray prepare impulse --from FOLDER --out MANIFEST``: a manifest of the impulse-response
files under a folder, for the ``impulse`` augmentor (same format and rules as ``prepare noise``).

An impulse response is used as recorded: its first sample is time zero, so leading silence
before the direct-path peak delays the augmented speech by that much.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ds2ray.data.corpora import Corpus
from ds2ray.data.corpora.noise import NoiseOptions, prepare_audio_list, list_flags

HELP = "manifest of room impulse responses under a folder (for the 'impulse' augmentor)"


@dataclass(frozen=True)
class ImpulseOptions(NoiseOptions):
    """``ds2ray prepare impulse`` flags: the same as ``noise``'s."""


def prepare_impulse(out: Path, source: Path | None, options: ImpulseOptions, *,
                    overwrite: bool = False) -> dict[str, Path]:
    """An audio list: ``out`` is the manifest file itself, ``source`` the folder of impulse responses."""
    return prepare_audio_list("impulse", out, source, options, overwrite)


CORPUS = Corpus("impulse", HELP, ImpulseOptions, prepare_impulse, **list_flags("impulse-response"))
