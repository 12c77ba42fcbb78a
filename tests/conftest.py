"""Session-wide fixtures: one local Ray per test session, real shared speech data when present, KenLM,
the overfit model shared by ``tests/serve`` and ``tests/pretrained``, and the tuning data set shared
by ``tests/tune`` and ``tests/commands/test_tune.py``."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ds2ray.data.vocab import Vocabulary

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DS2RAY_SHARED_DATA", REPO.parent / "shared" / "data"))

# Ray Train reports wait ~2 s each without this; tests report often.
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.1")
# Ray Train starts a preemption-watcher actor (one more Python process) with every worker group, to
# notice nodes being drained; nothing drains a test's nodes, and each process start costs seconds on
# 2 cores. Ray Train passes this on from the driver to its controller (ENV_VARS_TO_PROPAGATE).
os.environ.setdefault("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0")
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
def overfit_model(tmp_path_factory):
    """:func:`ds2ray.testing.overfit.train_overfit`'s model (about 30 s of one CPU, once a session);
    skips without espeak-ng."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (make setup installs it)")
    from ds2ray.testing.overfit import train_overfit

    return train_overfit(tmp_path_factory.mktemp("overfit"))


@pytest.fixture(scope="session")
def kenlm_ready():
    """KenLM's lmplz and build_binary are built (``make setup``); skips otherwise."""
    from ds2ray.lm.build import KenLMNotFoundError, find_kenlm_binary

    try:
        find_kenlm_binary("lmplz")
        find_kenlm_binary("build_binary")
    except KenLMNotFoundError as err:
        pytest.skip(str(err))


NUM_DEV = 10  # tune_data's dev utterances
NUM_LM = 400  # sentences tune_data's LM is built from (the dev sentences not among them)


@dataclass(frozen=True)
class TuneData:
    log_probs: list[np.ndarray]
    refs: list[str]
    vocab: Vocabulary
    lm_path: str


@pytest.fixture(scope="session")
def tune_data(tmp_path_factory, kenlm_ready) -> TuneData:
    """A real KenLM 3-gram built from real sentences, and synthetic peaky CTC log-probs of other real
    sentences with letter confusions, so that alpha and beta change the decoded text (the grid works
    on cached log-probs, so no acoustic model is needed)."""
    from ds2ray.data.english_text import builtin_sentences
    from ds2ray.lm.corpus import preprocess_english
    from ds2ray.testing.lm import build_tiny_lm
    from ds2ray.testing.logprobs import synthetic_log_probs

    en = Vocabulary.english()
    sentences = list(builtin_sentences())[: NUM_DEV + NUM_LM]
    lm = build_tiny_lm(tmp_path_factory.mktemp("tune_lm"), sentences[NUM_DEV:]).model_path
    refs = [preprocess_english(s) for s in sentences[:NUM_DEV]]
    rng = np.random.default_rng(0)
    return TuneData([synthetic_log_probs(r, en, rng, "confusable") for r in refs], refs, en, str(lm))
