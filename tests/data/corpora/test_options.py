"""The corpus registry and the options dataclasses behind ``ds2ray prepare NAME``: every corpus's
flags parse back to its ``Options()`` defaults, flag values land in the right fields, and a bad
value is an error that names the field."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import typing

import pytest

from ds2ray.cli import build_parser, main
from ds2ray.config import ConfigError
from ds2ray.data.corpora import corpus_names, get_corpus
from ds2ray.data.corpora.flags import options_from_args


def _parse(name: str, *flags: str):
    corpus = get_corpus(name)
    fixed = [corpus.out_flag.flag, "out"]
    if corpus.source_flag is not None and corpus.source_flag.required:
        fixed += [corpus.source_flag.flag, "src"]
    args = build_parser().parse_args(["prepare", name, *fixed, *flags])
    return options_from_args(corpus.options, args)


def test_registry_lists_every_builder_and_rejects_unknown_names():
    assert {"synth", "librispeech", "aishell", "voxforge", "an4", "folder", "fsdd", "english", "noise",
            "impulse"} <= set(corpus_names())
    for name in corpus_names():
        corpus = get_corpus(name)
        assert corpus.name == name and corpus.help and callable(corpus.prepare)
        assert dataclasses.is_dataclass(corpus.options) and corpus.options.__dataclass_params__.frozen
    with pytest.raises(ValueError, match="unknown corpus 'nope'; choose one of synth, librispeech"):
        get_corpus("nope")


def test_importing_the_registry_and_every_builder_imports_nothing_heavy():
    code = ("import sys, ds2ray.data.corpora as c\n"
            "[c.get_corpus(n) for n in c.corpus_names()]\n"
            "import ds2ray.commands.prepare\n"
            "print([m for m in ('torch', 'numpy', 'soundfile', 'ray', 'requests', 'tqdm') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", corpus_names())
def test_cli_defaults_round_trip_to_the_options_dataclass(name):
    options_cls = get_corpus(name).options
    assert _parse(name) == options_cls()
    assert options_cls.from_dict(json.loads(json.dumps(options_cls().to_dict()))) == options_cls()


def test_flag_values_land_in_their_fields():
    synth = _parse("synth", "--engines", "espeak,flite", "--num-utterances", "7", "--speed-range", "0.9", "1.1",
                   "--balance", "engine", "--espeak-variants", "all", "--num-workers", "3")
    assert synth == get_corpus("synth").options(engines="espeak,flite", num_utterances=7, speed_range=(0.9, 1.1),
                                                balance="engine", espeak_variants="all", num_workers=3)
    assert synth.config().min_speed == 0.9 and synth.config().hours is None
    vox = _parse("voxforge", "--dialects", "american", "british", "--dev-fraction", "0.1", "--max-archives", "4")
    assert vox.dialects == ("american", "british") and vox.dev_fraction == 0.1 and vox.max_archives == 4
    folder = _parse("folder", "--speaker-from-dir", "--language", "zh")
    assert folder.speaker_from_dir is True and folder.language == "zh"
    libri = _parse("librispeech", "--parts", "dev-clean", "test-clean", "--source-dir", "x")
    assert libri.parts == ("dev-clean", "test-clean") and libri.source_dir == "x"
    assert _parse("english", "--synth-hours", "2", "--test-every", "4") == \
        get_corpus("english").options(synth_hours=2.0, test_every=4)


def _wrong_type(tp) -> object:
    """A value of the wrong type for a field annotated ``tp``."""
    return 5 if str in (tp, *typing.get_args(tp)) else "not-a-value"


@pytest.mark.parametrize("name", corpus_names())
def test_a_value_of_the_wrong_type_names_the_field(name):
    options_cls = get_corpus(name).options
    hints = typing.get_type_hints(options_cls)
    for f in dataclasses.fields(options_cls):
        with pytest.raises(ConfigError, match=rf"{options_cls.__name__}\.{f.name} \(--{f.name.replace('_', '-')}\)"):
            options_cls(**{f.name: _wrong_type(hints[f.name])})


@pytest.mark.parametrize("name, field, value", [
    ("synth", "dev_fraction", 1.5), ("synth", "heldout_timbres", -1), ("synth", "speed_range", (1.2, 0.9)),
    ("synth", "balance", "speaker"), ("librispeech", "mirror", "mars"), ("librispeech", "parts", ("dev-dirty",)),
    ("voxforge", "retries", -1), ("folder", "language", "fr"), ("an4", "url", "not a url"),
    ("fsdd", "dev_fraction", 1.0), ("english", "test_every", 1), ("noise", "min_duration", -1.0),
    ("aishell", "num_workers", 0),
])
def test_a_bad_value_names_the_field(name, field, value):
    options_cls = get_corpus(name).options
    with pytest.raises(ConfigError, match=rf"{options_cls.__name__}\.{field} "):
        options_cls(**{field: value})


def test_a_bad_flag_value_on_the_command_line_names_the_field(tmp_path, capsys):
    assert main(["prepare", "synth", "--out-dir", str(tmp_path), "--dev-fraction", "1.5"]) == 2
    err = capsys.readouterr().err
    assert "SynthOptions.dev_fraction (--dev-fraction) must be a share in [0, 1), got 1.5" in err
    assert not list(tmp_path.iterdir())


def test_a_download_folder_and_an_extracted_tree_exclude_each_other(tmp_path):
    from ds2ray.data.corpora.an4 import AN4Options, prepare_an4

    with pytest.raises(SystemExit):
        build_parser().parse_args(["prepare", "an4", "--out-dir", "o", "--data-dir", "d", "--source-dir", "s"])
    with pytest.raises(ValueError, match="not both"):
        prepare_an4(tmp_path, tmp_path / "d", AN4Options(source_dir=str(tmp_path / "s")))
