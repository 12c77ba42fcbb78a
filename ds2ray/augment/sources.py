"""Noise and impulse-response audio for the ``noise`` and ``impulse`` augmentors.

- :func:`read_audio_list` reads a noise/impulse manifest (``ds2ray prepare noise|impulse``): the
  usual manifest format, but ``text`` may be missing or empty.
- :class:`AudioCache` keeps decoded clips per process, least recently used first out, within a
  byte budget, so a training worker decodes each noise file once, not once per utterance.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict

import numpy as np

from ds2ray import fileio
from ds2ray.data.manifest import ManifestEntry, ManifestError

#: Default per-process budget for cached noise/impulse audio (override: DS2RAY_AUGMENT_CACHE_MB).
DEFAULT_CACHE_BYTES = 256 * 1024 * 1024


def read_audio_list(path: str, *, what: str = "audio") -> tuple[ManifestEntry, ...]:
    """Entries of a noise/impulse manifest; ``text`` defaults to ``""``. Errors name file:line."""
    try:
        with fileio.open_file(path, "rb") as fh:
            raw = fh.read().decode("utf-8", errors="replace")
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"{what} manifest not found: {path}. Build one with "
            f"`ds2ray prepare {what} --from FOLDER --out {path}`") from err
    base_dir = fileio.dirname(path)
    entries = []
    for line_no, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if isinstance(data, dict):
                data.setdefault("text", "")
            entries.append(ManifestEntry.from_dict(data, base_dir))
        except (json.JSONDecodeError, ValueError) as err:
            reason = f"invalid JSON ({err.msg})" if isinstance(err, json.JSONDecodeError) else str(err)
            raise ManifestError(path, line_no, reason) from err
    if not entries:
        raise ValueError(f"{what} manifest {path} lists no audio; build it with "
                         f"`ds2ray prepare {what} --from FOLDER --out {path}`")
    return tuple(entries)


class AudioCache:
    """Decoded clips keyed by (path, offset, duration, sample rate); LRU within ``max_bytes``.

    Arrays are returned read-only: callers copy before changing them. Thread-safe.
    """

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, entry: ManifestEntry, sample_rate: int) -> np.ndarray:
        """Mono float32 audio of ``entry`` at ``sample_rate`` (decoded on a miss)."""
        key = (entry.audio_filepath, entry.offset, entry.duration, sample_rate)
        with self._lock:
            audio = self._items.get(key)
            if audio is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return audio
        from ds2ray.data.audio import load_audio

        audio = load_audio(entry.audio_filepath, sample_rate, offset=entry.offset, duration=entry.duration)
        audio.setflags(write=False)
        with self._lock:
            self.misses += 1
            if key not in self._items:
                self._items[key] = audio
                self._bytes += audio.nbytes
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.nbytes
        return audio

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)


_CACHE: AudioCache | None = None


def audio_cache() -> AudioCache:
    """The process-wide cache (created on first use, so each Ray worker has its own)."""
    global _CACHE
    if _CACHE is None:
        mb = os.environ.get("DS2RAY_AUGMENT_CACHE_MB")
        _CACHE = AudioCache(int(float(mb) * 1024 * 1024) if mb else DEFAULT_CACHE_BYTES)
    return _CACHE
