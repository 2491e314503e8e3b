"""A real run on Kubernetes, here: K8sRunLauncher + k8s_job_executor against kmock, steps executed by
the process kubelet, on a PostgreSQL instance built from deploy/instance/dagster.prod.yaml.

What differs from production is only what cannot exist here, and each difference is named below:
the API server (kmock), the node (a subprocess per pod), the run coordinator (Default instead of
Queued: queued runs wait for a daemon) and compute logs (local instead of S3).
"""

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from av_assets.ingest.core import LocalSource, ingest_drive
from av_assets.platform.gpu import GPU_IMAGE_ENV, GPU_NODE_SELECTOR, GPU_TOLERATION
from av_assets.platform.partitions import DRIVES
from av_contracts import tables
from av_resources.env import PROD_ENV_SECRET, PROD_SERVICE_ACCOUNT
from av_resources.k8s_local import LocalKubernetes, validate_strict
from av_resources.lake import LakeStorage
from tests.helpers import REPO_ROOT
from tests.ingest.synth import sensor_drive
from tests.k8s import EKS_VERSION

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(300)]

NAMESPACE = "av-platform"
CODE_IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/av-platform:test"
GPU_IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/av-platform-gpu:test"
LOCATION = REPO_ROOT / "tests" / "k8s" / "k8s_location.py"
DRIVE = "k8s-drive-001"
GPU_STEP, CPU_STEP = "silver__redacted_frames", "bronze__drive_manifest"
PROD_INSTANCE = REPO_ROOT / "deploy" / "instance" / "dagster.prod.yaml"


