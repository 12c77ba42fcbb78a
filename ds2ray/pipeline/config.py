"""A recipe's settings: ``config.yaml`` holds one serialized dataclass per section.

==========  ==============================================  =======================================
section     dataclass                                       used by the stages
==========  ==============================================  =======================================
data        :class:`DataConfig`                             prepare, mean-std, vocab, lm, train...
features    :class:`ds2ray.data.features.FeatureConfig`     mean-std, train
model       :class:`ds2ray.model.config.ModelConfig`        train
train       :class:`ds2ray.train.config.TrainConfig`        train
lm          :class:`LMConfig`                               lm
decoder     :class:`ds2ray.decode.base.DecoderConfig`       tune, test, infer
tune        :class:`ds2ray.tune.grid.TuneGridConfig`        tune
test        :class:`TestConfig`                             tune, test, infer
==========  ==============================================  =======================================

:meth:`RecipeConfig.load` reads the YAML and applies ``SECTION.FIELD=VALUE`` overrides
(``--set``); :meth:`RecipeConfig.save` writes it back with every field listed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from ds2ray.config import ConfigBase, ConfigError
from ds2ray.data.features import FeatureConfig
from ds2ray.decode.base import DecoderConfig
from ds2ray.model.config import ModelConfig
from ds2ray.train.config import TrainConfig
from ds2ray.tune.grid import TuneGridConfig


@dataclass(frozen=True)
class DataConfig(ConfigBase):
    """Where a recipe's manifests come from and how the data-derived files are built.

    ``corpus``: a corpus of :func:`ds2ray.data.corpora.get_corpus` (synth, librispeech, aishell,
    voxforge, an4, folder, fsdd, english...). ``options``: its options, the fields of its options
    dataclass (``ds2ray prepare CORPUS``'s flags without dashes, ``-`` as ``_``: ``synth_hours: 12``).
    ``source``: where the corpus lives or is downloaded to (relative paths resolve against the
    experiment's base folder, the repository root for ``jobs/``). ``train``/``dev``/``test``: the
    split names whose ``manifest.<split>.jsonl`` each stage uses.
    """

    corpus: str = "synth"
    options: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    train: tuple[str, ...] = ("train",)
    dev: tuple[str, ...] = ("dev",)
    test: tuple[str, ...] = ("test",)
    language: str = "en"
    mean_std_samples: int = 1000
    vocab_count_threshold: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.options, Mapping) or not all(isinstance(k, str) for k in self.options):
            raise ConfigError(f"DataConfig.options must be a mapping of option names to values "
                              f"(e.g. {{num_utterances: 60}}), got {self.options!r}")
        object.__setattr__(self, "options", dict(self.options))
        for name in ("train", "dev", "test"):
            object.__setattr__(self, name, tuple(str(x) for x in getattr(self, name)))
        if not self.train:
            raise ConfigError("DataConfig.train: name at least one split to train on")
        if self.language not in ("en", "zh"):
            raise ConfigError(f"DataConfig.language must be 'en' or 'zh', got {self.language!r}")


@dataclass(frozen=True)
class LMConfig(ConfigBase):
    """The n-gram LM built from the recipe's own transcripts (``order`` 0: no LM, no beam+LM decoding)."""

    order: int = 0
    prune: str = ""
    splits: tuple[str, ...] = ("train",)  # transcripts of these splits form the corpus
    texts: tuple[str, ...] = ()  # plus these text files (base-relative; "{exp}/..." = in the experiment)
    binary: bool = False  # a KenLM binary instead of an ARPA file
    quantize: bool = False  # with binary: the seed's quantised trie (-a 22 -q 8 -b 8), ~3x smaller than probing

    def __post_init__(self) -> None:
        object.__setattr__(self, "splits", tuple(self.splits))
        object.__setattr__(self, "texts", tuple(self.texts))
        if self.order < 0 or self.order == 1:
            raise ConfigError(f"LMConfig.order must be 0 (no LM) or >= 2, got {self.order}")


@dataclass(frozen=True)
class TestConfig(ConfigBase):
    """Evaluation: which decoders the test stage runs, the headline rate, the acoustic workers."""

    __test__ = False  # not a pytest test class

    decoders: tuple[str, ...] = ("greedy", "beam")  # beam runs only when the recipe builds an LM
    error_rate_type: str = "wer"
    num_workers: int = 2  # Ray actors running the acoustic model (0: in the driver process)
    use_gpu: bool = False
    infer_samples: int = 10

    def __post_init__(self) -> None:
        object.__setattr__(self, "decoders", tuple(self.decoders))
        unknown = set(self.decoders) - {"greedy", "beam"}
        if unknown:
            raise ConfigError(f"TestConfig.decoders: unknown {sorted(unknown)}; use greedy and/or beam")
        if self.error_rate_type not in ("wer", "cer"):
            raise ConfigError(f"TestConfig.error_rate_type must be 'wer' or 'cer', got {self.error_rate_type!r}")


#: config.yaml section -> dataclass, in file order.
SECTIONS: dict[str, type[ConfigBase]] = {
    "data": DataConfig,
    "features": FeatureConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "lm": LMConfig,
    "decoder": DecoderConfig,
    "tune": TuneGridConfig,
    "test": TestConfig,
}


@dataclass(frozen=True)
class RecipeConfig:
    """A whole recipe: its name plus one dataclass per section of ``config.yaml``."""

    name: str
    data: DataConfig
    features: FeatureConfig
    model: ModelConfig
    train: TrainConfig
    lm: LMConfig
    decoder: DecoderConfig
    tune: TuneGridConfig
    test: TestConfig

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **{s: getattr(self, s).to_dict() for s in SECTIONS}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "config") -> "RecipeConfig":
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a mapping with 'name' and sections {list(SECTIONS)}")
        unknown = sorted(set(data) - {"name", *SECTIONS})
        if unknown:
            raise ConfigError(f"{source}: unknown top-level key(s) {unknown}; expected 'name' and {list(SECTIONS)}")
        if not isinstance(data.get("name"), str) or not data["name"]:
            raise ConfigError(f"{source}: 'name' (the recipe's name, e.g. fsdd) is missing")
        parts: dict[str, Any] = {"name": data["name"]}
        for section, kind in SECTIONS.items():
            try:
                parts[section] = kind.from_dict(data.get(section) or {})
            except (ConfigError, TypeError, ValueError) as err:
                raise ConfigError(f"{source}: section '{section}': {err}") from err
        return cls(**parts)

    @classmethod
    def load(cls, path: str | Path, overrides: list[str] | None = None) -> "RecipeConfig":
        """Read ``config.yaml`` and apply ``section.field=value`` overrides (values parsed as YAML)."""
        data = read_yaml(path)
        for item in overrides or []:
            apply_override(data, item)
        return cls.from_dict(data, source=str(path))

    def save(self, path: str | Path, header: str = "") -> None:
        """Write as YAML: sections as blocks, lists inline; ``header`` (comment lines) first."""
        text = yaml.dump(plain(self.to_dict()), Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True)
        Path(path).write_text(header + text, encoding="utf-8")


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The raw mapping of a ``config.yaml`` (before the dataclasses check it)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError as err:
        raise FileNotFoundError(f"recipe config {path} not found") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with 'name' and sections {list(SECTIONS)}")
    return data


class _Dumper(yaml.SafeDumper):
    """Mappings in block style, lists in flow style (``[train]``, ``[[11, 11], [11, 11]]``)."""


_Dumper.add_representer(list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))
_Dumper.add_representer(dict, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v.items(), flow_style=False))


