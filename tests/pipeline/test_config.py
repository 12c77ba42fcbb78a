"""Recipe configs: serialized dataclasses, typed and checked ``--set`` overrides, corpus options
checked against the corpus's options dataclass, and one place for the tune grid's defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ds2ray.config import ConfigError
from ds2ray.pipeline.config import SECTIONS, DataConfig, RecipeConfig, plain
from ds2ray.pipeline.data import corpus_options
from ds2ray.tune.grid import GridSpec, TuneGridConfig

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "jobs" / "tiny" / "config.yaml"


def test_set_overrides_are_typed_and_checked():
    recipe = RecipeConfig.load(TINY, ["train.num_workers=2", "train.max_minutes=1.5", "lm.order=0",
                                      "data.test=[dev, test]", "test.decoders=[greedy]"])
    assert recipe.train.num_workers == 2 and recipe.train.max_minutes == 1.5
    assert recipe.lm.order == 0 and recipe.data.test == ("dev", "test") and recipe.test.decoders == ("greedy",)
    with pytest.raises(ConfigError, match="no field 'num_worker'.*num_workers"):
        RecipeConfig.load(TINY, ["train.num_worker=2"])
    with pytest.raises(ConfigError, match="SECTION.FIELD=VALUE"):
        RecipeConfig.load(TINY, ["trainer.epochs=3"])
    with pytest.raises(ConfigError, match="section 'train'.*num_workers"):
        RecipeConfig.load(TINY, ["train.num_workers=0"])


def test_data_options_are_overridden_one_by_one_or_whole():
    recipe = RecipeConfig.load(TINY, ["data.options.num_utterances=30", "data.options.seed=4"])
    assert recipe.data.options == {"num_utterances": 30, "heldout_timbres": 1, "dev_fraction": 0.1,
                                   "test_fraction": 0.1, "num_workers": 2, "seed": 4}
    assert RecipeConfig.load(TINY, ["data.options={hours: 0.5}"]).data.options == {"hours": 0.5}
    with pytest.raises(ConfigError, match="only data.options takes a sub-key"):
        RecipeConfig.load(TINY, ["train.lr.x=1"])
    with pytest.raises(ConfigError, match="DataConfig.options must be a mapping"):
        DataConfig(options=["--num-utterances", "60"])


def test_corpus_options_are_checked_against_the_corpus_and_name_the_field():
    corpus, options = corpus_options("synth", {"num_utterances": 60, "dev_fraction": 0.1})
    assert corpus.name == "synth" and options.num_utterances == 60 and options.dev_fraction == 0.1
    with pytest.raises(ConfigError, match=r"data.options \(corpus 'synth'\).*num_utterence"):
        corpus_options("synth", {"num_utterence": 60})
    with pytest.raises(ConfigError, match=r"data.options \(corpus 'synth'\).*dev_fraction"):
        corpus_options("synth", {"dev_fraction": 2.0})
    with pytest.raises(ConfigError, match="data.corpus"):
        corpus_options("no-such-corpus", {})


def test_save_writes_every_field_and_loads_back(tmp_path):
    recipe = RecipeConfig.load(TINY, ["data.options.seed=3"])
    recipe.save(tmp_path / "config.yaml", header="# test\n")
    raw = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert list(raw) == ["name", *SECTIONS] and raw == plain(recipe.to_dict())
    assert RecipeConfig.load(tmp_path / "config.yaml") == recipe


def test_the_tune_grid_defaults_live_in_one_place():
    from ds2ray.cli import build_parser

    grid = TuneGridConfig()
    assert grid.grid == GridSpec() and grid.num_utterances is None
    assert TuneGridConfig(num_batches=3, batch_size=10).num_utterances == 30
    args = build_parser().parse_args(["tune", "--checkpoint", "c", "--manifest", "m"])
    assert {k: getattr(args, k) for k in grid.to_dict()} == grid.to_dict()
    with pytest.raises(ConfigError, match="batch_size"):
        TuneGridConfig(batch_size=0)
