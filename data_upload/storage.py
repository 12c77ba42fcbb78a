"""The destination: any fsspec URL (``s3://``, ``file://``, a local folder), uploads with retry and
backoff, verification, and credential scrubbing.

Credentials come from botocore's usual chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/
``AWS_SESSION_TOKEN``, ``AWS_PROFILE`` or ``--profile``, config files, instance roles); the endpoint
from ``--endpoint-url`` or ``AWS_ENDPOINT_URL``. Nothing here logs or raises them: every message that
leaves this module goes through :func:`scrub`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ACCESS_KEY_ID")
_SECRET_PATTERNS = (
    (re.compile(r"(://)[^/@\s:]+:[^/@\s]+@"), r"\1***@"),  # user:password@host
    (re.compile(r"(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s\"']+", re.I), r"\1***"),
    (re.compile(r"((?:aws_)?(?:secret_access_key|session_token|secret)['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+", re.I), r"\1***"),
)


class UploadError(RuntimeError):
    """The upload cannot go on; the message says what to check. Never contains credentials."""


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove credential values (from the environment, ``secrets`` and URL/query patterns) from ``text``."""
    values = [os.environ.get(k, "") for k in _SECRET_ENV] + list(secrets)
    for value in sorted({v for v in values if len(v) >= 4}, key=len, reverse=True):
        text = text.replace(value, "***")
    for pattern, repl in _SECRET_PATTERNS:
        text = pattern.sub(repl, text)
    return text


@dataclass(frozen=True)
class StorageOptions:
    endpoint_url: str | None = None
    profile: str | None = None

    def for_url(self, url: str) -> dict[str, Any]:
        if not url.startswith("s3://"):
            return {}
        opts: dict[str, Any] = {}
        endpoint = self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            # no region_name here: S3-compatible test servers reject bucket calls with one (STACK.md)
            opts["client_kwargs"] = {"endpoint_url": endpoint}
        if self.profile:
            opts["profile"] = self.profile
        return opts


class Destination:
    """A folder on any fsspec filesystem; ``url(rel)`` is what manifests store, ``path(rel)`` what fs takes."""

    def __init__(self, url: str, options: StorageOptions) -> None:
        import fsspec

        if "://" not in url:
            url = os.path.abspath(url)
        self.url_root = url.rstrip("/")
        self.fs, root = fsspec.core.url_to_fs(self.url_root, **options.for_url(url))
        self.root = root.rstrip("/")
        self.is_local = "file" in _protocols(self.fs)
        self.is_s3 = "s3" in _protocols(self.fs)

    def url(self, rel: str) -> str:
        """Absolute reference for manifests: a local absolute path, or the URL."""
        return f"{self.root}/{rel}" if self.is_local else f"{self.url_root}/{rel}"

    def path(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def display(self) -> str:
        return scrub(self.url_root)

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write a small file so that it appears whole or not at all (temp + rename locally; one PUT remotely)."""
        path = self.path(rel)
        if self.is_local:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            return
        self.fs.pipe_file(path, data)

    def read_bytes(self, rel: str) -> bytes | None:
        try:
            return self.fs.cat_file(self.path(rel))
        except FileNotFoundError:
            return None

    def remove(self, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.path(rel))

    def list(self, rel: str) -> list[str]:
        """Names directly under ``rel`` (empty when the folder does not exist)."""
        self.fs.invalidate_cache(self.path(rel))
        try:
            return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self.path(rel), detail=False))
        except FileNotFoundError:
            return []

    def info(self, rel: str) -> dict[str, Any] | None:
        self.fs.invalidate_cache(self.path(rel))
        try:
            return self.fs.info(self.path(rel))
        except FileNotFoundError:
            return None

    def check_writable(self, probe_rel: str) -> None:
        """Write and delete a tiny object: fails early and clearly on bad credentials or a missing bucket."""
        try:
            self.write_bytes(probe_rel, b"ds2ray upload probe\n")
            self.remove(probe_rel)
        except Exception as err:  # noqa: BLE001 - turned into one clear, scrubbed message
            raise describe_error(err, self.display()) from None


def _protocols(fs) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)


def describe_error(err: BaseException, where: str) -> UploadError:
    """A scrubbed, actionable UploadError for a storage exception."""
    detail = scrub(f"{type(err).__name__}: {err}")
    if isinstance(err, PermissionError):
        return UploadError(f"access denied writing to {where} ({detail}). Check the credentials "
                           "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or --profile) and that they may "
                           "write there, and --endpoint-url for S3-compatible stores.")
    if isinstance(err, FileNotFoundError):
        return UploadError(f"destination {where} does not exist ({detail}). Create the bucket first "
                           "(e.g. `aws s3 mb`), or check the URL and --endpoint-url.")
    return UploadError(f"storage error at {where}: {detail}")


FATAL_ERRORS: tuple[type[BaseException], ...] = (PermissionError, FileNotFoundError, UploadError)


def with_retries(fn: Callable[[], T], what: str, *, retries: int, backoff: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """Call ``fn``; on a transient error wait ``backoff * 2**attempt`` (+ up to 50% jitter) and retry.

    Access and not-found errors are not retried. After ``retries`` retries the last error is raised.
    """
    for attempt in range(retries + 1):
        try:
            return fn()
        except FATAL_ERRORS:
            raise
        except Exception as err:  # noqa: BLE001 - transient storage errors come in many types
            if attempt == retries:
                raise
            delay = backoff * 2**attempt * (1 + 0.5 * random.random())
            log.warning("%s failed (%s); retry %d/%d in %.1f s", what, scrub(f"{type(err).__name__}: {err}"),
                        attempt + 1, retries, delay)
            sleep(delay)
    raise AssertionError("unreachable")


class RateLimiter:
    """Caps the average upload rate across threads (``bytes_per_s`` <= 0: no limit)."""

    def __init__(self, bytes_per_s: float) -> None:
        self.rate, self._sent, self._start = bytes_per_s, 0, time.monotonic()
        self._lock = threading.Lock()

    def wait(self, nbytes: int) -> None:
        if self.rate <= 0:
            return
        with self._lock:
            self._sent += nbytes
            due = self._start + self._sent / self.rate
        time.sleep(max(0.0, due - time.monotonic()))


def normalize_etag(etag: str | None) -> str:
    return (etag or "").strip('"').lower()
