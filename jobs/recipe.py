"""The command-line glue every ``python -m jobs.<stage>`` shares: ``--config``, ``--exp-dir``,
``--set``, ``--force``, and one stage run with its exit status.

A recipe folder (``jobs/<corpus>/``) holds ``run.sh`` (the stages, icefall style) and
``config.yaml``, whose sections are the dataclasses of :mod:`ds2ray.pipeline.config`. The stages
are the library's (:mod:`ds2ray.pipeline`); relative paths in a config resolve against the
repository root, and the experiment folder defaults to ``exp/<recipe name>``
(:mod:`ds2ray.pipeline.experiment` has its layout).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ds2ray.config import ConfigError
from ds2ray.pipeline.config import RecipeConfig
from ds2ray.pipeline.experiment import Experiment, StageResult

REPO = Path(__file__).resolve().parents[1]


def stage_parser(prog: str, description: str | None, *, force: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m {prog}", description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(REPO / "jobs" / "tiny" / "config.yaml"),
                   help="recipe config.yaml (default jobs/tiny/config.yaml)")
    p.add_argument("--exp-dir", default=None, help="experiment folder (default exp/<recipe name>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                   help="override one config field, e.g. --set train.max_minutes=5 (repeatable; "
                        "data.options.NAME=VALUE sets one corpus option)")
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
    return Experiment.create(root, recipe, base=REPO)


def stage_options() -> dict[str, dict[str, Any]]:
    """Keyword arguments the recipes give library stages: the test stage's reference recognisers."""
    from jobs.references import REFERENCES

    return {"test": {"references": REFERENCES}}


def run_stages(exp: Experiment, stages: Sequence[str], *, force: bool = False,
               options: Mapping[str, Mapping[str, Any]] | None = None,
               extra: Mapping[str, Callable[[Experiment], StageResult | str]] | None = None) -> int:
    """Run library stages (and ``extra`` ones) in order with logging set up: 0, or 2 when one fails."""
    from ds2ray.cli import setup_logging
    from ds2ray.pipeline.runner import run_stages as run

    setup_logging()
    merged = {**stage_options(), **(options or {})}
    return 0 if all(r.ok for r in run(exp, stages, force=force, options=merged, extra=extra)) else 2


def run_stage(name: str, fn: Callable[[], StageResult | str]) -> int:
    """One stage outside the library (e.g. ``jobs.ship``): 0, or 2 when it fails with one line."""
    from ds2ray.cli import setup_logging
    from ds2ray.pipeline.runner import run_stage as run

    setup_logging()
    return 0 if run(name, fn).ok else 2
