"""The experiment folder every stage reads and writes, its skip-if-done rule and its atomic write.

::

    data/manifest.<split>.jsonl   prepare        lm/lm.arpa (or lm.bin)   lm
    data/prepared.json            prepare (its corpus and options)
    mean_std.npz                  mean-std       runs/<run_name>/...      train (Ray Train storage)
    vocab.json                    vocab          train.json               train (marks it done)
    tune/best.json                tune           test/<decoder>.json      test (test/summary.json)

One rule for every stage (:func:`is_done`): a stage whose output exists is skipped unless forced.
One write (:func:`write_json`, :func:`atomic_path`): outputs go to a temp name and are renamed, so a
stage that dies half-way leaves nothing that looks finished.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ds2ray.pipeline.config import RecipeConfig, plain


@dataclass(frozen=True)
class StageResult:
    """What a stage did: one line for the log, and whether it found its work done and skipped it."""

    summary: str
    skipped: bool = False

    def __str__(self) -> str:
        return self.summary


@dataclass(frozen=True)
class Experiment:
    """Paths of one recipe run. ``base``: the folder relative paths in the config resolve against
    (``data.source``, ``lm.texts``; ``jobs/`` passes the repository root)."""

    root: Path
    recipe: RecipeConfig
    base: Path = Path(".")

    @classmethod
    def create(cls, root: str | Path, recipe: RecipeConfig, base: str | Path = ".") -> "Experiment":
        """The experiment at ``root`` (made if missing), with absolute paths."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        return cls(root.resolve(), recipe, Path(base).resolve())

    def manifest(self, split: str) -> Path:
        return self.root / "data" / f"manifest.{split}.jsonl"

    def manifests(self, splits: tuple[str, ...]) -> list[str]:
        return [str(self.manifest(s)) for s in splits]

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def mean_std(self) -> Path:
        return self.root / "mean_std.npz"

    @property
    def vocab(self) -> Path:
        return self.root / "vocab.json"

    @property
    def lm(self) -> Path | None:
        """The recipe's LM, or None when it builds none (``lm.order`` 0)."""
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

    def resolve(self, path: str) -> str:
        """A config path: ``{exp}`` is the experiment folder, URLs and absolute paths stay, any other
        relative path is relative to :attr:`base`."""
        if "{exp}" in path:
            return path.replace("{exp}", str(self.root))
        return path if "://" in path or os.path.isabs(path) else str(self.base / path)

    def checkpoint(self) -> str:
        """The trained checkpoint recorded by the train stage."""
        if not self.train_json.exists():
            raise FileNotFoundError(f"{self.train_json} not found: run the train stage first")
        data = json.loads(self.train_json.read_text())
        if not data.get("checkpoint"):
            raise ValueError(f"{self.train_json}: the train stage recorded no checkpoint")
        return data["checkpoint"]


def is_done(output: Path, force: bool = False) -> bool:
    """The skip rule: a stage whose output exists has finished (``force`` redoes it)."""
    return not force and output.exists()


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp name next to ``path``; rename it to ``path`` only when the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: Path, data: Any) -> None:
    """Atomic JSON write (a temp name, then rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(plain(data), indent=2) + "\n", encoding="utf-8")
