"""``ds2ray curves``: a run's training curves (loss, dev CER/WER over steps and minutes) as a PNG."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("curves", help="plot a training run's loss and dev CER/WER curves (PNG)",
                       description="Read the run's logs/steps.csv and logs/epochs.csv (written by `ds2ray train`) "
                                   "and draw train loss and dev CER/WER against step and against training "
                                   "minutes, in one 2x2 PNG. "
                                   "example: ds2ray curves runs/ds2 --out ds2_curves.png")
    p.add_argument("run_dir", metavar="RUN_DIR",
                   help="the run folder (<storage_path>/<run_name>) or its logs/ folder (local)")
    p.add_argument("--out", default=None, help="PNG to write (default: RUN_DIR/curves.png)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ds2ray.train.curves import plot_training_curves

    path = plot_training_curves(args.run_dir, args.out)
    print(f"training curves -> {path}")
    return 0
