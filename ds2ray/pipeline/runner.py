"""Run a recipe's stages in order, each logged as ``== stage NAME`` and ``== stage NAME done in Ts: ...``.

=====  ========  ===========================================  =============================
stage  name      what                                         function
=====  ========  ===========================================  =============================
0      prepare   manifests                                    :func:`ds2ray.pipeline.data.prepare`
1      mean-std  feature normaliser                           :func:`ds2ray.pipeline.data.mean_std`
2      vocab     character vocabulary                         :func:`ds2ray.pipeline.data.vocab`
3      lm        n-gram LM of the transcripts                 :func:`ds2ray.pipeline.data.lm`
4      train     Ray Train (RAY_ADDRESS or local)             :func:`ds2ray.pipeline.train.train`
5      tune      alpha/beta grid on dev                       :func:`ds2ray.pipeline.tune.tune`
6      test      WER/CER per decoder                          :func:`ds2ray.pipeline.test.test`
7      infer     a few test samples, ref vs hyp               :func:`ds2ray.pipeline.infer.infer`
=====  ========  ===========================================  =============================

A failing stage prints one line (``== stage NAME failed: ...``) on stderr and stops the run
(``DS2RAY_TRACEBACK=1`` raises instead).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from ds2ray.config import ConfigError
from ds2ray.pipeline.data import lm, mean_std, prepare, vocab
from ds2ray.pipeline.experiment import Experiment, StageResult
from ds2ray.pipeline.infer import infer
from ds2ray.pipeline.test import test
from ds2ray.pipeline.train import train
from ds2ray.pipeline.tune import tune

#: stage name -> function(exp, *, force, ...), in recipe order (the index is the stage number).
STAGES: dict[str, Callable[..., StageResult]] = {
    "prepare": prepare,
    "mean-std": mean_std,
    "vocab": vocab,
    "lm": lm,
    "train": train,
    "tune": tune,
    "test": test,
    "infer": infer,
}
#: stages that only print and take no ``force``
NO_FORCE = frozenset({"infer"})
#: errors a stage reports as one line (anything else is a bug and keeps its traceback)
STAGE_ERRORS = (ConfigError, ValueError, FileNotFoundError, RuntimeError)


@dataclass(frozen=True)
class StageRun:
    """One stage as it ran: its name, seconds, the line it reported, whether it succeeded, and
    whether it found its work done."""

    name: str
    seconds: float
    summary: str
    ok: bool = True
    skipped: bool = False


def run_stage(name: str, fn: Callable[[], StageResult | str]) -> StageRun:
    """Run one stage and print what it did; an expected error becomes one line on stderr."""
    t0 = time.time()
    print(f"== stage {name}", flush=True)
    try:
        result = fn()
    except STAGE_ERRORS as err:
        if os.environ.get("DS2RAY_TRACEBACK"):
            raise
        print(f"== stage {name} failed: {err}", file=sys.stderr, flush=True)
        return StageRun(name, time.time() - t0, str(err), ok=False)
    seconds = time.time() - t0
    print(f"== stage {name} done in {seconds:.1f}s: {result}", flush=True)
    return StageRun(name, seconds, str(result), skipped=isinstance(result, StageResult) and result.skipped)


def select(first: int | str = 0, last: int | str = len(STAGES) - 1) -> list[str]:
    """Stage names from ``first`` to ``last`` (numbers or names, both included)."""
    names = list(STAGES)

    def index(stage: int | str) -> int:
        if isinstance(stage, str) and not stage.isdigit():
            if stage not in STAGES:
                raise ValueError(f"unknown stage {stage!r}; stages: {names}")
            return names.index(stage)
        i = int(stage)
        if not 0 <= i < len(names):
            raise ValueError(f"stage numbers are 0..{len(names) - 1}, got {i}")
        return i

    return names[index(first): index(last) + 1]


def run_stages(exp: Experiment, stages: Sequence[str], *, force: bool = False,
               options: Mapping[str, Mapping[str, Any]] | None = None,
               extra: Mapping[str, Callable[[Experiment], StageResult | str]] | None = None) -> list[StageRun]:
    """Run ``stages`` in order, stopping at the first that fails (its :class:`StageRun` is last).

    ``options``: keyword arguments per stage (``{"prepare": {"source": DIR}}``). ``extra``: stages
    outside the library by name (e.g. the demo's ``serve``), called with the experiment.
    """
    options = options or {}
    extra = extra or {}
    runs: list[StageRun] = []
    for name in stages:
        if name in STAGES:
            kwargs = dict(options.get(name, {}))
            if name not in NO_FORCE:
                kwargs["force"] = force
            fn = STAGES[name]
            run = run_stage(name, lambda: fn(exp, **kwargs))
        elif name in extra:
            fn_extra = extra[name]
            run = run_stage(name, lambda: fn_extra(exp))
        else:
            raise ValueError(f"unknown stage {name!r}; stages: {list(STAGES) + list(extra)}")
        runs.append(run)
        if not run.ok:
            break
    return runs
