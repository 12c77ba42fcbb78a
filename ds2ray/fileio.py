"""Local paths and fsspec URLs behind one small API, plus atomic writes.

A path is a ``str``: either a local path or an fsspec URL (``s3://bucket/key``, ``file:///x``,
``tar://member::s3://bucket/shard.tar``). Relative references resolve against a base folder.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator


#: Prefix of shard member references (defined in :mod:`ds2ray.data.shards`, kept here import-free).
MEMBER_PREFIX = "tarmember://"


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


def storage_options_from_env() -> dict[str, Any]:
    """S3 options from the usual AWS environment, plus ``AWS_ENDPOINT_URL`` for S3-compatible stores."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return {"client_kwargs": {"endpoint_url": endpoint}} if endpoint else {}


@contextlib.contextmanager
def open_file(path: str, mode: str = "rb", **storage_options: Any) -> Iterator[IO]:
    """Open a local path or fsspec URL. Local paths skip fsspec entirely (it is the hot path).

    A shard member reference (``tarmember://...``, see :mod:`ds2ray.data.shards`) opens read-only
    as a seekable file over the member's byte range.
    """
    if path.startswith(MEMBER_PREFIX):
        from ds2ray.data.shards import open_member

        if mode != "rb":
            raise ValueError(f"{path}: shard members open read-only in binary mode ('rb'), not {mode!r}")
        with open_member(path) as fh:
            yield fh
        return
    if not is_url(path) or path.startswith("file://"):
        local = path[len("file://"):] if path.startswith("file://") else path
        with open(local, mode) as fh:
            yield fh
        return
    import fsspec

    opts = storage_options or (storage_options_from_env() if path.startswith("s3://") else {})
    with fsspec.open(path, mode, **opts) as fh:
        yield fh


def exists(path: str) -> bool:
    if path.startswith(MEMBER_PREFIX):
        from ds2ray.data.shards import member_exists

        return member_exists(path)
    if not is_url(path):
        return os.path.exists(path)
    import fsspec

    fs, p = fsspec.core.url_to_fs(path, **(storage_options_from_env() if path.startswith("s3://") else {}))
    return fs.exists(p)


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
