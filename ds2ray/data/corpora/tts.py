"""Text-to-speech engines for synthetic corpora: espeak-ng (default), flite and festival.

An engine turns ``(text, voice, speed, pitch)`` into mono float32 audio. ``speed`` is a factor
(1.0 = the engine's normal rate, >1 faster) and ``pitch`` a factor around the voice's own.
Engines register by name in :data:`ENGINES`.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import soundfile as sf

ENGINES: dict[str, type["TTSEngine"]] = {}


class TTSError(RuntimeError):
    pass


@dataclass(frozen=True)
class Voice:
    engine: str
    name: str
    timbre: str  # voices sharing a timbre sound alike; held-out splits hold out whole timbres

    @property
    def id(self) -> str:
        return f"{self.engine}:{self.name}"


class TTSEngine:
    name: ClassVar[str]
    binary: ClassVar[str]

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        ENGINES[cls.name] = cls

    @classmethod
    def available(cls) -> bool:
        return shutil.which(cls.binary) is not None

    def voices(self) -> list[Voice]:
        raise NotImplementedError

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0, pitch: float = 1.0) -> tuple[np.ndarray, int]:
        raise NotImplementedError

    @staticmethod
    def _read_wav(data: bytes, what: str) -> tuple[np.ndarray, int]:
        try:
            audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
        except Exception as err:  # noqa: BLE001 - any decoder failure means the engine misbehaved
            raise TTSError(f"{what} produced no readable audio ({err})") from err
        if audio.ndim == 2:
            audio = audio.mean(axis=1)
        if audio.size == 0:
            raise TTSError(f"{what} produced empty audio")
        return audio, rate


def _run(cmd: list[str], text: str | None = None, timeout: float = 60.0) -> bytes:
    try:
        proc = subprocess.run(cmd, input=None if text is None else text.encode("utf-8"),
                              capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise TTSError(f"{cmd[0]} failed: {err}") from err
    if proc.returncode != 0:
        raise TTSError(f"{' '.join(cmd[:3])} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-300:]}")
    return proc.stdout


class EspeakEngine(TTSEngine):
    """espeak-ng: English accents x voice variants (formant voices; mbrola voices are not used)."""

    name = "espeak"
    binary = "espeak-ng"
    ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd",
               "en-029", "en-us-nyc")
    VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
                "klatt", "klatt2", "klatt3", "klatt4", "croak", "whisper", "Andy", "Annie", "Denis",
                "Gene", "Jacky", "Lee", "Mario", "Michael", "Storm", "Tweaky", "adam",
                "anika", "aunty", "belinda", "benjamin", "caleb", "david", "ed", "edward", "grandma",
                "grandpa", "iven", "john", "linda", "max", "michel", "norbert", "paul", "pedro",
                "quincy", "rob", "robert", "sandro", "shelby", "steph", "travis", "victor", "zac")

    def voices(self) -> list[Voice]:
        variants = set(self._installed_variants())
        return [Voice(self.name, f"{accent}+{v}", f"espeak-{v}")
                for v in self.VARIANTS if v in variants and v != "whisper" for accent in self.ACCENTS]

    @staticmethod
    def _installed_variants() -> list[str]:
        out = _run(["espeak-ng", "--voices=variant"]).decode(errors="replace").splitlines()[1:]
        return [line.split("!v/")[1].split()[0] for line in out if "!v/" in line]

    def synthesize(self, text, voice, speed=1.0, pitch=1.0):
        wpm = int(round(175 * speed))
        pitch_value = int(np.clip(round(50 * pitch), 0, 99))
        data = _run(["espeak-ng", "-v", voice.name, "-s", str(wpm), "-p", str(pitch_value), "--stdout"], text)
        return self._read_wav(data, f"espeak-ng -v {voice.name}")


class FliteEngine(TTSEngine):
    """flite's built-in voices (kal16, slt, rms, awb, kal)."""

    name = "flite"
    binary = "flite"
    PITCH_HZ = {"slt": 170.0}

    def voices(self) -> list[Voice]:
        listed = _run(["flite", "-lv"]).decode(errors="replace").split(":", 1)[-1].split()
        return [Voice(self.name, v, f"flite-{v.rstrip('16')}") for v in ("kal16", "slt", "rms", "awb", "kal")
                if v in listed]

    def synthesize(self, text, voice, speed=1.0, pitch=1.0):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out.wav")
            f0 = self.PITCH_HZ.get(voice.name, 105.0) * pitch
            _run(["flite", "-voice", voice.name, "-t", text, "-o", out, "--setf", f"duration_stretch={1 / speed:.3f}",
                  "--setf", f"int_f0_target_mean={f0:.1f}"])
            with open(out, "rb") as fh:
                return self._read_wav(fh.read(), f"flite -voice {voice.name}")


class FestivalEngine(TTSEngine):
    """festival's ``text2wave`` with its default installed voice."""

    name = "festival"
    binary = "text2wave"

    def voices(self) -> list[Voice]:
        return [Voice(self.name, "default", "festival-default")]

    def synthesize(self, text, voice, speed=1.0, pitch=1.0):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out.wav")
            _run(["text2wave", "-o", out, "-eval", f"(Parameter.set 'Duration_Stretch {1 / speed:.3f})"], text)
            with open(out, "rb") as fh:
                return self._read_wav(fh.read(), "festival text2wave")


def get_engine(name: str) -> TTSEngine:
    if name not in ENGINES:
        raise ValueError(f"unknown TTS engine {name!r}; known: {sorted(ENGINES)}")
    cls = ENGINES[name]
    if not cls.available():
        raise TTSError(f"TTS engine {name!r} needs `{cls.binary}`; install it (Debian: apt-get install "
                       f"{ {'espeak': 'espeak-ng', 'flite': 'flite', 'festival': 'festival'}[name] })")
    return cls()
