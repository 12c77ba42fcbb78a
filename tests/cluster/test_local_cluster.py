"""A real 2-node Ray cluster on this host (``cluster/local.sh up 1``), driven with ``ray job submit``.

One cluster serves the module (each start costs 10-70 s here): a head and one worker node with
1 CPU each, on their own ports and temp dirs, token auth explicitly off. One submitted job runs both
the tiny recipe's training and the scaling profiler (each submission costs a driver start and an
upload of the working dir). It never touches the session Ray of other tests: nothing here calls
``ray.init``, and ``local.sh down`` stops only the processes of its own nodes (never ``ray stop``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
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


def in_turn(parts: dict[str, list[str]]) -> list[str]:
    """One entrypoint that runs each command of ``parts`` in turn, whatever the earlier ones did: it
    prints ``== part NAME`` before each and ``== part NAME exit N`` after, and fails if any failed."""
    lines = [f"echo '== part {name}'; {shlex.join(argv)}; rc=$?; echo \"== part {name} exit $rc\"; "
             f"[ $rc = 0 ] || failed=1" for name, argv in parts.items()]
    return ["bash", "-c", "failed=0\n" + "\n".join(lines) + "\nexit $failed"]


def part_log(log: str, name: str) -> tuple[int, str]:
    """(exit status, output) of part ``name`` of an :func:`in_turn` job's log."""
    found = re.search(rf"^== part {name}\n(.*?)^== part {name} exit (\d+)$", log, re.S | re.M)
    assert found, f"part {name} did not run to its end:\n{log[-4000:]}"
    return int(found.group(2)), found.group(1)


@pytest.fixture(scope="module")
def cluster_job(local_cluster, tmp_path_factory):
    """ONE ``ray job submit`` (each costs a driver start and a working-dir upload) that runs, in turn:
    ``tiny``: the tiny recipe's train stage (2 workers) on data prepared here by its data stages;
    ``profile``: the scaling profiler on 1 and 2 workers."""
    from jobs import data

    exp = tmp_path_factory.mktemp("exp_tiny")
    profile = tmp_path_factory.mktemp("profile")
    config = str(REPO / "jobs" / "tiny" / "config.yaml")
    assert data.main(["--config", config, "--exp-dir", str(exp), "--step", "prepare,mean-std,vocab",
                      "--set", "data.mean_std_samples=20"]) == 0
    parts = {"tiny": ["bash", "jobs/tiny/run.sh", "--stage", "4", "--stop-stage", "4", "--exp-dir", str(exp),
                      "--set", "train.num_workers=2", "--set", "train.epochs=1"],
             "profile": ["python", "-m", "jobs.profile", "--workers", "1,2", "--steps", "4", "--warmup-steps", "1",
                         "--batch-size", "2", "--preset", "tiny", "--out", str(profile)]}
    job_id, proc = submit(local_cluster, in_turn(parts), timeout=600)
    return {"id": job_id, "proc": proc, "exp": exp, "profile": profile}


def test_ray_job_submit_runs_the_tiny_training_to_succeeded(local_cluster, cluster_job):
    from ray.job_submission import JobStatus, JobSubmissionClient

    proc = cluster_job["proc"]
    client = JobSubmissionClient(local_cluster["dashboard"])
    logs = client.get_job_logs(cluster_job["id"])
    code, tiny_log = part_log(logs, "tiny")
    assert code == 0, f"the tiny train stage failed:\n{tiny_log[-4000:]}\n{proc.stderr[-2000:]}"
    assert proc.returncode == 0, f"ray job submit failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    assert client.get_job_status(cluster_job["id"]) == JobStatus.SUCCEEDED
    done = json.loads((cluster_job["exp"] / "train.json").read_text())
    assert done["num_workers"] == 2
    assert done["metrics"]["step"] >= 1
    assert (Path(done["checkpoint"]) / "model.pt").is_file()
    assert "2 worker(s)" in tiny_log


def test_two_worker_training_puts_one_rank_on_each_node(local_cluster, cluster_job):
    """Each training of the job (tiny: 2 workers; profile: 1, then 2) is one worker group in its own
    placement group; each 2-worker group has one rank on the head and one on the worker node."""
    from ray.job_submission import JobSubmissionClient
    from ray.util.state import list_actors, list_nodes

    address = local_cluster["dashboard"]
    assert cluster_job["proc"].returncode == 0, cluster_job["proc"].stdout[-4000:]
    nodes = {n.node_id for n in list_nodes(address=address, filters=[("state", "=", "ALIVE")])}
    assert len(nodes) == 2
    # The cluster is this module's own, and the job its only one: every Ray Train worker on it is the job's.
    workers = list_actors(address=address, detail=True, filters=[("class_name", "=", "RayTrainWorker")])
    drivers = {w.job_id for w in workers}  # jobs.train, then jobs.profile: one Ray job id per driver
    assert len(drivers) == 2 and JobSubmissionClient(address).get_job_info(cluster_job["id"]).job_id in drivers
    groups: dict[str, list] = {}
    for w in workers:
        groups.setdefault(w.placement_group_id, []).append(w)
    where = [(w.job_id, w.placement_group_id, w.node_id) for w in workers]
    assert sorted(len(g) for g in groups.values()) == [1, 2, 2], where
    # One rank on the head, one on the worker node. (Ray Train's own "node_rank" groups ranks by IP,
    # and both nodes here are 127.0.0.1, so only the Ray node ids tell the nodes apart.)
    assert all({w.node_id for w in g} == nodes for g in groups.values() if len(g) == 2), where


def test_profiler_job_measures_one_and_two_workers(cluster_job):
    code, profile_log = part_log(cluster_job["proc"].stdout, "profile")
    assert code == 0, f"profile job failed:\n{profile_log[-4000:]}\n{cluster_job['proc'].stderr[-4000:]}"
    out = cluster_job["profile"]
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
    assert "speedup" in profile_log and "efficiency" in profile_log  # the table, streamed from the job
