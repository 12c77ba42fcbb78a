"""Recipes: a ``config.yaml`` of serialized dataclasses per corpus, an experiment folder, and the
flags every stage entry point shares.

A recipe folder (``jobs/<corpus>/``) holds ``run.sh`` (the stages, icefall style) and
``config.yaml``, whose sections are the ``to_dict()`` of one dataclass each:

==========  ==============================================  ========================
section     dataclass                                       used by
==========  ==============================================  ========================
data        :class:`DataConfig`                             ``jobs.data``
features    :class:`ds2ray.data.features.FeatureConfig`     ``jobs.data``, ``jobs.train``
model       :class:`ds2ray.model.config.ModelConfig`        ``jobs.train``
train       :class:`ds2ray.train.config.TrainConfig`        ``jobs.train``
lm          :class:`LMConfig`                               ``jobs.data``
decoder     :class:`ds2ray.decode.base.DecoderConfig`       ``jobs.tune``, ``jobs.test``, ``jobs.infer``
tune        :class:`TuneGridConfig`                         ``jobs.tune``
test        :class:`TestConfig`                             ``jobs.test``, ``jobs.infer``
==========  ==============================================  ========================

Every stage reads and writes one experiment folder (``--exp-dir``, default ``exp/<name>``)::

    data/manifest.<split>.jsonl   data: prepare        lm/lm.arpa (or .bin)     data: lm
    mean_std.npz                  data: mean-std       runs/<run_name>/...      train (Ray Train storage)
    vocab.json                    data: vocab          train.json               train (marks it done)
    tune/best.json                tune                 test/<decoder>.json      test

A stage whose output exists is skipped (``--force`` redoes it); outputs are written to temp names
and renamed, so a stage that dies half-way leaves nothing that looks finished.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from ds2ray.config import ConfigBase, ConfigError
from ds2ray.data.features import FeatureConfig
from ds2ray.decode.base import DecoderConfig
from ds2ray.model.config import ModelConfig
from ds2ray.train.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class DataConfig(ConfigBase):
    """Where a recipe's manifests come from and how the data-derived files are built.

    ``corpus``: a ``ds2ray prepare`` builder (synth, librispeech, aishell, voxforge, an4, folder)
    or a builder of ``jobs.data`` (``fsdd``). ``args``: its extra flags. ``source``: where the
    corpus lives or is downloaded to, passed as ``source_flag`` (relative paths resolve against
    the repository root; ``--data DIR`` overrides it). ``train``/``dev``/``test``: the split
    names whose ``manifest.<split>.jsonl`` each stage uses.
    """

    corpus: str = "synth"
    args: tuple[str, ...] = ()
    source: str | None = None
    source_flag: str = "--data-dir"
    train: tuple[str, ...] = ("train",)
    dev: tuple[str, ...] = ("dev",)
    test: tuple[str, ...] = ("test",)
    language: str = "en"
    mean_std_samples: int = 1000
    vocab_count_threshold: int = 0

    def __post_init__(self) -> None:
        for name in ("args", "train", "dev", "test"):
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
    texts: tuple[str, ...] = ()  # plus these text files (repository-relative; "{exp}/..." = in the experiment)
    binary: bool = False  # a KenLM binary instead of an ARPA file
    quantize: bool = False  # with binary: the seed's quantised trie (-a 22 -q 8 -b 8), ~3x smaller than probing

    def __post_init__(self) -> None:
        object.__setattr__(self, "splits", tuple(self.splits))
        object.__setattr__(self, "texts", tuple(self.texts))
        if self.order < 0 or self.order == 1:
            raise ConfigError(f"LMConfig.order must be 0 (no LM) or >= 2, got {self.order}")


@dataclass(frozen=True)
class TuneGridConfig(ConfigBase):
    """The (alpha, beta) grid of ``ds2ray tune`` on the dev splits (the seed's defaults)."""

    alpha_from: float = 1.0
    alpha_to: float = 3.2
    num_alphas: int = 45
    beta_from: float = 0.1
    beta_to: float = 0.45
    num_betas: int = 8
    num_batches: int = 0  # 0: the whole dev set


@dataclass(frozen=True)
class TestConfig(ConfigBase):
    """Evaluation: which decoders ``jobs.test`` runs, the headline rate, the acoustic workers."""

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
SECTIONS: dict[str, type] = {
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
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except FileNotFoundError as err:
            raise FileNotFoundError(f"recipe config {path} not found") from err
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({err})") from err
        for item in overrides or []:
            apply_override(data, item)
        return cls.from_dict(data, source=str(path))

    def save(self, path: str | Path, header: str = "") -> None:
        """Write as YAML: sections as blocks, lists inline; ``header`` (comment lines) first."""
        text = yaml.dump(plain(self.to_dict()), Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True)
        Path(path).write_text(header + text, encoding="utf-8")


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
    """``train.max_minutes=1`` -> data["train"]["max_minutes"] = 1 (the value is parsed as YAML)."""
    key, sep, raw = item.partition("=")
    section, dot, field = key.strip().partition(".")
    if not sep or not dot or section not in SECTIONS:
        raise ConfigError(f"--set {item!r}: expected SECTION.FIELD=VALUE with SECTION one of {list(SECTIONS)}")
    names = {f.name for f in dataclasses.fields(SECTIONS[section])}
    if field not in names:
        raise ConfigError(f"--set {item!r}: {SECTIONS[section].__name__} has no field {field!r}; "
                          f"fields: {sorted(names)}")
    data.setdefault(section, {})
    data[section] = dict(data[section] or {})
    data[section][field] = yaml.safe_load(raw)


# ---------------------------------------------------------------------------------------------
# the experiment folder


@dataclass(frozen=True)
class Experiment:
    """Paths of one recipe run (see the module docstring for the layout)."""

    root: Path
    recipe: RecipeConfig

    def manifest(self, split: str) -> Path:
        return self.root / "data" / f"manifest.{split}.jsonl"

    def manifests(self, splits: tuple[str, ...]) -> list[str]:
        return [str(self.manifest(s)) for s in splits]

    @property
    def mean_std(self) -> Path:
        return self.root / "mean_std.npz"

    @property
    def vocab(self) -> Path:
        return self.root / "vocab.json"

    @property
    def lm(self) -> Path | None:
        if self.recipe.lm.order == 0:
            return None
        return self.root / "lm" / ("lm.bin" if self.recipe.lm.binary else "lm.arpa")

    @property
    def storage_path(self) -> str:
        """Ray Train storage: ``train.storage_path`` if absolute or a URL, else under the experiment."""
        path = self.recipe.train.storage_path
        if "://" in path or os.path.isabs(path):
            return path
        return str(self.root / path)

    @property
    def train_json(self) -> Path:
        return self.root / "train.json"

    @property
    def tune_dir(self) -> Path:
        return self.root / "tune"

    @property
    def best_json(self) -> Path:
        return self.tune_dir / "best.json"

    @property
    def test_dir(self) -> Path:
        return self.root / "test"

    def checkpoint(self) -> str:
        """The trained checkpoint recorded by the train stage."""
        if not self.train_json.exists():
            raise FileNotFoundError(f"{self.train_json} not found: run the train stage first "
                                    f"(python -m jobs.train --config ... --exp-dir {self.root})")
        data = json.loads(self.train_json.read_text())
        if not data.get("checkpoint"):
            raise ValueError(f"{self.train_json}: the train stage recorded no checkpoint")
        return data["checkpoint"]


def write_json(path: Path, data: Any) -> None:
    """Atomic JSON write (a temp name, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(plain(data), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def resolve_repo_path(path: str) -> str:
    """A relative path in config.yaml means relative to the repository root."""
    return path if "://" in path or os.path.isabs(path) else str(REPO / path)


# ---------------------------------------------------------------------------------------------
# the flags every stage shares


def stage_parser(prog: str, description: str, *, force: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m {prog}", description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(REPO / "jobs" / "tiny" / "config.yaml"),
                   help="recipe config.yaml (default jobs/tiny/config.yaml)")
    p.add_argument("--exp-dir", default=None, help="experiment folder (default exp/<recipe name>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                   help="override one config field, e.g. --set train.max_minutes=5 (repeatable)")
    if force:
        p.add_argument("--force", action="store_true", help="redo the stage even if its output exists")
    return p


def load_experiment(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> Experiment:
    """The recipe (config + ``--set``) and its experiment folder; with ``parser``, a bad config or
    override exits with a usage error (status 2) instead of a traceback."""
    try:
        recipe = RecipeConfig.load(args.config, args.overrides)
    except (ConfigError, FileNotFoundError) as err:
        if parser is None:
            raise
        parser.error(str(err))
    root = Path(args.exp_dir) if args.exp_dir else Path("exp") / recipe.name
    root.mkdir(parents=True, exist_ok=True)
    return Experiment(root.resolve(), recipe)


def run_stage(name: str, fn: Callable[[], str]) -> int:
    """Run one stage, print what it did; errors become one line on stderr and exit status 2."""
    import sys
    import time

    from ds2ray.cli import setup_logging

    setup_logging()
    t0 = time.time()
    print(f"== stage {name}", flush=True)
    try:
        result = fn()
    except (ConfigError, ValueError, FileNotFoundError, RuntimeError) as err:
        if os.environ.get("DS2RAY_TRACEBACK"):
            raise
        print(f"== stage {name} failed: {err}", file=sys.stderr, flush=True)
        return 2
    print(f"== stage {name} done in {time.time() - t0:.1f}s: {result}", flush=True)
    return 0


def ds2ray_cli(argv: list[str]) -> int:
    """Run a ``ds2ray`` subcommand in this process (the same code as the console script)."""
    from ds2ray.cli import build_parser

    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
