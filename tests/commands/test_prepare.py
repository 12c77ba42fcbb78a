"""``ds2ray prepare``: every corpus answers ``--help`` with its flags."""

from __future__ import annotations

import pytest

from ds2ray.cli import main


def test_every_corpus_has_help(capsys):
    for name in ("librispeech", "aishell", "voxforge", "an4", "folder"):
        with pytest.raises(SystemExit) as exit_:
            main(["prepare", name, "--help"])
        assert exit_.value.code == 0
        assert "--out-dir" in capsys.readouterr().out
