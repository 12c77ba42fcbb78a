"""The ``ds2ray`` console script: one entry point, thin subcommands.

Each subcommand lives in a module with ``register(subparsers)``; modules import only argparse at
top level, so ``ds2ray --help`` stays fast. Packages outside the library (``serve``,
``data_upload``) add their subcommands through the ``ds2ray.commands`` entry-point group, so the
library never imports them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from importlib.metadata import entry_points

#: subcommand name -> module with ``register(subparsers)``, in the order --help lists them.
COMMANDS: dict[str, str] = {
    "prepare": "ds2ray.commands.prepare",
    "vocab": "ds2ray.commands.vocab",
    "mean-std": "ds2ray.commands.mean_std",
    "manifest": "ds2ray.commands.manifest",
    "train": "ds2ray.commands.train",
    "curves": "ds2ray.commands.curves",
    "average": "ds2ray.commands.average",
    "lm": "ds2ray.commands.lm",
    "test": "ds2ray.commands.test",
    "infer": "ds2ray.commands.infer",
    "tune": "ds2ray.commands.tune",
    "pretrained": "ds2ray.commands.pretrained",
    "augment": "ds2ray.commands.augment",
    "profile": "ds2ray.commands.profile",
    "export": "ds2ray.commands.export",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ds2ray",
        description="DeepSpeech2 speech recognition on Ray: prepare data, train, decode, tune, serve.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS.values():
        importlib.import_module(module).register(sub)
    for ep in sorted(entry_points(group="ds2ray.commands"), key=lambda e: e.name):
        if ep.name not in COMMANDS:
            ep.load()(sub)
    return parser


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        if args.verbose or os.environ.get("DS2RAY_TRACEBACK"):
            raise
        print(f"ds2ray {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
