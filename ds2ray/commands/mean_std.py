"""``ds2ray mean-std``: feature mean/std over randomly sampled utterances (seed: compute_mean_std.py)."""

from __future__ import annotations

import argparse
import os

from ds2ray.commands.common import add_feature_args, add_manifest_args, feature_config_from_args, read_manifest_args


def register(sub) -> None:
    p = sub.add_parser("mean-std", help="compute feature mean/std for normalisation (.npz)",
                       description="Sample utterances at random, extract features in parallel processes "
                                   "and save per-feature mean and std with the feature config.")
    add_manifest_args(p)
    add_feature_args(p)
    p.add_argument("--num-samples", "--num_samples", type=int, default=2000,
                   help="utterances to sample (seed: num_samples; 0 = all)")
    p.add_argument("--out", "--output-path", "--output_path", required=True, help="output .npz (seed: output_path)")
    p.add_argument("--num-workers", type=int, default=min(4, os.cpu_count() or 1), help="processes")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ds2ray.data.normalizer import compute_mean_std

    manifest = read_manifest_args(args)
    stats = compute_mean_std(manifest.entries, feature_config_from_args(args), num_samples=args.num_samples,
                             num_workers=args.num_workers, seed=args.seed)
    stats.save(args.out)
    print(f"mean/std over {stats.num_utterances} utterances ({stats.num_frames} frames, "
          f"{stats.num_skipped} skipped), {len(stats.mean)} features -> {args.out}")
    return 0