def _test_instance_config(kubeconfig: Path) -> dict:
    """deploy/instance/dagster.prod.yaml with only what cannot exist here swapped out."""
    cfg = yaml.safe_load(PROD_INSTANCE.read_text())
    assert cfg["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert cfg["run_launcher"]["class"] == "K8sRunLauncher"
    cfg["run_coordinator"] = {"module": "dagster.core.run_coordinator", "class": "DefaultRunCoordinator"}
    cfg.pop("compute_logs")  # S3ComputeLogManager: the local default here
    cfg["concurrency"].pop("runs")  # run-level limits belong to the QueuedRunCoordinator
    launcher = cfg["run_launcher"]["config"]
    launcher.update(load_incluster_config=False, kubeconfig_file=str(kubeconfig), job_image=CODE_IMAGE)
    return cfg


def _secret(env: dict[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": PROD_ENV_SECRET, "namespace": NAMESPACE},
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in env.items()},
    }


def _container(job: dict) -> dict:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container


def _wait_for_run(instance: dg.DagsterInstance, deadline: float) -> dg.DagsterRun:
    finished = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
    while time.monotonic() < deadline:
        runs = instance.get_runs()
        if runs and runs[0].status in finished:
            return runs[0]
        time.sleep(0.5)
    raise TimeoutError(f"run not finished: {[r.status for r in instance.get_runs()]}")


def test_k8s_gpu_and_cpu_steps_run_through_k8s_launcher_and_executor(tmp_path, postgres_server, monkeypatch):
    t0 = time.monotonic()
    home = tmp_path / "dagster_home"
    home.mkdir()
    lake_root = tmp_path / "lake"
    pod_env = {
        "AV_ENV": "prod",
        "AV_LAKE_ROOT": str(lake_root),
        "AV_K8S_NAMESPACE": NAMESPACE,
        "AV_IMAGE": CODE_IMAGE,
        GPU_IMAGE_ENV: GPU_IMAGE,
        "DAGSTER_PG_HOST": postgres_server.host,
        "DAGSTER_PG_PORT": str(postgres_server.port),
        "DAGSTER_PG_USER": postgres_server.user,
        "DAGSTER_PG_PASSWORD": postgres_server.password,
        "DAGSTER_PG_DB": postgres_server.db,
    }
    # The instance is fresh for this test: a database of its own on the shared server.
    db = f"k8s_{os.getpid()}_{int(time.time())}"
    import psycopg2

    conn = psycopg2.connect(postgres_server.url)
    conn.autocommit = True
    conn.cursor().execute(f"CREATE DATABASE {db}")
    conn.close()
    pod_env["DAGSTER_PG_DB"] = db

    with LocalKubernetes(tmp_path / "k8s", namespace=NAMESPACE, dagster_home=home, cwd=REPO_ROOT) as k8s:
        (home / "dagster.yaml").write_text(yaml.safe_dump(_test_instance_config(k8s.kubeconfig)))
        secret = _secret(pod_env)
        validate_strict(secret, EKS_VERSION)
        k8s.apply(secret)

        launch_env = {k: v for k, v in os.environ.items() if not k.startswith(("AV_", "DAGSTER_"))}
        launch_env.update(pod_env, DAGSTER_HOME=str(home))
        for key, value in launch_env.items():
            if key.startswith(("AV_", "DAGSTER_")):
                monkeypatch.setenv(key, value)
        # a real drive in bronze (ingested as `av ingest` does) and its partition on the instance
        ingest_drive(
            LocalSource(sensor_drive(tmp_path / "fleet", DRIVE, n=6)), LakeStorage(root=str(lake_root))
        )
        with dg.DagsterInstance.from_config(str(home)) as setup:
            setup.add_dynamic_partitions(DRIVES.name, [DRIVE])
        launched = subprocess.run(
            [str(Path(sys.executable).parent / "dagster"), "job", "launch", "-f", str(LOCATION), "-j", "k8s_proof_job",
             "--tags", json.dumps({"dagster/partition": DRIVE})],
            env=launch_env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert launched.returncode == 0, launched.stdout + launched.stderr

        instance = dg.DagsterInstance.from_config(str(home))
        try:
            run = _wait_for_run(instance, deadline=t0 + 240)
            assert k8s.kubelet.wait_idle(timeout=60), "a pod did not exit after the run finished"
            logs = k8s.kubelet.all_logs()
            assert not k8s.kubelet.errors, k8s.kubelet.errors
            if run.status != dg.DagsterRunStatus.SUCCESS:
                failures = [
                    e.dagster_event.event_specific_data
                    for e in instance.all_logs(run.run_id)
                    if e.dagster_event and e.dagster_event.is_failure
                ]
                pytest.fail(f"run {run.status}: {failures}\n{logs[-8000:]}")

            # ---- what ran: one run worker, one pod per step, all finished
            created = dict(k8s.kubelet.created_jobs)
            by_component = {}
            for job in created.values():
                by_component.setdefault(job["metadata"]["labels"]["app.kubernetes.io/component"], []).append(
                    job
                )
            assert len(by_component["run_worker"]) == 1
            steps = {j["metadata"]["labels"]["dagster/op"]: j for j in by_component["step_worker"]}
            assert set(steps) == {GPU_STEP, CPU_STEP}
            assert all(r.returncode == 0 for r in k8s.kubelet.runs.values()), logs[-8000:]

            # ---- the run worker: the launcher's service account, image and env secret
            worker = by_component["run_worker"][0]
            spec = worker["spec"]["template"]["spec"]
            assert spec["serviceAccountName"] == PROD_SERVICE_ACCOUNT
            assert _container(worker)["image"] == CODE_IMAGE
            assert {"secretRef": {"name": PROD_ENV_SECRET}} in _container(worker)["envFrom"]
            assert _container(worker)["args"][:3] == ["dagster", "api", "execute_run"]

            # ---- the GPU step asked for a GPU node; the CPU step did not
            gpu, cpu = steps[GPU_STEP], steps[CPU_STEP]
            gpu_spec, gpu_c = gpu["spec"]["template"]["spec"], _container(gpu)
            assert gpu_c["resources"]["requests"]["nvidia.com/gpu"] == "1"
            assert gpu_c["resources"]["limits"]["nvidia.com/gpu"] == "1"
            assert gpu_spec["nodeSelector"] == GPU_NODE_SELECTOR
            assert GPU_TOLERATION in gpu_spec["tolerations"]
            shm = next(v for v in gpu_spec["volumes"] if v["name"] == "dshm")
            assert shm["emptyDir"]["medium"] == "Memory"
            assert {"name": "dshm", "mountPath": "/dev/shm"} in gpu_c["volumeMounts"]
            assert gpu_c["image"] == GPU_IMAGE
            assert gpu["spec"]["template"]["metadata"]["annotations"]["karpenter.sh/do-not-disrupt"] == "true"

            cpu_spec, cpu_c = cpu["spec"]["template"]["spec"], _container(cpu)
            assert "nvidia.com/gpu" not in json.dumps(cpu_c.get("resources", {}))
            assert cpu_spec["nodeSelector"] == {"av-platform/pool": "cpu"}
            assert not any("nvidia" in json.dumps(t) for t in cpu_spec.get("tolerations", []))
            assert cpu_c["image"] == CODE_IMAGE
            assert cpu["spec"]["backoffLimit"] == 0 and cpu["spec"]["ttlSecondsAfterFinished"] == 3600
            for step in (gpu, cpu):
                assert step["spec"]["template"]["spec"]["serviceAccountName"] == PROD_SERVICE_ACCOUNT
                assert {"secretRef": {"name": PROD_ENV_SECRET}} in _container(step)["envFrom"]
                assert {"name": "AV_ENV", "value": "prod"} in _container(step)["env"]

            # ---- the steps really ran in their pods, against this instance and lake
            assert k8s.kubelet.runs[gpu["metadata"]["name"]].pod_name
            for key in (["bronze", "drive_manifest"], ["silver", "redacted_frames"]):
                mat = instance.get_latest_materialization_event(dg.AssetKey(key))
                assert mat is not None and mat.run_id == run.run_id, key
                assert mat.asset_materialization.partition == DRIVE
            redacted = instance.get_latest_materialization_event(dg.AssetKey(["silver", "redacted_frames"]))
            assert redacted.asset_materialization.metadata["av/frames"].value >= 1
            assert (lake_root / tables.REDACTED_FRAMES.rel(drive_id=DRIVE)).exists()
            assert (
                lake_root / tables.REDACTED_FRAMES.sidecar("redaction_report.sig.json", drive_id=DRIVE)
            ).exists()

            # ---- every Job (as dagster created it and as it ended) and every Pod is valid Kubernetes
            final_jobs, pods = k8s.jobs(), k8s.pods()
            assert len(final_jobs) == len(pods) == 3
            for obj in [*created.values(), *final_jobs, *pods]:
                validate_strict(obj, EKS_VERSION)
            assert {p["status"]["phase"] for p in pods} == {"Succeeded"}
            assert all(j["status"]["succeeded"] == 1 for j in final_jobs)
        finally:
            instance.dispose()
    assert time.monotonic() - t0 < 240
