"""``bench/gpu_check.py`` (``make gpu-check``): its CPU dry run, the same code as on a GPU with tiny
sizes, finishes and records every part, measured or with its error."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PARTS = ("train_demo", "train_seed", "features", "test", "profile", "serve")
MEASURED = {  # a key each part's record has when it measured something
    "train_demo": "audio_s_per_s", "train_seed": "audio_s_per_s", "features": "fbank", "test": "in_process_x_real_time",
    "profile": "points", "serve": "p50_ms"}


@pytest.mark.slow
def test_cpu_dry_run_records_every_part(tmp_path):
    out = tmp_path / "gpu_check.json"
    # its own session: on a timeout the whole group goes, the Ray it started included
    proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "gpu_check.py"), "--dry-run", "--out", str(out),
                             "--fail", "train_seed"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:  # its parts stop within 200 s (DRY.total_s), start-up and Ray's shutdown aside
        log, _ = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        log, _ = proc.communicate()
        parts = "\n".join(re.findall(r"^(?:== \w+ \(budget.*|   \w+: (?:ok|failed|skipped).*)$", log, re.M))
        pytest.fail(f"the dry run took over 300 s; its parts:\n{parts}\nits end:\n{log[-3000:]}")
    assert proc.returncode == 0, log[-3000:]
    result = json.loads(out.read_text())
    assert result["dry_run"] is True and result["device"] == "cpu" and result["peak_bf16_flops"] is None
    assert set(result["parts"]) == set(PARTS)
    for name, rec in result["parts"].items():
        if rec["status"] == "ok":
            assert MEASURED[name] in rec, (name, rec)
        else:
            assert rec["status"] in ("failed", "skipped") and rec["error"], (name, rec)
    # the part told to fail is recorded with its traceback's last line, and the parts after it still ran
    assert result["parts"]["train_seed"]["error"] == "RuntimeError: --fail train_seed: this part fails on purpose"
    demo = result["parts"]["train_demo"]
    assert demo["status"] == "ok" and demo["audio_s_per_s"] > 0 and demo["mfu"] is None and demo["steps"] == 3
    assert demo["stopped"] == "max_steps 4 reached"  # the dry run's step cap, not a time cap, ends it
    assert result["parts"]["features"]["status"] == "ok"
    assert "**CPU dry run**" in log and "| part | what | measured | goal |" in log
