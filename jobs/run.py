"""Run stages N..M of a recipe in order (what ``jobs/<recipe>/run.sh`` calls; :mod:`ds2ray.pipeline.runner`).

    python -m jobs.run --config jobs/tiny/config.yaml --stage 0 --stop-stage 7 [--exp-dir DIR]
        [--data DIR] [--set SECTION.FIELD=VALUE]... [--force]
"""

from __future__ import annotations

import time

from ds2ray.pipeline.runner import STAGES
from jobs.recipe import load_experiment, run_stages, stage_parser


def main(argv: list[str] | None = None) -> int:
    last = len(STAGES) - 1
    p = stage_parser("jobs.run", __doc__)
    p.add_argument("--stage", type=int, default=0, help=f"first stage (0..{last}; default 0)")
    p.add_argument("--stop-stage", type=int, default=last, help=f"last stage (0..{last}; default {last})")
    p.add_argument("--data", default=None,
                   help="where the corpus is (or is downloaded to); overrides data.source in config.yaml")
    args = p.parse_args(argv)
    if not (0 <= args.stage <= last and 0 <= args.stop_stage <= last):
        p.error(f"--stage/--stop-stage take 0..{last}")
    exp = load_experiment(args, p)
    names = list(STAGES)
    for n in range(args.stage, args.stop_stage + 1):
        print(f"[{time.strftime('%H:%M:%S')}] {exp.recipe.name} stage {n}: {names[n]}", flush=True)
        code = run_stages(exp, [names[n]], force=args.force, options={"prepare": {"source": args.data}})
        if code:
            return code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
