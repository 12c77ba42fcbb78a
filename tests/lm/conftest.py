from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def kenlm_ready():
    from ds2ray.lm.build import KenLMNotFoundError, find_kenlm_binary

    try:
        find_kenlm_binary("lmplz")
        find_kenlm_binary("build_binary")
    except KenLMNotFoundError as err:
        pytest.skip(str(err))
