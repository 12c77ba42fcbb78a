"""``ds2ray profile``: training throughput and speedup on 1, 2, 4, ... workers (:mod:`ds2ray.profile`)."""

from __future__ import annotations

import argparse

EPILOG = """\
examples:
  ds2ray profile --workers 1,2 --steps 20                       # this machine, 1 thread per worker
  ds2ray profile --workers 1,2,4,8 --steps 50 --use-gpu --out profile_gpu   # a GPU cluster (RAY_ADDRESS)

Each K runs the same training (same model, same per-worker batch of 6-7 s utterances) for --steps
steps; the first --warmup-steps are left out. Speedup is throughput over the smallest K's
throughput per worker; ideal is K. Worker counts the cluster cannot hold are skipped.
Writes OUT/profile.json and OUT/profile.png (bars with the ideal linear line).
"""


def register(sub) -> None:
    p = sub.add_parser("profile", help="scaling profile: throughput and speedup on 1..K training workers",
                       description="Run the same DS2 training on K workers for each K and report throughput "
                                   "(audio seconds trained per second), speedup and efficiency.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``ds2ray profile`` (also ``python -m jobs.profile``'s)."""
    p.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    p.add_argument("--steps", type=int, default=20, help="training steps per worker count, warmup included (20)")
    p.add_argument("--warmup-steps", type=int, default=3, help="first steps left out of the measurement (3)")
    p.add_argument("--batch-size", type=int, default=8, help="utterances per worker and step, fixed for every K (8)")
    p.add_argument("--preset", default="demo", help="model preset (demo, seed, seed-gru, tiny; default demo)")
    p.add_argument("--use-gpu", action="store_true", help="one GPU per worker (NCCL, bf16)")
    p.add_argument("--cpus-per-worker", type=int, default=1, help="CPUs and torch threads per worker (1)")
    p.add_argument("--loader-workers", type=int, default=None,
                   help="DataLoader processes per worker (default 0 on CPU, so K workers use K cores; 2 on GPU)")
    p.add_argument("--manifest", default=None,
                   help="take utterances of --min-duration..--max-duration s from this manifest "
                        "(default: synthesize speech-like audio)")
    p.add_argument("--min-duration", type=float, default=6.0, help="shortest utterance (s; default 6)")
    p.add_argument("--max-duration", type=float, default=7.0, help="longest utterance (s; default 7)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic audio and of training")
    p.add_argument("--out", default="profile_out", help="output folder (default profile_out/)")


def run(args: argparse.Namespace) -> int:
    from ds2ray.profile import ProfileConfig, parse_workers, run_profile

    loader_workers = args.loader_workers if args.loader_workers is not None else (2 if args.use_gpu else 0)
    cfg = ProfileConfig(workers=parse_workers(args.workers), steps=args.steps, warmup_steps=args.warmup_steps,
                        batch_size=args.batch_size, preset=args.preset, use_gpu=args.use_gpu,
                        cpus_per_worker=args.cpus_per_worker, loader_workers=loader_workers,
                        min_duration=args.min_duration, max_duration=args.max_duration, manifest=args.manifest,
                        seed=args.seed)
    report = run_profile(cfg, args.out)
    print()
    print(report.table())
    print(f"\nwrote {args.out}/profile.json and {args.out}/profile.png")
    return 0 if any(p.status == "ok" for p in report.points) else 1
