"""CPU pinning of training ranks: which cores each rank takes, and that a process really is pinned
(checked in a child process, so this test process keeps all its cores)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ds2ray.train.affinity import rank_cores


def test_each_rank_takes_its_own_block_of_cores():
    assert rank_cores([0, 1], 0, 2, 1) == [0]
    assert rank_cores([0, 1], 1, 2, 1) == [1]
    assert rank_cores([4, 2, 6, 8], 1, 2, 2) == [6, 8]  # in core order, whatever order they came in
    assert rank_cores([0, 1, 2], 0, 1, 2) == [0, 1]


def test_too_few_cores_pins_nothing():
    assert rank_cores([0, 1], 0, 2, 2) is None
    assert rank_cores([0], 0, 2, 1) is None
    assert rank_cores([0, 1], 2, 2, 1) is None  # not a rank of this node


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs Linux and at least 2 usable cores")
def test_pin_rank_pins_every_thread_and_the_children():
    code = """
import json, os, subprocess, sys, threading
started = threading.Event()
worker = threading.Thread(target=started.wait, daemon=True)
worker.start()  # a thread that exists before pinning is pinned too
from ds2ray.train.affinity import pin_rank
msg = pin_rank(1, 2, 1)
tasks = {int(t): sorted(os.sched_getaffinity(int(t))) for t in os.listdir("/proc/self/task")}
child = subprocess.run([sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
                       capture_output=True, text=True, check=True).stdout.strip()
started.set()
print(json.dumps({"msg": msg, "tasks": list(tasks.values()), "child": child}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    second = sorted(os.sched_getaffinity(0))[1]
    assert got["msg"] == f"CPU pinning: local rank 1 on core(s) {second}"
    assert len(got["tasks"]) >= 2 and all(cores == [second] for cores in got["tasks"])
    assert got["child"] == f"[{second}]"
    assert len(os.sched_getaffinity(0)) >= 2  # this process is untouched


def test_pin_rank_refuses_when_the_node_is_too_small():
    from ds2ray.train.affinity import pin_rank

    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    msg = pin_rank(0, 1000, 1)
    assert "not pinned" in msg
    if before is not None:
        assert os.sched_getaffinity(0) == before
