"""Text-to-speech engines for synthetic corpora: espeak-ng (default), flite and festival.

An engine turns ``(text, voice, speed, pitch)`` into mono float32 audio. ``speed`` is a factor
(1.0 = the engine's normal rate, >1 faster) and ``pitch`` a factor around the voice's own.
Engines register by name in :data:`ENGINES`; :func:`get_engine` passes engine options (e.g.
``variants="all"`` for espeak-ng) to the constructor. An engine may hold helper processes
(festival keeps one interpreter per thread); :meth:`TTSEngine.close` ends them.

Every engine and voice used is free software in Debian main: espeak-ng (GPL-3+), flite and its
voices (CMU's BSD-style licence), festival with ``festvox-kallpc16k`` and ``festvox-kdlpc16k`` (the
CSTR/CMU free licence) and ``festvox-us-slt-hts`` (BSD-3-clause + the Edinburgh Speech Tools
licence). espeak-ng's mbrola voices are never used (their licence is not free).
"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
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

    def close(self) -> None:
        """End helper processes the engine started (none by default)."""

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
    """espeak-ng: English accents x voice variants (formant voices; mbrola voices are not used).

    ``variants``: ``"listed"`` (default) the variants of :attr:`VARIANTS` that are installed;
    ``"all"`` every installed variant except the whispering ones (and the ``fast`` test voice).
    """

    name = "espeak"
    binary = "espeak-ng"
    VARIANT_CHOICES = ("listed", "all")
    EXCLUDED_VARIANTS = frozenset({"whisper", "whisperf", "fast"})
    ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd",
               "en-029", "en-us-nyc")
    VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
                "klatt", "klatt2", "klatt3", "klatt4", "croak", "whisper", "Andy", "Annie", "Denis",
                "Gene", "Jacky", "Lee", "Mario", "Michael", "Storm", "Tweaky", "adam",
                "anika", "aunty", "belinda", "benjamin", "caleb", "david", "ed", "edward", "grandma",
                "grandpa", "iven", "john", "linda", "max", "michel", "norbert", "paul", "pedro",
                "quincy", "rob", "robert", "sandro", "shelby", "steph", "travis", "victor", "zac")

    def __init__(self, variants: str = "listed") -> None:
        if variants not in self.VARIANT_CHOICES:
            raise ValueError(f"espeak variants must be one of {self.VARIANT_CHOICES}, got {variants!r}")
        self.variants = variants

    def voices(self) -> list[Voice]:
        installed = self._installed_variants()
        if self.variants == "all":
            chosen = [v for v in dict.fromkeys(installed) if v not in self.EXCLUDED_VARIANTS]
        else:
            chosen = [v for v in self.VARIANTS if v in set(installed) and v != "whisper"]
        return [Voice(self.name, f"{accent}+{v}", f"espeak-{v}") for v in chosen for accent in self.ACCENTS]

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
    """festival with every installed English voice (``voice_<name>``; the default voice when none is
    found under festival's voice folders).

    One festival interpreter per thread stays up and synthesizes utterance after utterance (starting
    festival and loading a voice costs ~0.3 s, a diphone utterance ~0.03 s). ``speed`` sets
    ``Duration_Stretch``; ``pitch`` moves the diphone voices' mean F0 target. HTS voices ignore both
    settings, so their audio is resampled by ``speed`` instead (tempo and pitch move together, as in
    speed perturbation).
    """

    name = "festival"
    binary = "festival"
    VOICE_DIRS = (Path("/usr/share/festival/voices"), Path("/usr/local/share/festival/voices"))
    LANGUAGE_DIRS = ("english", "us", "british", "en")
    F0_MEAN_HZ = 105.0  # the diphone voices' int_lr_params target_f0_mean
    TIMEOUT_S = 60.0

    def __init__(self) -> None:
        self._local = threading.local()
        self._sessions: list[_FestivalSession] = []
        self._lock = threading.Lock()
        atexit.register(self.close)

    def voices(self) -> list[Voice]:
        names = sorted({d.name for root in self.VOICE_DIRS for lang in self.LANGUAGE_DIRS
                        for d in (root / lang).glob("*") if d.is_dir() and (d / "festvox").is_dir()})
        if not names:
            return [Voice(self.name, "default", "festival-default")]
        return [Voice(self.name, n, f"festival-{n}") for n in names]

    def _session(self) -> "_FestivalSession":
        session = getattr(self._local, "session", None)
        if session is None or not session.alive():
            session = _FestivalSession()
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def synthesize(self, text, voice, speed=1.0, pitch=1.0):
        hts = voice.name.endswith("_hts")
        commands = [] if voice.name == "default" else [f"(voice_{voice.name})"]
        commands.append(f"(Parameter.set 'Duration_Stretch {1.0 if hts else 1 / speed:.3f})")
        if voice.name.endswith("_diphone"):
            commands.append(f"(set! int_lr_params '((target_f0_mean {self.F0_MEAN_HZ * pitch:.1f}) "
                            "(target_f0_std 14) (model_f0_mean 170) (model_f0_std 34)))")
        escaped = text.replace("\\", " ").replace('"', " ")
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out.wav")
            commands.append(f'(utt.save.wave (utt.synth (Utterance Text "{escaped}")) "{out}" \'riff)')
            self._session().run(" ".join(commands), self.TIMEOUT_S)
            try:
                with open(out, "rb") as fh:
                    audio, rate = self._read_wav(fh.read(), f"festival voice {voice.name}")
            except FileNotFoundError as err:
                raise TTSError(f"festival voice {voice.name} wrote no audio for {text[:60]!r}") from err
        if hts and speed != 1.0:
            rate = int(round(rate * speed))  # played back faster: shorter and higher
        return audio, rate

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()


class _FestivalSession:
    """One ``festival --pipe`` interpreter: a command, then a marker line that says it finished."""

    MARKER = "@@ds2ray-done@@"

    def __init__(self) -> None:
        try:
            self.proc = subprocess.Popen(["festival", "--pipe"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True, bufsize=1)
        except OSError as err:
            raise TTSError(f"festival failed to start: {err}") from err

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, command: str, timeout: float) -> str:
        timer = threading.Timer(timeout, self.proc.kill)  # a hung festival: EOF below, then an error
        timer.start()
        try:
            self.proc.stdin.write(f'{command}\n(format t "{self.MARKER}\\n") (fflush nil)\n')
            self.proc.stdin.flush()
            lines = []
            while True:
                line = self.proc.stdout.readline()
                if not line:
                    raise TTSError(f"festival exited (or timed out after {timeout:.0f} s) running {command[:120]}: "
                                   + "".join(lines)[-300:])
                if self.MARKER in line:
                    return "".join(lines)
                lines.append(line)
        except (BrokenPipeError, OSError) as err:
            raise TTSError(f"festival died: {err}") from err
        finally:
            timer.cancel()

    def close(self) -> None:
        if self.alive():
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()


def get_engine(name: str, **options) -> TTSEngine:
    """The engine ``name``, constructed with ``options`` (e.g. ``variants="all"`` for espeak)."""
    if name not in ENGINES:
        raise ValueError(f"unknown TTS engine {name!r}; known: {sorted(ENGINES)}")
    cls = ENGINES[name]
    if not cls.available():
        raise TTSError(f"TTS engine {name!r} needs `{cls.binary}`; install it (Debian: apt-get install "
                       f"{ {'espeak': 'espeak-ng', 'flite': 'flite', 'festival': 'festival'}[name] })")
    return cls(**options)
