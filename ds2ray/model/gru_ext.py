"""The C++ GRU time loop (``csrc/gru_recurrence.cpp``), built on first use with torch's extension
builder and cached (``~/.cache/torch_extensions``; ``make setup`` builds it ahead).

:mod:`ds2ray.model.fused_gru` runs its recurrence here when the build is available: the same
arithmetic as its Python loop, with each step's gate math fused into one pass over memory instead
of ~20 small ATen calls (each paying Python and dispatch overhead, which at the batch sizes of CPU
training cost as much as the math). Without a C++ compiler, or with ``DS2RAY_CPP_GRU=0``, the
Python loop runs instead, with a warning once.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("csrc") / "gru_recurrence.cpp"
NAME = "ds2ray_gru_recurrence"
_lock = threading.Lock()
_module: ModuleType | None = None
_failed: str | None = None


def enabled() -> bool:
    """False when ``DS2RAY_CPP_GRU`` is 0/false/no (use the Python loop)."""
    return os.environ.get("DS2RAY_CPP_GRU", "1").strip().lower() not in ("0", "false", "no")


def cpu_flags() -> set[str]:
    """The x86 feature flags of this CPU (empty where /proc/cpuinfo is missing)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def build_flags() -> tuple[str, list[str]]:
    """(module name suffix, compiler flags). On AVX2 + FMA CPUs the gate loops are vectorised, with
    glibc's vector expf/tanhf (libmvec, hence ``-ffast-math``); the suffix keeps that build apart from
    a portable one in a shared extension cache."""
    if {"avx2", "fma"} <= cpu_flags():
        return "_avx2", ["-O3", "-mavx2", "-mfma", "-ffast-math", "-fopenmp-simd"]
    return "", ["-O3"]


def load(verbose: bool = False) -> ModuleType | None:
    """The compiled module, building it on the first call (~1 min); None if disabled or it cannot
    be built (the reason is logged once and kept in :func:`failure`)."""
    global _module, _failed
    if _module is not None or not enabled():
        return _module
    if _failed is not None:
        return None
    with _lock:
        if _module is None and _failed is None:
            try:
                from torch.utils.cpp_extension import load as build

                suffix, flags = build_flags()
                _module = build(name=NAME + suffix, sources=[str(SOURCE)], extra_cflags=flags, verbose=verbose)
            except Exception as err:  # no compiler, no ninja, headers missing: fall back, loudly once
                _failed = f"{type(err).__name__}: {err}"
                log.warning("C++ GRU recurrence unavailable (%s); training uses the slower Python loop. "
                            "Install a C++ compiler and ninja (make setup does) to build it.", _failed.splitlines()[0])
    return _module


def failure() -> str | None:
    """Why the build failed, if it did."""
    return _failed


if __name__ == "__main__":  # python -m ds2ray.model.gru_ext: build now (make setup)
    logging.basicConfig(level=logging.INFO)
    module = load(verbose=False)
    print(f"C++ GRU recurrence: {'ready' if module is not None else 'unavailable: ' + str(failure())}")
    raise SystemExit(0 if module is not None else 1)
