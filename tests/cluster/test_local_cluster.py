"""A real 2-node Ray cluster on this host (``cluster/local.sh up 1``), driven with ``ray job submit``.

One cluster serves the module (each start costs 10-70 s here): a head and one worker node with
1 CPU each, on their own ports and temp dirs, token auth explicitly off. It never touches the
session Ray of other tests: nothing here calls ``ray.init``, and ``local.sh down`` stops only the
processes of its own nodes (never ``ray stop``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOCAL_SH = REPO / "cluster" / "local.sh"
RAY = str(Path(sys.executable).with_name("ray"))

pytestmark = pytest.mark.slow


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port_block() -> int:
    """A base B with B..B+9 and B+1000..B+1009 free, below the ephemeral range (see local.sh)."""
    import random

    for base in random.sample(range(21000, 31000, 2000), 5):
        if all(_free(base + d) for d in [*range(10), *range(1000, 1010)]):
            return base
    pytest.skip("no free port block for a local Ray cluster")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_ADDRESS")}
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1")
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return env


def _sessions(state: Path) -> list[int]:
    return [int(p.read_text()) for p in sorted(state.glob("node*.sid"))]


def _live_pids(sid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,sid=,stat="], capture_output=True, text=True, check=True).stdout
    return [int(f[0]) for f in (line.split() for line in out.splitlines()) if int(f[1]) == sid and not f[2].startswith("Z")]


@pytest.fixture(scope="module")
def local_cluster():
    base = _port_block()
    state = Path(tempfile.mkdtemp(prefix="ds2l", dir="/tmp"))  # short: Ray's socket paths live below it
    gcs, dash = base + 8, base + 9
    env = _env()
    up = subprocess.run(["bash", str(LOCAL_SH), "up", "1", "--port", str(gcs), "--dashboard-port", str(dash),
                         "--port-base", str(base), "--state-dir", str(state), "--auth", "disabled"],
                        env=env, capture_output=True, text=True, timeout=240)
    sessions = _sessions(state)
    try:
        assert up.returncode == 0, f"local.sh up failed:\n{up.stdout}\n{up.stderr}"
        assert len(sessions) == 2, f"expected 2 node sessions, got {sessions}"
        yield {"dashboard": f"http://127.0.0.1:{dash}", "gcs": f"127.0.0.1:{gcs}", "env": env, "state": state,
               "sessions": sessions}
    finally:
        down = subprocess.run(["bash", str(LOCAL_SH), "down", "--state-dir", str(state)], env=env,
                              capture_output=True, text=True, timeout=120)
        left = {sid: _live_pids(sid) for sid in sessions}
        shutil.rmtree(state, ignore_errors=True)
        assert down.returncode == 0, down.stderr
        assert not any(left.values()), f"processes left after local.sh down: {left}"


def submit(cluster, entrypoint: list[str], timeout: int = 300) -> tuple[str, subprocess.CompletedProcess]:
    job_id = f"test-{uuid.uuid4().hex[:8]}"
    cmd = [RAY, "job", "submit", "--address", cluster["dashboard"], "--submission-id", job_id,
           "--working-dir", str(REPO), "--runtime-env", str(REPO / "jobs" / "runtime_env.yaml"), "--", *entrypoint]
    proc = subprocess.run(cmd, cwd=REPO, env=cluster["env"], capture_output=True, text=True, timeout=timeout)
    return job_id, proc


@pytest.fixture(scope="module")
def tiny_job(local_cluster, tmp_path_factory):
    """The tiny recipe: data stages here, then its train stage (2 workers) as a submitted job."""
    from jobs import data

    exp = tmp_path_factory.mktemp("exp_tiny")
    config = str(REPO / "jobs" / "tiny" / "config.yaml")
    assert data.main(["--config", config, "--exp-dir", str(exp), "--step", "prepare,mean-std,vocab",
                      "--set", "data.mean_std_samples=20"]) == 0
    job_id, proc = submit(local_cluster, ["bash", "jobs/tiny/run.sh", "--stage", "4", "--stop-stage", "4",
                                          "--exp-dir", str(exp), "--set", "train.num_workers=2",
                                          "--set", "train.epochs=1"])
    return {"id": job_id, "proc": proc, "exp": exp}


def test_ray_job_submit_runs_the_tiny_training_to_succeeded(local_cluster, tiny_job):
    from ray.job_submission import JobStatus, JobSubmissionClient

    proc = tiny_job["proc"]
    assert proc.returncode == 0, f"ray job submit failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    client = JobSubmissionClient(local_cluster["dashboard"])
    assert client.get_job_status(tiny_job["id"]) == JobStatus.SUCCEEDED
    done = json.loads((tiny_job["exp"] / "train.json").read_text())
    assert done["num_workers"] == 2
    assert done["metrics"]["step"] >= 1
    assert (Path(done["checkpoint"]) / "model.pt").is_file()
    assert "2 worker(s)" in client.get_job_logs(tiny_job["id"])


def test_two_worker_training_puts_one_rank_on_each_node(local_cluster, tiny_job):
    from ray.job_submission import JobSubmissionClient
    from ray.util.state import list_actors, list_nodes

    assert tiny_job["proc"].returncode == 0, tiny_job["proc"].stdout[-4000:]
    ray_job_id = JobSubmissionClient(local_cluster["dashboard"]).get_job_info(tiny_job["id"]).job_id
    nodes = {n.node_id for n in list_nodes(address=local_cluster["dashboard"], filters=[("state", "=", "ALIVE")])}
    assert len(nodes) == 2
    workers = list_actors(address=local_cluster["dashboard"], detail=True,
                          filters=[("class_name", "=", "RayTrainWorker"), ("job_id", "=", ray_job_id)])
    assert len(workers) == 2, [(w.class_name, w.node_id) for w in workers]
    # One rank on the head, one on the worker node. (Ray Train's own "node_rank" groups ranks by IP,
    # and both nodes here are 127.0.0.1, so only the Ray node ids tell the nodes apart.)
    assert {w.node_id for w in workers} == nodes


def test_profiler_job_measures_one_and_two_workers(local_cluster, tmp_path):
    out = tmp_path / "profile"
    job_id, proc = submit(local_cluster, ["python", "-m", "jobs.profile", "--workers", "1,2", "--steps", "4",
                                          "--warmup-steps", "1", "--batch-size", "2", "--preset", "tiny",
                                          "--out", str(out)])
    assert proc.returncode == 0, f"profile job failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    report = json.loads((out / "profile.json").read_text())
    points = {p["workers"]: p for p in report["points"]}
    assert set(points) == {1, 2} and all(p["status"] == "ok" for p in points.values())
    assert points[1]["speedup"] == pytest.approx(1.0)
    for p in points.values():
        assert p["measured_steps"] == 3 and p["audio_s_per_s"] > 0 and p["step_time_s"] > 0
        # audio per step: K workers x 2 utterances of 6-7 s
        audio_per_step = p["audio_s_per_s"] * p["step_time_s"]
        assert 2 * p["workers"] * 6.0 * 0.9 <= audio_per_step <= 2 * p["workers"] * 7.0 * 1.1
    assert points[2]["speedup"] == pytest.approx(points[2]["audio_s_per_s"] / points[1]["audio_s_per_s"])
    assert report["machine"]["ray_cluster"]["nodes"] == 2
    assert (out / "profile.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "speedup" in proc.stdout and "efficiency" in proc.stdout  # the table, streamed from the job
