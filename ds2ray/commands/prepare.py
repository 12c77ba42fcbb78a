"""``ds2ray prepare CORPUS``: build manifests for a corpus (see :mod:`ds2ray.data.corpora`)."""

from __future__ import annotations

import argparse
import importlib

from ds2ray.data.corpora import BUILDERS


def register(sub) -> None:
    p = sub.add_parser("prepare", help="build manifests for a corpus (download, extract or synthesize)",
                       description="Build JSON-lines manifests for a corpus. Re-running skips finished work.")
    corpora = p.add_subparsers(dest="corpus", metavar="CORPUS", required=True)
    for name, module_path in BUILDERS.items():
        try:
            module = importlib.import_module(module_path)
        except ModuleNotFoundError as err:
            if err.name != module_path:
                raise
            continue
        cp = corpora.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cp)
        cp.set_defaults(func=_runner(module))


def _runner(module):
    def run(args: argparse.Namespace) -> int:
        manifests = module.run(args)
        for split, path in manifests.items():
            print(f"{split}: {path}")
        return 0

    return run
