"""The compiled prefix beam search (``csrc/prefix_search.cpp``): built once, cached, loaded on use.

Why pybind11 and a direct compiler call: the core is one C++17 file with no dependency but
pybind11's headers (a maintained, header-only pip package), so it builds in ~20 s with the system
compiler and loads without torch; a worker that only beam-decodes never imports torch (torch's
``cpp_extension`` would link libtorch into it). numba was the other candidate: its typed containers
make the prefix tables (hash maps of tuples, tries) awkward and its JIT costs seconds per process.

The module is built into ``$XDG_CACHE_HOME/ds2ray/ext/<hash>/`` (``~/.cache`` by default), keyed by
the source, the flags, the Python ABI and the pybind11 version, under a file lock (several spawned
decode workers may ask at once) and renamed into place when complete. ``make setup`` builds it ahead
(``python -m ds2ray.decode.native``). Without a compiler, or with ``DS2RAY_NATIVE_DECODE=0``, the
decoder runs the Python search of :mod:`ds2ray.decode.prefix_search` instead (same results, slower),
with a warning once.

Flags: ``-O3`` without ``-ffast-math`` or ``-march=native``, and ``-ffp-contract=off``, so every
score is computed with the same IEEE operations, in the same order, as the Python search.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import logging
import os
import shutil
import subprocess
import sysconfig
import tempfile
import threading
from pathlib import Path
from types import ModuleType
from typing import Iterator

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("csrc") / "prefix_search.cpp"
NAME = "ds2ray_prefix_search"
FLAGS = ["-O3", "-std=c++17", "-shared", "-fPIC", "-fvisibility=hidden", "-ffp-contract=off"]
ENV_SWITCH = "DS2RAY_NATIVE_DECODE"

_lock = threading.Lock()
_module: ModuleType | None = None
_failed: str | None = None


def enabled() -> bool:
    """False when ``DS2RAY_NATIVE_DECODE`` is 0/false/no (use the Python search)."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no")


def compiler() -> str | None:
    """The C++ compiler: ``$CXX``, else ``c++`` or ``g++`` on PATH."""
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return name
    return None


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ds2ray" / "ext"


def _build_key() -> str:
    import pybind11

    h = hashlib.sha256(SOURCE.read_bytes())
    for part in (" ".join(FLAGS), sysconfig.get_config_var("EXT_SUFFIX") or "", pybind11.__version__):
        h.update(part.encode())
    return h.hexdigest()[:16]


def built_path() -> Path:
    """Where the module for this source, these flags and this Python is (or will be) cached."""
    return cache_dir() / _build_key() / (NAME + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build(verbose: bool = False) -> Path:
    """Compile the module if its cached copy is missing; returns the shared library's path.

    Raises ``RuntimeError`` (with the compiler's output) when it cannot be built."""
    import pybind11

    target = built_path()
    if target.exists():
        return target
    cxx = compiler()
    if cxx is None:
        raise RuntimeError("no C++ compiler found (set CXX, or install g++: `make setup` does)")
    out_dir = target.parent
    with _file_lock(out_dir.with_suffix(".lock")):
        if target.exists():  # another process built it while we waited
            return target
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out_dir)) / target.name
        cmd = [cxx, *FLAGS, f"-I{pybind11.get_include()}", f"-I{sysconfig.get_paths()['include']}",
               str(SOURCE), "-o", str(tmp)]
        if verbose:
            log.info("building %s: %s", NAME, " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            shutil.rmtree(tmp.parent, ignore_errors=True)
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        os.replace(tmp, target)
        shutil.rmtree(tmp.parent, ignore_errors=True)
    return target


def load(verbose: bool = False) -> ModuleType | None:
    """The compiled module, built on first use; None if disabled or it cannot be built (the reason
    is logged once and kept in :func:`failure`)."""
    global _module, _failed
    if not enabled():
        return None
    if _module is not None or _failed is not None:
        return _module
    with _lock:
        if _module is None and _failed is None:
            try:
                path = build(verbose)
                spec = importlib.util.spec_from_file_location(NAME, path)
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                _module = module
            except Exception as err:  # no compiler, headers missing: fall back, loudly once
                _failed = f"{type(err).__name__}: {err}"
                log.warning("compiled beam search unavailable (%s); decoding uses the slower Python search. "
                            "Install a C++ compiler (make setup does) to build it.", _failed.splitlines()[0])
    return _module


def failure() -> str | None:
    """Why the build failed, if it did."""
    return _failed


if __name__ == "__main__":  # python -m ds2ray.decode.native: build now (make setup)
    logging.basicConfig(level=logging.INFO)
    module = load(verbose=True)
    print(f"compiled beam search: {'ready' if module is not None else 'unavailable: ' + str(failure())}")
    raise SystemExit(0 if module is not None else 1)
