"""JSON-lines manifests (NeMo-compatible): one utterance per line.

Required keys: ``audio_filepath`` (relative paths resolve against the manifest's folder, fsspec URLs
are accepted), ``duration`` (seconds) and ``text``. Optional: ``offset`` (seconds into the file) and
``speaker``. Any other key is kept in :attr:`ManifestEntry.extra` and written back out.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from ds2ray import fileio

log = logging.getLogger(__name__)

REQUIRED_KEYS = ("audio_filepath", "duration", "text")
KNOWN_KEYS = REQUIRED_KEYS + ("offset", "speaker")


class ManifestError(ValueError):
    """A manifest line is malformed. The message names the file and the line number."""

    def __init__(self, path: str, line_no: int, reason: str) -> None:
        self.path, self.line_no, self.reason = path, line_no, reason
        super().__init__(
            f"{path}:{line_no}: {reason}. Fix or delete that line, or pass --skip-bad to skip "
            "malformed lines and report how many were skipped."
        )


@dataclass(frozen=True)
class ManifestEntry:
    """One utterance. ``audio_filepath`` is absolute (or a URL) once read through :func:`read_manifest`."""

    audio_filepath: str
    duration: float
    text: str
    offset: float = 0.0
    speaker: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self, base_dir: str | None = None) -> dict[str, Any]:
        path = fileio.relative_to(self.audio_filepath, base_dir) if base_dir else self.audio_filepath
        out: dict[str, Any] = {"audio_filepath": path, "duration": round(self.duration, 4), "text": self.text}
        if self.offset:
            out["offset"] = self.offset
        if self.speaker is not None:
            out["speaker"] = self.speaker
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base_dir: str = "") -> "ManifestEntry":
        """Validate one parsed line. Raises ``ValueError`` with the reason (no location)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        missing = [k for k in REQUIRED_KEYS if k not in data]
        if missing:
            raise ValueError(f"missing key(s) {missing}; every line needs {list(REQUIRED_KEYS)}")
        path = data["audio_filepath"]
        if not isinstance(path, str) or not path:
            raise ValueError("'audio_filepath' must be a non-empty string")
        duration = _number(data, "duration")
        if duration <= 0:
            raise ValueError(f"'duration' must be > 0, got {duration}")
        offset = _number(data, "offset") if "offset" in data else 0.0
        if offset < 0:
            raise ValueError(f"'offset' must be >= 0, got {offset}")
        text = data["text"]
        if not isinstance(text, str):
            raise ValueError(f"'text' must be a string, got {type(text).__name__}")
        speaker = data.get("speaker")
        extra = {k: v for k, v in data.items() if k not in KNOWN_KEYS}
        return cls(
            audio_filepath=fileio.resolve(path, base_dir) if base_dir else path,
            duration=duration,
            text=text,
            offset=offset,
            speaker=None if speaker is None else str(speaker),
            extra=extra,
        )


def _number(data: Mapping[str, Any], key: str) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"'{key}' must be a finite number, got {value!r}")
    return float(value)


@dataclass
class Manifest(Sequence[ManifestEntry]):
    """The entries of one or more manifest files, plus what was skipped while reading them."""

    entries: list[ManifestEntry]
    sources: list[str] = field(default_factory=list)
    bad_lines: list[str] = field(default_factory=list)
    filtered_out: int = 0

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i):  # type: ignore[override]
        return self.entries[i]

    def __iter__(self) -> Iterator[ManifestEntry]:
        return iter(self.entries)

    @property
    def total_duration(self) -> float:
        return sum(e.duration for e in self.entries)

    def summary(self) -> str:
        hours = self.total_duration / 3600
        msg = f"{len(self.entries)} utterances, {hours:.2f} h from {', '.join(self.sources) or '-'}"
        if self.filtered_out:
            msg += f"; {self.filtered_out} outside the duration limits"
        if self.bad_lines:
            msg += f"; {len(self.bad_lines)} malformed line(s) skipped"
        return msg


def read_manifest(
    paths: str | Path | Iterable[str | Path],
    *,
    min_duration: float | None = None,
    max_duration: float | None = None,
    skip_bad: bool = False,
) -> Manifest:
    """Read one or more JSON-lines manifests (local paths or fsspec URLs).

    A malformed line raises :class:`ManifestError` naming file and line; with ``skip_bad`` it is
    logged, counted in ``Manifest.bad_lines`` and skipped. Entries outside
    ``[min_duration, max_duration]`` are dropped and counted in ``Manifest.filtered_out``.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    result = Manifest(entries=[])
    for path in map(str, paths):
        result.sources.append(path)
        base_dir = fileio.dirname(path)
        try:
            with fileio.open_file(path, "rb") as fh:
                raw = fh.read()
        except FileNotFoundError as err:
            raise FileNotFoundError(f"manifest not found: {path}") from err
        for line_no, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = ManifestEntry.from_dict(json.loads(line), base_dir)
            except (json.JSONDecodeError, ValueError) as err:
                reason = f"invalid JSON ({err.msg})" if isinstance(err, json.JSONDecodeError) else str(err)
                error = ManifestError(path, line_no, reason)
                if not skip_bad:
                    raise error from err
                log.warning("skipping %s:%d: %s", path, line_no, reason)
                result.bad_lines.append(f"{path}:{line_no}: {reason}")
                continue
            if (min_duration is not None and entry.duration < min_duration) or (
                max_duration is not None and entry.duration > max_duration
            ):
                result.filtered_out += 1
                continue
            result.entries.append(entry)
    if result.bad_lines:
        log.warning("%d malformed manifest line(s) skipped", len(result.bad_lines))
    return result


def write_manifest(path: str | Path, entries: Iterable[ManifestEntry], *, relative: bool = True) -> int:
    """Write entries atomically; with ``relative`` local audio paths under the manifest's folder are
    stored relative to it, so the corpus folder can be moved. Returns the number of lines."""
    path = Path(path)
    base_dir = str(path.parent.resolve()) if relative else None
    n = 0
    with fileio.atomic_write(path) as fh:
        for entry in entries:
            fh.write(json.dumps(entry.to_dict(base_dir), ensure_ascii=False) + "\n")
            n += 1
    return n
