"""Every subcommand (and sub-subcommand) answers --help."""

import subprocess
import sys

import pytest

from ds2ray.cli import build_parser


def _commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    out = []
    for name, p in sub.choices.items():
        out.append([name])
        nested = [a for a in p._actions if a.__class__.__name__ == "_SubParsersAction"]
        for n in nested:
            out.extend([name, child] for child in n.choices)
    return out


def test_top_level_help_lists_commands():
    proc = subprocess.run([sys.executable, "-m", "ds2ray.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for name in ("prepare", "vocab", "mean-std"):
        assert name in proc.stdout


@pytest.mark.parametrize("argv", _commands(), ids=lambda a: " ".join(a))
def test_every_subcommand_has_help(argv, capsys):
    parser = build_parser()
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(argv + ["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "usage: ds2ray" in text and len(text) > 80
