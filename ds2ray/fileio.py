"""Local paths and fsspec URLs behind one small API, plus atomic writes: the ground floor.

A path is a ``str``: either a local path or an fsspec URL (``s3://bucket/key``, ``file:///x``,
``tar://member::s3://bucket/shard.tar``), or a shard member reference (``tarmember://...``, see
:mod:`ds2ray.tarmember`). Relative references resolve against a base folder.

This module imports only :mod:`ds2ray.tarmember` (which imports nothing from ds2ray): everything
that reads or writes files can import it.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

from ds2ray.tarmember import MemberRef, ShardError, SliceFile, is_member_ref

#: Shard members up to this size are fetched with one ranged GET; larger ones are read lazily in blocks.
WHOLE_MEMBER_LIMIT = 16 * 2**20
#: Block size for reading remote files sequentially (large shard members, streamed shards).
REMOTE_BLOCK_SIZE = 16 * 2**20


def is_url(path: str) -> bool:
    """True for fsspec URLs such as ``s3://b/k`` or ``tar://m::file:///x.tar``."""
    return "://" in path


def is_absolute(path: str) -> bool:
    return is_url(path) or os.path.isabs(path)


def dirname(path: str) -> str:
    """Parent folder of a local path or URL (for chained URLs, of the outermost one)."""
    if is_url(path):
        protocol, rest = path.split("://", 1)
        return f"{protocol}://{posixpath.dirname(rest)}"
    return os.path.dirname(os.path.abspath(path))


def resolve(ref: str, base_dir: str) -> str:
    """Resolve ``ref`` (as written in a manifest) against ``base_dir`` (the manifest's folder)."""
    if is_absolute(ref):
        return ref
    if is_url(base_dir):
        protocol, rest = base_dir.split("://", 1)
        return f"{protocol}://{posixpath.normpath(posixpath.join(rest, ref))}"
    return os.path.normpath(os.path.join(base_dir, ref))


def relative_to(path: str, base_dir: str) -> str:
    """Inverse of :func:`resolve` for local paths under ``base_dir``; other paths are returned as is."""
    if is_url(path) or is_url(base_dir):
        return path
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(base_dir))
    return path if rel.startswith("..") else rel


def is_local(path: str) -> bool:
    """True for a local path or a ``file://`` URL (read without fsspec)."""
    return not is_url(path) or path.startswith("file://")


def local_path(path: str) -> str:
    """``path`` without a ``file://`` prefix."""
    return path[len("file://"):] if path.startswith("file://") else path


def storage_options_from_env() -> dict[str, Any]:
    """S3 options from the usual AWS environment, plus ``AWS_ENDPOINT_URL`` for S3-compatible stores."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return {"client_kwargs": {"endpoint_url": endpoint}} if endpoint else {}


def filesystem(url: str):
    """``(fsspec filesystem, path)`` for a URL; S3 endpoint and credentials from the environment."""
    import fsspec

    return fsspec.core.url_to_fs(url, **(storage_options_from_env() if url.startswith("s3://") else {}))


@contextlib.contextmanager
def open_file(path: str, mode: str = "rb", **storage_options: Any) -> Iterator[IO]:
    """Open a local path or fsspec URL. Local paths skip fsspec entirely (it is the hot path).

    A shard member reference (``tarmember://...``, see :mod:`ds2ray.tarmember`) opens read-only
    as a seekable file over the member's byte range (:func:`open_member`).
    """
    if is_member_ref(path):
        if mode != "rb":
            raise ValueError(f"{path}: shard members open read-only in binary mode ('rb'), not {mode!r}")
        with open_member(path) as fh:
            yield fh
        return
    if is_local(path):
        with open(local_path(path), mode) as fh:
            yield fh
        return
    import fsspec

    opts = storage_options or (storage_options_from_env() if path.startswith("s3://") else {})
    with fsspec.open(path, mode, **opts) as fh:
        yield fh


def exists(path: str) -> bool:
    if is_member_ref(path):
        return member_exists(path)
    if not is_url(path):
        return os.path.exists(path)
    fs, p = filesystem(path)
    return fs.exists(p)


@contextlib.contextmanager
def open_member(url: str) -> Iterator[IO[bytes]]:
    """Open a ``tarmember://`` reference as a seekable binary file over the member's bytes.

    Raises ``FileNotFoundError`` when the shard is missing and :class:`~ds2ray.tarmember.ShardError`
    when the shard is shorter than the reference promises.
    """
    ref = MemberRef.parse(url)
    if is_local(ref.shard):
        with open(local_path(ref.shard), "rb") as fh:
            ref.check_extent(os.fstat(fh.fileno()).st_size)
            yield io.BufferedReader(SliceFile(fh, ref.offset, ref.size), buffer_size=1 << 16)
        return
    fs, path = filesystem(ref.shard)
    if ref.size <= WHOLE_MEMBER_LIMIT:
        data = fs.cat_file(path, start=ref.offset, end=ref.offset + ref.size)
        if len(data) != ref.size:
            raise ShardError(f"{url}: shard returned {len(data)} bytes, the reference promises {ref.size}; "
                             "the shard is truncated or was replaced: re-run `ds2ray upload`.")
        yield io.BytesIO(data)
        return
    with fs.open(path, "rb", block_size=REMOTE_BLOCK_SIZE) as fh:
        ref.check_extent(fh.size)
        yield io.BufferedReader(SliceFile(fh, ref.offset, ref.size), buffer_size=1 << 20)


def member_exists(url: str) -> bool:
    """True when the shard exists and is long enough to hold the referenced member."""
    ref = MemberRef.parse(url)
    try:
        if is_local(ref.shard):
            size = os.path.getsize(local_path(ref.shard))
        else:
            fs, path = filesystem(ref.shard)
            size = fs.size(path)
    except FileNotFoundError:
        return False
    return ref.offset + ref.size <= size


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Write to a temp file beside ``path`` and rename on success: a crash leaves no half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
