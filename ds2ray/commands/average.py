"""``ds2ray average``: the element-wise mean of several checkpoints of one run (icefall's ``--avg``)."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("average", help="average the weights of several checkpoints of one model",
                       description="Write the element-wise mean of the given checkpoints' weights (batch-norm "
                                   "statistics included) as a new checkpoint. Late checkpoints of one run average "
                                   "to a model that usually decodes better than any of them; `ds2ray train "
                                   "--average-last N` does this at the end of a run. "
                                   "example: ds2ray average runs/ds2/checkpoint_e003* runs/ds2/checkpoint_e004* "
                                   "--out runs/ds2/avg")
    p.add_argument("checkpoints", nargs="+", metavar="CK", help="checkpoint folders (or model.pt files) of one model")
    p.add_argument("--out", required=True, help="folder to write the averaged checkpoint to")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ds2ray.model.average import average_checkpoints

    path = average_checkpoints(args.checkpoints, args.out)
    print(f"average of {len(args.checkpoints)} checkpoints -> {path}")
    return 0
