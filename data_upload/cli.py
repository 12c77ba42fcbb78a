"""``ds2ray upload``: pack a manifest's audio into tar shards on any fsspec destination (S3 included).

Registered through the ``ds2ray.commands`` entry point (pyproject.toml), so the library never imports
this package. Heavy imports happen inside :func:`run`.
"""

from __future__ import annotations

import argparse
import os

from ds2ray.commands.common import add_manifest_args


def register(sub) -> None:
    p = sub.add_parser(
        "upload", help="pack audio into tar shards on S3/any fsspec URL and write a cloud manifest",
        description="Pack the manifest's audio (bytes unchanged) into WebDataset-style tar shards, upload "
                    "them (multipart, several at once, retried with backoff), verify size and checksum, "
                    "then write DEST/manifest.jsonl (entries point at shard members and load like local "
                    "files), DEST/manifests/shard-*.jsonl and DEST/index.json, in that order, last. "
                    "A re-run skips shards already uploaded and verified. Credentials come from the usual "
                    "AWS environment or profile and are never printed.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_manifest_args(p)
    p.add_argument("--dest", required=True,
                   help="destination folder: s3://bucket/prefix, file:///path or a local folder")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--shard-size", default="256MB",
                      help="target shard size (e.g. 256MB, 1GiB); shards hold whole files, so one may exceed it")
    size.add_argument("--num-shards", type=int, default=None,
                      help="split into exactly N shards of (nearly) equal sample counts instead")
    p.add_argument("--shuffle", action="store_true", help="shuffle the audio files before sharding")
    p.add_argument("--seed", type=int, default=0, help="seed for --shuffle")
    p.add_argument("--endpoint-url", default=None,
                   help="S3-compatible endpoint (default: AWS_ENDPOINT_URL, else AWS S3); readers of the "
                        "cloud manifest need AWS_ENDPOINT_URL set to the same")
    p.add_argument("--profile", default=None, help="AWS profile name (default: AWS_PROFILE / the default chain)")
    p.add_argument("--jobs", type=int, default=4, help="shards packed and uploaded at once")
    p.add_argument("--retries", type=int, default=4, help="retries per shard on transient errors (backoff 0.5 s x 2^n)")
    p.add_argument("--part-size", default="16MiB", help="multipart part size (>= 5MiB); shards of 2 parts or "
                                                        "more upload multipart")
    p.add_argument("--verify", choices=("auto", "etag", "read"), default="auto",
                   help="how to verify each shard after upload: ETag (S3 md5 / multipart md5) or the md5 of a "
                        "full re-read; auto = etag on S3, read elsewhere (always plus the size)")
    p.add_argument("--check", choices=("decode", "header"), default="decode",
                   help="how to test that audio is readable before packing it (unreadable audio is left out "
                        "and counted): decode all of it, or only parse the header")
    p.add_argument("--sha256", action="store_true",
                   help="also compute each shard's sha256 for the index (md5 is always computed and checked)")
    p.add_argument("--limit-rate", default="0", help="cap the average upload rate, bytes/s like 20MB (0 = none)")
    p.add_argument("--work-dir", default=None, help="local folder for shards being packed, for destinations other "
                   "than S3 (S3 shards stream from memory, part by part; default: system temp)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ds2ray.commands.common import read_manifest_args

    from data_upload.plan import parse_size
    from data_upload.upload import UploadConfig, upload_manifest

    manifest = read_manifest_args(args)
    if not manifest.entries:
        raise ValueError(f"{', '.join(args.manifest)}: no usable entries ({manifest.summary()}); "
                         "nothing to upload")
    cfg = UploadConfig(
        dest=args.dest,
        shard_size=None if args.num_shards else parse_size(args.shard_size),
        num_shards=args.num_shards, shuffle=args.shuffle, seed=args.seed,
        endpoint_url=args.endpoint_url, profile=args.profile, jobs=args.jobs, retries=args.retries,
        part_size=parse_size(args.part_size), verify=args.verify, check=args.check, sha256=args.sha256,
        limit_rate=0.0 if args.limit_rate.strip() in ("", "0") else float(parse_size(args.limit_rate)),
        work_dir=os.path.abspath(args.work_dir) if args.work_dir else None,
    )
    report = upload_manifest(manifest.entries, cfg)
    print(report.summary())
    for s in report.skipped[:10]:
        print(f"  left out: {s.source}: {s.reason}")
    if len(report.skipped) > 10:
        print(f"  ... and {len(report.skipped) - 10} more (see {report.index_url})")
    return 0
