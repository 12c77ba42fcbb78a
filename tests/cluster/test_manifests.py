"""The cluster configs parse and carry what their tools require: the AWS launcher YAML against
Ray's own schema, the KubeRay manifests against the CRD's required fields and KubeRay's validation
rules, and every one of them against the recipes and images they name."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import ray
import yaml

from ds2ray.pipeline.config import RecipeConfig

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "cluster"
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def load(name: str):
    return yaml.safe_load((CLUSTER / name).read_text())


# --------------------------------------------------------------------------- AWS cluster launcher


def test_aws_launcher_config_passes_rays_schema_and_names_a_gpu_worker_type():
    from ray.autoscaler._private.util import validate_config

    cfg = load("aws-gpu.yaml")
    validate_config(cfg)  # ray/autoscaler/ray-schema.json plus Ray's own consistency checks
    assert cfg["provider"]["type"] == "aws"
    types = cfg["available_node_types"]
    assert cfg["head_node_type"] in types
    workers = [t for name, t in types.items() if name != cfg["head_node_type"]]
    assert workers and all(re.match(r"^(g|p)\d", t["node_config"]["InstanceType"]) for t in workers)
    assert sum(t["max_workers"] for t in workers) <= cfg["max_workers"]


def test_aws_nodes_reach_s3_through_instance_profiles_not_keys():
    cfg = load("aws-gpu.yaml")
    for name, node_type in cfg["available_node_types"].items():
        node = node_type["node_config"]
        assert node["IamInstanceProfile"]["Arn"].startswith("arn:aws:iam::"), name
        # IMDSv2 with a hop limit the container's processes can reach
        assert node["MetadataOptions"]["HttpPutResponseHopLimit"] >= 2, name
    text = (CLUSTER / "aws-gpu.yaml").read_text()
    assert "AWS_SECRET_ACCESS_KEY" not in text and "aws_secret_access_key" not in text


def test_aws_docker_image_and_auth_mode_are_explicit():
    cfg = load("aws-gpu.yaml")
    assert cfg["docker"]["image"].endswith("-gpu")
    options = " ".join(cfg["docker"]["run_options"])
    assert "RAY_AUTH_MODE=token" in options
    token_path = re.search(r"RAY_AUTH_TOKEN_PATH=(\S+)", options).group(1)
    assert token_path in cfg["file_mounts"]  # the token travels to every node
    assert any("ray start --head" in " ".join(c.split()) for c in cfg["head_start_ray_commands"])
    assert any("$RAY_HEAD_IP:6379" in c for c in cfg["worker_start_ray_commands"])
    assert cfg["setup_commands"], "setup commands check the image and the S3 identity"


# --------------------------------------------------------------------------- KubeRay


def check_pod_template(template: dict, where: str) -> dict:
    containers = template["spec"]["containers"]
    assert containers, f"{where}: at least one container"
    for c in containers:
        assert c.get("name") and c.get("image"), f"{where}: containers need name and image"
    assert template["spec"].get("serviceAccountName") == "ds2ray", f"{where}: S3 access via the ServiceAccount"
    return containers[0]


def check_cluster_spec(spec: dict, where: str) -> dict:
    """KubeRay's RayClusterSpec rules (CRD required fields + ValidateRayClusterSpec)."""
    assert spec["rayVersion"] == ray.__version__, f"{where}: rayVersion must match the image's Ray"
    assert spec.get("authOptions", {}).get("mode") in ("disabled", "token"), f"{where}: auth mode explicit"
    head = check_pod_template(spec["headGroupSpec"]["template"], f"{where} head")
    ports = {p["containerPort"] for p in head.get("ports", [])}
    assert {6379, 8265} <= ports
    assert isinstance(spec["headGroupSpec"].get("rayStartParams", {}), dict)
    groups = spec["workerGroupSpecs"]
    names = [g["groupName"] for g in groups]
    assert len(names) == len(set(names)), f"{where}: worker group names must be unique"
    gpus = 0
    for g in groups:
        assert DNS_1035.match(g["groupName"])
        assert g.get("minReplicas", 0) <= g["replicas"] <= g.get("maxReplicas", g["replicas"]), g["groupName"]
        worker = check_pod_template(g["template"], f"{where} {g['groupName']}")
        limits = worker["resources"]["limits"]
        assert limits == worker["resources"]["requests"], "requests = limits (KubeRay's advice)"
        gpus += int(limits.get("nvidia.com/gpu", 0)) * g["replicas"]
        for param in ("num-cpus", "num-gpus"):  # resources come from the pod, not rayStartParams
            assert param not in g.get("rayStartParams", {})
    assert gpus >= 1, f"{where}: a GPU worker group"
    return {"gpus": gpus, "worker_cpus": min(int(g["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"])
                                             for g in groups)}


