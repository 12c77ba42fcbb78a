"""From flags to a DecoderConfig: hotwords."""

from __future__ import annotations

import argparse

import pytest

from ds2ray.commands.test import add_decoder_args, decoder_config_from_args
from ds2ray.decode.options import decoder_config_for


def test_hotwords_flag_makes_a_beam_decoder_with_phrases():
    p = argparse.ArgumentParser()
    add_decoder_args(p)
    cfg = decoder_config_from_args(p.parse_args(["--hotwords", "max,new york:8"]))
    assert cfg.type == "beam" and cfg.hotwords == (("max", 10.0), ("new york", 8.0))
    assert decoder_config_for(None).hotwords == ()
    with pytest.raises(ValueError, match="--hotwords needs --decoder beam"):
        decoder_config_for(None, decoder="greedy", hotwords="max")
    with pytest.raises(ValueError, match="item 1 'max:x'"):
        decoder_config_for(None, hotwords="max:x")


def test_tune_takes_hotwords():
    from ds2ray.commands import tune

    parser = argparse.ArgumentParser()
    tune.register(parser.add_subparsers())
    args = parser.parse_args(["tune", "--checkpoint", "ckpt", "--lm", "lm.bin", "--hotwords", "new york:8"])
    cfg = tune._decoder_base(args)
    assert cfg.type == "beam" and cfg.hotwords == (("new york", 8.0),)