def plain(value: Any) -> Any:
    """Tuples -> lists, recursively (YAML and JSON friendly)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def apply_override(data: dict[str, Any], item: str) -> None:
    """``train.max_minutes=1`` -> data["train"]["max_minutes"] = 1 (the value is parsed as YAML).

    ``data.options.NAME=VALUE`` sets one corpus option (``data.options={...}`` replaces them all).
    """
    key, sep, raw = item.partition("=")
    section, dot, name = key.strip().partition(".")
    if not sep or not dot or section not in SECTIONS:
        raise ConfigError(f"--set {item!r}: expected SECTION.FIELD=VALUE with SECTION one of {list(SECTIONS)}")
    name, _, option = name.partition(".")
    names = {f.name for f in dataclasses.fields(SECTIONS[section])}
    if name not in names:
        raise ConfigError(f"--set {item!r}: {SECTIONS[section].__name__} has no field {name!r}; "
                          f"fields: {sorted(names)}")
    data[section] = dict(data.get(section) or {})
    if option:
        if (section, name) != ("data", "options"):
            raise ConfigError(f"--set {item!r}: only data.options takes a sub-key (data.options.NAME=VALUE)")
        data[section][name] = {**(data[section].get(name) or {}), option: yaml.safe_load(raw)}
    else:
        data[section][name] = yaml.safe_load(raw)
