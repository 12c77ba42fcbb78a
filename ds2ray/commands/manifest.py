"""``ds2ray manifest``: inspect, validate and filter manifests."""

from __future__ import annotations

import argparse

from ds2ray.commands.common import add_manifest_args, read_manifest_args


def register(sub) -> None:
    p = sub.add_parser("manifest", help="summarise, validate or filter manifests",
                       description="Read manifests, print a summary (count, hours, duration range, "
                                   "malformed lines) and optionally write the filtered result.")
    add_manifest_args(p)
    p.add_argument("--check-audio", action="store_true", help="also open every audio file and report failures")
    p.add_argument("--out", default=None, help="write the (filtered) entries to this manifest")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ds2ray.data.audio import AudioError, audio_info
    from ds2ray.data.manifest import write_manifest

    manifest = read_manifest_args(args)
    print(manifest.summary())
    if manifest.entries:
        durs = sorted(e.duration for e in manifest)
        print(f"duration: min {durs[0]:.2f}s, median {durs[len(durs) // 2]:.2f}s, max {durs[-1]:.2f}s")
    bad = 0
    if args.check_audio:
        for e in manifest:
            try:
                audio_info(e.audio_filepath)
            except AudioError as err:
                bad += 1
                print(f"bad audio: {err}")
        print(f"audio check: {len(manifest) - bad} ok, {bad} unreadable")
    if args.out:
        n = write_manifest(args.out, manifest.entries)
        print(f"wrote {n} entries -> {args.out}")
    return 1 if bad else 0
