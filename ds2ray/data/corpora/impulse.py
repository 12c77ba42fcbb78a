"""``ds2ray prepare impulse --from FOLDER --out MANIFEST``: a manifest of the impulse-response
files under a folder, for the ``impulse`` augmentor (same format and rules as ``prepare noise``).

An impulse response is used as recorded: its first sample is time zero, so leading silence
before the direct-path peak delays the augmented speech by that much.
"""

from __future__ import annotations

import argparse
from functools import partial

from ds2ray.data.corpora.noise import _split, build_audio_list
from ds2ray.data.corpora.noise import add_arguments as _add_arguments

HELP = "manifest of room impulse responses under a folder (for the 'impulse' augmentor)"

add_arguments = partial(_add_arguments, what="impulse-response")


def run(args: argparse.Namespace) -> dict[str, str]:
    report = build_audio_list(args.from_dir, args.out, what="impulse", extensions=_split(args.extensions),
                              min_duration=args.min_duration, max_duration=args.max_duration, force=args.force)
    print(report.summary())
    return {"impulse": args.out}
