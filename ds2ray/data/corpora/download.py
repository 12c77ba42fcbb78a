"""Downloads and archive extraction shared by the corpus builders.

- :func:`download`: HTTP(S) with a progress bar, resumable (the bytes so far live in ``NAME.part``
  and an interrupted transfer continues with an HTTP ``Range`` request), retried with back-off on
  network errors and 5xx/429 answers, and verified against md5 and/or sha256. A finished file is
  renamed to its final name only after it verified, so a file with the final name is always whole.
  A verified file is remembered in a small ``.NAME.verified`` sidecar so a re-run skips re-hashing.
- :func:`extract_archive`: ``.tar``/``.tar.gz``/``.tgz``/``.tar.bz2``/``.tar.xz``/``.zip``. Every
  member is checked before it is written (no absolute paths, no ``..``, no links that leave the
  folder, no devices); the archive is unpacked into a temp folder beside the destination and moved
  into place only when complete, then a marker file is written so a re-run skips it.

``requests`` and ``tqdm`` are imported lazily: this module is imported when the CLI parser is built.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import posixpath
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlparse

log = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20  # hashing
STREAM_CHUNK = 1 << 16  # network reads: a dropped connection loses at most one of these
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


class DownloadError(RuntimeError):
    """A download that failed for good: names the URL, says what happened and what to do."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not match the published checksum."""


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the destination (or is a device/fifo)."""


@dataclass(frozen=True)
class Resource:
    """A downloadable file and its published checksums (either may be ``None``)."""

    url: str
    md5: str | None = None
    sha256: str | None = None

    @property
    def filename(self) -> str:
        return filename_from_url(self.url)


def filename_from_url(url: str) -> str:
    name = posixpath.basename(unquote(urlparse(url).path))
    if not name:
        raise ValueError(f"cannot tell a file name from URL {url!r}; pass an explicit destination")
    return name


# --------------------------------------------------------------------------- checksums
def file_digests(path: str | Path, algorithms: tuple[str, ...] = ("md5",)) -> dict[str, str]:
    """Hex digests of a file for each algorithm, in one pass."""
    hashers = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            for h in hashers.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hashers.items()}


def _expected(md5: str | None, sha256: str | None) -> dict[str, str]:
    want = {"md5": md5, "sha256": sha256}
    return {k: v.lower() for k, v in want.items() if v}


def verify_checksum(path: str | Path, *, md5: str | None = None, sha256: str | None = None,
                    url: str | None = None) -> None:
    """Raise :class:`ChecksumError` when ``path`` does not match the given digests."""
    want = _expected(md5, sha256)
    if not want:
        return
    got = file_digests(path, tuple(want))
    bad = {a: (want[a], got[a]) for a in want if got[a] != want[a]}
    if bad:
        detail = "; ".join(f"{a} expected {w}, got {g}" for a, (w, g) in bad.items())
        raise ChecksumError(f"checksum mismatch for {url or path} ({Path(path).stat().st_size} bytes): {detail}")


def _sidecar(path: Path) -> Path:
    return path.with_name(f".{path.name}.verified")


def _recorded_ok(path: Path, want: dict[str, str]) -> bool:
    """True when the sidecar says this exact file (size, mtime) already matched ``want``."""
    try:
        rec = json.loads(_sidecar(path).read_text())
        st = path.stat()
    except (OSError, ValueError):
        return False
    return (rec.get("size") == st.st_size and rec.get("mtime_ns") == st.st_mtime_ns
            and all(rec.get(a) == v for a, v in want.items()))


def _record_ok(path: Path, want: dict[str, str]) -> None:
    st = path.stat()
    _sidecar(path).write_text(json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns, **want}))


# --------------------------------------------------------------------------- download
def download(url: str, dest: str | Path, *, md5: str | None = None, sha256: str | None = None,
             retries: int = 5, backoff: float = 2.0, timeout: float = 60.0, progress: bool | None = None,
             session=None) -> Path:
    """Download ``url`` to ``dest`` (a file path, or an existing folder to put the URL's file name in).

    Resumes from ``dest.part`` when present; retries network errors up to ``retries`` times with
    exponential back-off starting at ``backoff`` seconds. An existing ``dest`` is verified (once;
    the result is cached) and reused. Raises :class:`ChecksumError` or :class:`DownloadError`.
    ``progress=None`` shows a bar only on a terminal.
    """
    import requests

    dest = Path(dest)
    if dest.is_dir():
        dest = dest / filename_from_url(url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    want = _expected(md5, sha256)
    if dest.exists():
        if _recorded_ok(dest, want):
            log.info("already downloaded: %s", dest)
            return dest
        try:
            verify_checksum(dest, md5=md5, sha256=sha256, url=str(dest))
        except ChecksumError:
            log.warning("%s exists but does not match its checksum; downloading it again", dest)
            dest.unlink()
        else:
            _record_ok(dest, want)
            log.info("already downloaded: %s", dest)
            return dest

    part = dest.with_name(dest.name + ".part")
    own_session = session is None
    session = session or requests.Session()
    try:
        attempt = 0
        while True:
            try:
                _fetch(session, url, part, timeout=timeout, progress=progress)
                break
            except _Retryable as err:
                attempt += 1
                if attempt > retries:
                    have = part.stat().st_size if part.exists() else 0
                    raise DownloadError(
                        f"downloading {url} failed after {retries + 1} attempts ({err}). {have} bytes "
                        f"are kept in {part}; re-run to resume.") from err
                wait = backoff * 2 ** (attempt - 1)
                log.warning("%s: %s; retry %d/%d in %.1fs", url, err, attempt, retries, wait)
                time.sleep(wait)
    finally:
        if own_session:
            session.close()
    try:
        verify_checksum(part, md5=md5, sha256=sha256, url=url)
    except ChecksumError as err:
        part.unlink(missing_ok=True)
        raise ChecksumError(f"{err}. The download is corrupt or the server sent a different file, so it "
                            "was removed. Re-run to download it again, or try another mirror.") from err
    os.replace(part, dest)
    if want:
        _record_ok(dest, want)
    return dest


class _Retryable(Exception):
    """A transient failure: the transfer may be resumed."""


def _fetch(session, url: str, part: Path, *, timeout: float, progress: bool | None) -> None:
    """One attempt: continue ``part`` from its current size until the server has sent everything."""
    import requests

    have = part.stat().st_size if part.exists() else 0
    # identity: the bytes on disk must be the published file, never a transfer-decoded variant
    headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={have}-"} if have else {})}
    try:
        resp = session.get(url, headers=headers, stream=True, timeout=(min(timeout, 30.0), timeout),
                           allow_redirects=True)
    except (requests.ConnectionError, requests.Timeout) as err:
        raise _Retryable(f"{type(err).__name__}: {err}") from err
    with contextlib.closing(resp):
        if resp.status_code == 416 and have:
            total = _total_from_content_range(resp.headers.get("Content-Range", ""))
            if total is not None and total == have:
                return  # the part file already holds everything
            part.unlink()  # the part file is longer than the remote file or unusable: start over
            raise _Retryable(f"server rejected resume at byte {have} (416); starting over")
        if resp.status_code in _RETRY_STATUS:
            raise _Retryable(f"HTTP {resp.status_code}")
        if resp.status_code not in (200, 206):
            raise DownloadError(f"downloading {url} failed: HTTP {resp.status_code} {resp.reason}. "
                                "Check the URL or mirror (the file may have moved).")
        if resp.status_code == 206:
            start = _start_from_content_range(resp.headers.get("Content-Range", ""))
            if start != have:
                part.unlink(missing_ok=True)
                raise _Retryable(f"server resumed at byte {start}, expected {have}; starting over")
            mode = "ab"
            total = _total_from_content_range(resp.headers.get("Content-Range", ""))
        else:  # 200: full body; the server ignored or did not get a Range header
            if have:
                log.info("%s: server does not support resuming; starting from byte 0", url)
            have, mode = 0, "wb"
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        _stream_to(resp, part, mode, have, total, url, progress)
        size = part.stat().st_size
        if total is not None and size < total:
            raise _Retryable(f"connection closed at {size} of {total} bytes")


def _stream_to(resp, part: Path, mode: str, have: int, total: int | None, url: str,
               progress: bool | None) -> None:
    import requests
    import urllib3
    from tqdm import tqdm

    bar = tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
               desc=filename_from_url(url)[:40], disable=None if progress is None else not progress,
               leave=False)
    try:
        with open(part, mode) as fh:
            # raw bytes: some servers label .tar.gz as Content-Encoding gzip, which must not be undone
            for chunk in resp.raw.stream(STREAM_CHUNK, decode_content=False):
                fh.write(chunk)
                bar.update(len(chunk))
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as err:
        raise _Retryable(f"transfer interrupted ({type(err).__name__})") from err
    finally:
        bar.close()


def _start_from_content_range(value: str) -> int | None:
    # "bytes 100-199/200"
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _total_from_content_range(value: str) -> int | None:
    # "bytes 100-199/200" or "bytes */200"
    try:
        total = value.rsplit("/", 1)[1].strip()
        return None if total == "*" else int(total)
    except (IndexError, ValueError):
        return None


# --------------------------------------------------------------------------- extraction
def extraction_marker(archive: str | Path, dest_dir: str | Path) -> Path:
    return Path(dest_dir) / f".{Path(archive).name}.extracted"


def extract_archive(archive: str | Path, dest_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Safely unpack ``archive`` into ``dest_dir``; skipped when its marker says it was done.

    Members are unpacked into a temp folder inside ``dest_dir`` and then moved into place (folders
    that already exist are merged, so several LibriSpeech parts share ``LibriSpeech/``). A failure
    leaves neither partial files nor the marker. Returns ``dest_dir``.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    marker = extraction_marker(archive, dest_dir)
    if marker.exists() and not overwrite:
        log.info("already extracted: %s", archive)
        return dest_dir
    if not archive.is_file():
        raise FileNotFoundError(f"archive not found: {archive}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest_dir, prefix=f".extract-{archive.name}-"))
    try:
        log.info("extracting %s -> %s", archive, dest_dir)
        if archive.name.lower().endswith(".zip"):
            _extract_zip(archive, tmp)
        else:
            _extract_tar(archive, tmp)
        for child in sorted(tmp.iterdir()):
            _merge_move(child, dest_dir / child.name)
        marker.write_text(json.dumps({"archive": str(archive), "size": archive.stat().st_size}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest_dir


def check_member_name(name: str, archive: Path) -> str:
    """Return the normalised relative path of a member, or raise :class:`UnsafeArchiveError`."""
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path; refusing to extract "
                                 "this archive (it may be malicious or corrupt)")
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} points outside the destination ('..'); "
                                 "refusing to extract this archive (it may be malicious or corrupt)")
    return "/".join(parts)


def _check_tar_member(member, archive: Path) -> None:
    rel = check_member_name(member.name, archive)
    if member.ischr() or member.isblk() or member.isfifo() or member.isdev():
        raise UnsafeArchiveError(f"{archive}: member {member.name!r} is a device or fifo; refusing to extract")
    if member.issym() or member.islnk():
        target = member.linkname.replace("\\", "/")
        base = posixpath.dirname(rel) if member.issym() else ""
        resolved = posixpath.normpath(posixpath.join(base, target))
        if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
            raise UnsafeArchiveError(f"{archive}: link {member.name!r} -> {member.linkname!r} points outside "
                                     "the destination; refusing to extract this archive")


def _extract_tar(archive: Path, dest: Path) -> None:
    import tarfile

    def safe_members(tar) -> Iterator:
        for member in tar:  # streamed: one pass over the compressed data
            _check_tar_member(member, archive)
            yield member

    try:
        with tarfile.open(archive, "r:*") as tar:
            # filter="data" is a second line of defence (and drops setuid bits, owners, etc.).
            tar.extractall(dest, members=safe_members(tar), filter="data")
    except UnsafeArchiveError:
        raise
    except (tarfile.TarError, EOFError, OSError) as err:
        if isinstance(err, tarfile.FilterError):
            raise UnsafeArchiveError(f"{archive}: {err}; refusing to extract this archive") from err
        raise RuntimeError(f"{archive}: cannot extract ({type(err).__name__}: {err}). The archive is "
                           "truncated or corrupt: delete it and re-run to download it again.") from err


def _extract_zip(archive: Path, dest: Path) -> None:
    import zipfile

    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:  # the central directory lists every member up front
                check_member_name(info.filename, archive)
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a symbolic link; "
                                             "refusing to extract")
            for info in infos:
                zf.extract(info, dest)
    except UnsafeArchiveError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        raise RuntimeError(f"{archive}: cannot extract ({type(err).__name__}: {err}). The archive is "
                           "truncated or corrupt: delete it and re-run to download it again.") from err


def _merge_move(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst``; when both are folders, merge recursively (files in ``src`` win)."""
    if dst.is_dir() and not dst.is_symlink() and src.is_dir() and not src.is_symlink():
        for child in src.iterdir():
            _merge_move(child, dst / child.name)
        return
    if dst.is_dir() and not dst.is_symlink():
        shutil.rmtree(dst)
    os.replace(src, dst)


def download_and_extract(resource: Resource, download_dir: str | Path, extract_dir: str | Path, *,
                         remove_archive: bool = False, **download_kwargs) -> Path:
    """Download (verified) and extract; skips both when the extraction marker exists."""
    archive = Path(download_dir) / resource.filename
    if extraction_marker(archive, extract_dir).exists():
        log.info("already downloaded and extracted: %s", resource.url)
        return Path(extract_dir)
    download(resource.url, archive, md5=resource.md5, sha256=resource.sha256, **download_kwargs)
    extract_archive(archive, extract_dir)
    if remove_archive:
        archive.unlink()
        _sidecar(archive).unlink(missing_ok=True)
    return Path(extract_dir)
