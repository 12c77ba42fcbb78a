"""``bench/train.py``'s CPU accounting (:class:`CpuByRole`): over the window its steps.csv marks, a
busy process is counted with its role, and nothing is counted when the window never opens."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_train", REPO / "bench" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_busy_child_is_counted_over_the_measured_window(tmp_path):
    bench = load_bench()
    csv = tmp_path / "steps.csv"
    sampler = bench.CpuByRole(csv, warmup=1, steps=3, own="train")
    sampler.start()
    csv.write_text("step\n1\n")  # warmup done: the window opens
    time.sleep(0.8)
    child = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 2.5: pass"])
    try:
        time.sleep(2.0)
        csv.write_text("step\n1\n2\n3\n")  # every step logged: the window closes
        time.sleep(0.8)
    finally:
        child.wait()
    cores = sampler.stop()
    assert set(cores) == set(bench.CPU_ROLES)
    assert cores["other"] > 0.3  # the busy loop, about 2 of the ~3 s window on one core
    assert sum(cores.values()) < (os.cpu_count() or 1) + 0.3  # shares of the window's wall time
    assert bench._role("ray::RayTrainWorker", 1, "ray") == "train"
    assert bench._role("pt_data_worker", 1, "ray") == "loader"
    assert bench._role("raylet", 1, "train") == "ray"


def test_window_that_never_opened_gives_nothing(tmp_path):
    bench = load_bench()
    sampler = bench.CpuByRole(tmp_path / "missing.csv", warmup=2, steps=4, own="train")
    sampler.start()
    time.sleep(0.6)
    assert sampler.stop() == {}
