"""Session-wide fixtures: one local Ray per test session, real shared speech data when present."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DS2RAY_SHARED_DATA", REPO.parent / "shared" / "data"))

# Ray Train reports wait ~2 s each without this; tests report often.
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.1")
# A local ray.init() turns token auth on for later `ray start`s; be explicit.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TQDM_MININTERVAL", "5")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-speech folder beside the checkout; tests using it skip cleanly when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real speech data not present at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray (2 CPUs, fresh temp dir) for the whole session: each start costs 6-14 s."""
    import ray

    if ray.is_initialized():
        yield ray
        return
    temp_dir = tempfile.mkdtemp(prefix="ray_ds2ray_")
    os.environ.pop("RAY_ADDRESS", None)
    from ds2ray.raycluster import connect

    connect(2, temp_dir=temp_dir, include_dashboard=False, log_to_driver=False,
            env={"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.1"})
    yield ray
    ray.shutdown()
    shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def kenlm_ready():
    """KenLM's lmplz and build_binary are built (``make setup``); skips otherwise."""
    from ds2ray.lm.build import KenLMNotFoundError, find_kenlm_binary

    try:
        find_kenlm_binary("lmplz")
        find_kenlm_binary("build_binary")
    except KenLMNotFoundError as err:
        pytest.skip(str(err))