def test_raycluster_manifest_has_the_crds_required_fields():
    doc = load("raycluster.yaml")
    assert doc["apiVersion"] == "ray.io/v1" and doc["kind"] == "RayCluster"
    assert DNS_1035.match(doc["metadata"]["name"])
    check_cluster_spec(doc["spec"], "raycluster.yaml")


def test_rayjob_manifest_runs_a_real_recipe_that_fits_its_cluster():
    doc = load("rayjob.yaml")
    assert doc["apiVersion"] == "ray.io/v1" and doc["kind"] == "RayJob"
    spec = doc["spec"]
    assert spec["submissionMode"] in ("K8sJobMode", "HTTPMode", "SidecarMode")
    assert spec["shutdownAfterJobFinishes"] is True
    assert isinstance(yaml.safe_load(spec["runtimeEnvYAML"]), dict)
    sizes = check_cluster_spec(spec["rayClusterSpec"], "rayjob.yaml")
    argv = shlex.split(spec["entrypoint"])
    assert argv[0] == "bash" and argv[1].startswith("/home/ray/ds2ray/")  # the image's copy of the repo
    script = REPO / argv[1].removeprefix("/home/ray/ds2ray/")
    assert script.is_file(), f"entrypoint names {script}, which does not exist"
    overrides = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
    recipe = RecipeConfig.load(script.parent / "config.yaml", overrides)
    assert recipe.train.use_gpu and recipe.train.num_workers <= sizes["gpus"]
    assert recipe.train.cpus_per_worker <= sizes["worker_cpus"], "a rank's CPUs must fit in one worker pod"
    assert recipe.train.storage_path.startswith("s3://")


# --------------------------------------------------------------------------- images, runtime env, local.sh


@pytest.mark.parametrize("kind", ["cpu", "gpu"])
def test_dockerfiles_pin_torch_and_copy_only_what_exists(kind):
    text = (CLUSTER / f"Dockerfile.{kind}").read_text()
    assert re.search(r'pip install [^\n]*"torch==2\.13\.0"', text)
    assert ("download.pytorch.org/whl/cpu" in text) == (kind == "cpu")
    assert f"rayproject/ray:{ray.__version__}-py311-{kind}" in text
    for src in re.findall(r"^COPY --chown=\S+ (.+) \S+$", text, re.M):
        for path in src.split():
            assert (REPO / path).exists(), f"Dockerfile.{kind} copies {path}, which is not in the repository"
    ignore = (CLUSTER / f"Dockerfile.{kind}.dockerignore").read_text().split()
    assert "*" in ignore and "!ds2ray/" in ignore and "!pyproject.toml" in ignore


def test_runtime_env_ships_code_but_not_data():
    from ray._private.runtime_env.packaging import _get_excludes  # what `ray job submit` applies

    env = yaml.safe_load((REPO / "jobs" / "runtime_env.yaml").read_text())
    assert env["working_dir"] == "."
    excluded = _get_excludes(REPO, env["excludes"])
    for path in (".venv/bin/python", "exp/fsdd/runs/x/model.pt", "data/a.flac", "x/y/z.wav", "runs/r/ckpt.pt"):
        assert excluded(REPO / path), path
    for path in ("ds2ray/cli.py", "jobs/train.py", "jobs/fsdd/config.yaml", "jobs/stages.sh", "pyproject.toml"):
        assert not excluded(REPO / path), path


def test_local_sh_is_valid_bash_and_down_is_idempotent(tmp_path):
    assert subprocess.run(["bash", "-n", str(CLUSTER / "local.sh")]).returncode == 0
    helped = subprocess.run(["bash", str(CLUSTER / "local.sh"), "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "up N" in helped.stdout
    for _ in range(2):  # nothing recorded: nothing stopped, success both times
        down = subprocess.run(["bash", str(CLUSTER / "local.sh"), "down", "--state-dir", str(tmp_path / "none")],
                              capture_output=True, text=True)
        assert down.returncode == 0 and "nothing to stop" in down.stdout
    bad = subprocess.run(["bash", str(CLUSTER / "local.sh"), "up", "two"], capture_output=True, text=True)
    assert bad.returncode == 2 and "usage" in bad.stderr
