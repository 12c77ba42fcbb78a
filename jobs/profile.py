"""Scaling profile as a job: ``ds2ray profile`` (throughput and speedup on 1..K training workers).

    python -m jobs.profile --workers 1,2 --steps 20
    ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml -- \\
        python -m jobs.profile --workers 1,2,4,8 --steps 50 --use-gpu --out /mnt/exp/profile

Every flag is ``ds2ray profile``'s (``python -m jobs.profile --help``). On a cluster
(``RAY_ADDRESS``, set by ``ray job submit``) the K workers spread over its nodes.
"""

from __future__ import annotations

import argparse

from ds2ray.commands import profile as profile_command


def main(argv: list[str] | None = None) -> int:
    from ds2ray.cli import setup_logging

    p = argparse.ArgumentParser(prog="python -m jobs.profile", description=__doc__,
                                epilog=profile_command.EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    profile_command.add_arguments(p)
    args = p.parse_args(argv)
    setup_logging()
    return profile_command.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
