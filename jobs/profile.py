"""Scaling profile as a job: ``ds2ray profile`` (throughput and speedup on 1..K training workers).

    python -m jobs.profile --workers 1,2 --steps 20
    ray job submit --working-dir . --runtime-env jobs/runtime_env.yaml -- \\
        python -m jobs.profile --workers 1,2,4,8 --steps 50 --use-gpu --out /mnt/exp/profile

Every flag is ``ds2ray profile``'s (``python -m jobs.profile --help``). On a cluster
(``RAY_ADDRESS``, set by ``ray job submit``) the K workers spread over its nodes.
"""

from __future__ import annotations

import sys

from jobs.recipe import ds2ray_cli


def main(argv: list[str] | None = None) -> int:
    from ds2ray.cli import setup_logging

    setup_logging()
    argv = list(sys.argv[1:] if argv is None else argv)
    return ds2ray_cli(["profile", *argv])


if __name__ == "__main__":
    raise SystemExit(main())
